"""Time the user's function on a sample: serially, in N threads, and in N processes; probe the GIL.

How much of the time the function holds the GIL is measured directly by a probe: a second thread
that needs the GIL only for a few bytecodes at a time and hands it back at once (``time.sleep(0)``).
Its own scheduler statistics (Linux ``/proc/thread-self/schedstat``) split its time into running,
waiting for a CPU (a busy machine, not the GIL's doing) and blocked. It is blocked briefly in each
``sleep(0)``, and for as long as the function holds the GIL. Compared with the same probe run alone,
the share of its time it still gets to run is the share of the time the function leaves the GIL
free; waiting for a CPU is left out, so a busy machine does not skew it. (Without those statistics,
on macOS or Windows, the probe's CPU share is compared instead, which a busy machine does skew.)

Serial time is the mean of two passes, one before and one after the parallel ones, so a machine
that gets busier meanwhile hits all alike. The threaded pass runs on N started threads; the process
pass on N started processes (spawned, the function shipped by value with cloudpickle, so a
function defined in a notebook works too) that have each run it once: start-up and imports are not
counted, moving arguments and results between processes is, as between Dask workers.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..client.local import machine_cores


@dataclass(frozen=True)
class Measurement:
    items: int
    workers: int  # N, for both the threaded and the process pass
    serial_s: float
    cpu_s: float  # CPU time of a serial pass (this thread only)
    threads_s: float
    processes_s: float | None  # None when the function or the sample cannot be sent to a process
    processes_error: str = ""
    serial_blocked: float | None = None  # share of the serial pass spent blocked (I/O, sleeps)
    cpu_wait: float = 0.0  # share of the serial pass spent waiting for a CPU: how busy the machine was
    probe: float = 1.0  # share of its time the GIL probe ran beside the function...
    probe_alone: float = 1.0  # ... and alone

    @property
    def threads_speedup(self) -> float:
        return self.serial_s / self.threads_s if self.threads_s > 0 else float(self.workers)

    @property
    def processes_speedup(self) -> float | None:
        if self.processes_s is None:
            return None
        return self.serial_s / self.processes_s if self.processes_s > 0 else float(self.workers)

    @property
    def cpu_share(self) -> float:
        """Share of the serial pass's active time spent on a CPU (near 0: it waits on I/O or sleeps)."""
        if self.serial_blocked is not None:
            return max(0.0, 1.0 - self.serial_blocked)
        return min(1.0, self.cpu_s / self.serial_s) if self.serial_s > 0 else 1.0

    @property
    def seconds_per_item(self) -> float:
        return self.serial_s / self.items if self.items else 0.0


def thread_schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting for one) of this thread, from Linux; None elsewhere."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            running, runqueue, _ = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return None
    return running / 1e9, runqueue / 1e9


@dataclass
class _Span:
    """Wall, running and CPU-waiting seconds of one thread over a stretch of work."""

    wall: float = 0.0
    running: float = 0.0
    runqueue: float = 0.0
    known: bool = True

    def run(self, func: Callable[[Any], Any], next_item: Callable[[], tuple[bool, Any]]) -> None:
        before, start = thread_schedstat(), time.perf_counter()
        while True:
            more, item = next_item()
            if not more:
                break
            func(item)
        after = thread_schedstat()
        self.wall = time.perf_counter() - start
        if before and after:
            self.running, self.runqueue = after[0] - before[0], after[1] - before[1]
        else:
            self.known = False


def _blocked(spans: list[_Span]) -> float | None:
    wall = sum(s.wall for s in spans)
    if not all(s.known for s in spans) or wall <= 0:
        return None
    return min(1.0, max(0.0, sum(s.wall - s.running - s.runqueue for s in spans) / wall))


def _feeder(items: list[Any]) -> Callable[[], tuple[bool, Any]]:
    lock, position = threading.Lock(), iter(items)

    def next_item() -> tuple[bool, Any]:
        with lock:
            for item in position:
                return True, item
            return False, None
    return next_item


