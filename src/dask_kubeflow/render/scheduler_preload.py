"""Scheduler preload shipped inline with every rendered DaskCluster (the text of this file).

The upstream operator asks the scheduler every 5 s how many workers it wants (``adaptive_target``,
over HTTP at ``/api/v1/adaptive_target``, else over the Dask RPC) and retires workers through
``/api/v1/retire_workers``. Two gaps are closed here, inside the scheduler, because the image is
plain Dask (dask_kubeflow is not installed in it; this file must import only dask/distributed):

1. ``--dashboard-prefix`` moves the HTTP API under the prefix, but the operator calls it at the
   root. The API routes are mounted at the root too, so the operator's HTTP calls succeed.
2. ``adaptive_target`` asks to drop idle workers at once. The policy's ``scaling.idleAfter`` says
   how long the cluster must have been idle first: until then the current worker count is
   reported. The scheduler itself never shuts down (no ``idle_timeout``).

Settings come from the environment of the scheduler container: ``DASK_KUBEFLOW_IDLE_AFTER_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import time

IDLE_AFTER_ENV = "DASK_KUBEFLOW_IDLE_AFTER_SECONDS"

logger = logging.getLogger("distributed.scheduler.dask_kubeflow")


class IdleAwareTarget:
    """``adaptive_target`` that keeps workers until the scheduler has been idle ``idle_after`` s."""

    def __init__(self, scheduler, idle_after: float, clock=time.monotonic):
        self.scheduler = scheduler
        self.idle_after = idle_after
        self.clock = clock
        self.original = scheduler.adaptive_target
        self.seen_transitions = scheduler.transition_counter
        self.busy_at = clock()
        self.__name__ = "adaptive_target"  # the RPC server logs handlers by name

    def busy(self) -> bool:
        """Work happened since the last call, or is waiting or running now."""
        s = self.scheduler
        moved = s.transition_counter != self.seen_transitions
        self.seen_transitions = s.transition_counter
        return bool(moved or s.queued or s.unrunnable or any(ws.processing for ws in s.workers.values()))

    def __call__(self, target_duration=None) -> int:
        target = self.original(target_duration)
        now = self.clock()
        if self.busy():
            self.busy_at = now
        current = len(self.scheduler.workers)
        if target < current and now - self.busy_at < self.idle_after:
            return current
        return target


def dask_setup(scheduler) -> None:
    from distributed.http.utils import get_handlers

    idle_after = float(os.environ.get(IDLE_AFTER_ENV) or 0)
    target = IdleAwareTarget(scheduler, idle_after)
    scheduler.adaptive_target = target
    scheduler.handlers["adaptive_target"] = target
    application = getattr(scheduler, "http_application", None)
    if application is not None:
        application.add_handlers(r".*$", get_handlers(scheduler, ["distributed.http.scheduler.api"], prefix="/"))
    logger.info("dask-kubeflow: workers are kept until the cluster has been idle for %.0f s; "
                "HTTP API mounted at /api/v1 for the operator", idle_after)
