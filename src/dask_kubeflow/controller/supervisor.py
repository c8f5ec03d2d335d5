"""One supervised task model for the controller's long-running loops (policy watch, informer, workers,
resync): a loop that ends or raises is logged with its traceback, reported as an Event and in
``/readyz`` (not ready while it is down), and started again after a ``kube.retry`` back-off. A loop
that ran for a while before it failed starts again from the shortest delay.

Nothing dies silently: before this, an exception other than the ones a loop expected ended its task
and nobody noticed (the policy watch stopped applying edits, ``/readyz`` stayed 200).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..kube.retry import Backoff
from . import metrics

__all__ = ["Supervisor"]

log = logging.getLogger("dask_kubeflow.controller")

Loop = Callable[[], Awaitable[None]]
Notify = Callable[[str, str], Awaitable[None]]  # (task name, what happened) -> post an Event


@dataclass
class _Task:
    name: str
    loop: Loop
    backoff: Backoff
    down: str | None = None  # why the task is not running, while it waits to start again
    restarts: int = 0
    task: asyncio.Task[None] | None = None


class Supervisor:
    """Runs named loops forever; ``why_down()`` is the readiness answer for all of them."""

    def __init__(self, notify: Notify | None = None, *, healthy_after: float = 60.0,
                 backoff: Callable[[], Backoff] = lambda: Backoff(initial=1.0, maximum=60.0)) -> None:
        self._tasks: dict[str, _Task] = {}
        self._notify = notify
        self._healthy_after = healthy_after
        self._backoff = backoff

    def start(self, name: str, loop: Loop) -> None:
        entry = _Task(name, loop, self._backoff())
        self._tasks[name] = entry
        entry.task = asyncio.create_task(self._run(entry), name=name)

    def why_down(self) -> str | None:
        down = [f"{t.name}: {t.down}" for t in self._tasks.values() if t.down]
        return "; ".join(down) if down else None

    def restarts(self, name: str) -> int:
        return self._tasks[name].restarts

    async def stop(self) -> None:
        tasks = [t.task for t in self._tasks.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, entry: _Task) -> None:
        while True:
            started = time.monotonic()
            try:
                await entry.loop()
                problem = "ended although it should run for as long as the controller"
                log.error("controller task %s %s", entry.name, problem)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # anything: the task model is what catches what the loop did not
                problem = f"failed: {type(err).__name__}: {err}"
                log.exception("controller task %s %s", entry.name, problem)
            if time.monotonic() - started >= self._healthy_after:
                entry.backoff.reset()
            delay = entry.backoff.next()
            entry.down = f"{problem} (restart {entry.restarts + 1} in {delay:.0f}s)"
            metrics.ERRORS.labels(reason=f"task-{entry.name}").inc()
            await self._post(entry.name, f"controller task {entry.name} {problem}; restarting it in {delay:.0f}s. "
                                         f"Look at the controller's log for the traceback.")
            await asyncio.sleep(delay)
            entry.restarts += 1
            entry.down = None
            log.info("controller task %s restarted (restart %d)", entry.name, entry.restarts)

    async def _post(self, name: str, message: str) -> None:
        if self._notify is None:
            return
        try:
            await self._notify(name, message)
        except Exception:  # an Event is a notice; failing to post it must not stop the restart
            log.warning("could not post an Event about controller task %s", name, exc_info=True)