def _serial(func: Callable[[Any], Any], items: list[Any]) -> tuple[_Span, float]:
    cpu = time.thread_time()
    span = _Span()
    span.run(func, _feeder(items))
    return span, time.thread_time() - cpu


def _threaded(func: Callable[[Any], Any], items: list[Any], workers: int) -> float:
    spans, barrier, next_item = [_Span() for _ in range(workers)], threading.Barrier(workers + 1), _feeder(items)

    def work(span: _Span) -> None:
        barrier.wait()
        span.run(func, next_item)

    threads = [threading.Thread(target=work, args=(s,), name=f"dask-kubeflow-advise-{i}") for i, s in enumerate(spans)]
    for thread in threads:
        thread.start()
    barrier.wait()  # every thread is up before the clock starts
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _probe_share(stop: threading.Event, seconds: float | None = None) -> float:
    """Run the GIL probe until ``stop`` is set (or for ``seconds``); the share of its time it ran."""
    before, cpu, start = thread_schedstat(), time.thread_time(), time.perf_counter()
    while not stop.is_set() and (seconds is None or time.perf_counter() - start < seconds):
        for _ in range(20):
            pass
        time.sleep(0)  # hands the GIL over if anyone waits for it
    wall, after = time.perf_counter() - start, thread_schedstat()
    if before and after:
        running, runqueue = after[0] - before[0], after[1] - before[1]
        return running / max(wall - runqueue, 1e-9)
    return (time.thread_time() - cpu) / max(wall, 1e-9)


def _probed(func: Callable[[Any], Any], items: list[Any]) -> float:
    """The probe's share beside ``func`` running over ``items`` in this thread."""
    stop, share = threading.Event(), []
    probe = threading.Thread(target=lambda: share.append(_probe_share(stop)), name="dask-kubeflow-gil-probe")
    probe.start()
    try:
        for item in items:
            func(item)
    finally:
        stop.set()
        probe.join()
    return share[0]


_loaded: dict[bytes, Callable[[Any], Any]] = {}


def _call(blob: bytes, item: Any) -> Any:
    func = _loaded.get(blob)
    if func is None:
        func = _loaded[blob] = cloudpickle.loads(blob)
    return func(item)


def _processes(func: Callable[[Any], Any], items: list[Any], workers: int) -> float:
    blob = cloudpickle.dumps(func)
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        # Warm every process: each one loads the function and runs it once, like a warm Dask worker.
        list(pool.map(_call, [blob] * workers * 2, [items[0]] * workers * 2, chunksize=1))
        start = time.perf_counter()
        list(pool.map(_call, [blob] * len(items), items, chunksize=1))
        return time.perf_counter() - start


def measure(func: Callable[[Any], Any], sample: Iterable[Any], *, workers: int | None = None) -> Measurement:
    """Run ``func`` on every item of ``sample`` serially, in N threads and in N processes, timed."""
    items = list(sample)
    if not items:
        raise ValueError("advise() needs a non-empty sample: a list of the arguments your function takes, "
                         "enough for a few seconds of work")
    workers = max(2, workers or machine_cores())
    func(items[0])  # imports, caches, JIT: the first call is not what a busy worker sees
    first, cpu_first = _serial(func, items)
    threads_s = _threaded(func, items, workers)
    try:
        processes_s, error = _processes(func, items, workers), ""
    except Exception as err:  # noqa: BLE001 - any pickling or child failure: report it, keep the rest
        processes_s, error = None, f"{type(err).__name__}: {err}"
    last, cpu_last = _serial(func, items)
    alone = _probe_share(threading.Event(), 0.1)
    beside = _probed(func, items)
    alone = (alone + _probe_share(threading.Event(), 0.1)) / 2
    wall = first.wall + last.wall
    return Measurement(
        items=len(items), workers=workers, serial_s=wall / 2, cpu_s=(cpu_first + cpu_last) / 2,
        threads_s=threads_s, processes_s=processes_s, processes_error=error,
        serial_blocked=_blocked([first, last]),
        cpu_wait=(first.runqueue + last.runqueue) / wall if wall > 0 else 0.0,
        probe=beside, probe_alone=alone,
    )
