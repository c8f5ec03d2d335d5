"""Time the user's function on a sample: serially, in N threads, and in N processes.

A last pass runs the function beside a pure-Python loop in a second thread and records how often
the loop had to wait for the GIL (``_probed``): the direct measure of how much of the time the
function holds it, and one that a busy machine does not skew.

Serial time and CPU time (``time.thread_time``) are the mean of two passes in this thread, one
before and one after the parallel passes, so a machine that gets busier meanwhile hits all alike. The threaded
pass runs the same items on a pool of N already-started threads; the process pass on N already-
started processes (spawned, the function shipped by value with cloudpickle, so a function defined
in a notebook works too), each of which has already run the function once: start-up and imports are
not counted, moving arguments and results between processes is, as it would be between Dask
workers. Nothing here interprets the numbers; ``recommend`` does.
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
    cpu_s: float  # CPU time of the serial pass (this thread only)
    threads_s: float
    processes_s: float | None  # None when the function or the sample cannot be sent to a process
    processes_error: str = ""
    available: float = 1.0  # CPU share a pure-Python loop got meanwhile: below 1 on a busy machine
    probe: float = 1.0  # share of the time a Python loop beside the function got the GIL (1: never waited)

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
        """How much of the serial time was spent on the CPU (near 0: waiting on I/O or sleeping).

        Relative to what a pure-Python loop got at the same time, so a busy machine, which gives
        every thread less CPU, does not make CPU-bound work look like waiting.
        """
        if self.serial_s <= 0:
            return 1.0
        return min(1.0, self.cpu_s / self.serial_s / max(self.available, 0.01))

    @property
    def seconds_per_item(self) -> float:
        return self.serial_s / self.items if self.items else 0.0


_loaded: dict[bytes, Callable[[Any], Any]] = {}


def _call(blob: bytes, item: Any) -> Any:
    func = _loaded.get(blob)
    if func is None:
        func = _loaded[blob] = cloudpickle.loads(blob)
    return func(item)


def _spin(seconds: float = 0.1) -> float:
    """CPU time / wall time of a pure-Python loop: how much of a core this thread gets right now."""
    cpu, start = time.thread_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        sum(range(1000))
    return (time.thread_time() - cpu) / (time.perf_counter() - start)


def _thread_schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting for one) of this thread, from Linux; None elsewhere."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            running, runqueue, _ = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return None
    return running / 1e9, runqueue / 1e9


def _probed(func: Callable[[Any], Any], items: list[Any]) -> float:
    """Run ``func`` over ``items`` beside a pure-Python loop in a second thread; the loop's GIL share.

    The loop needs the GIL for every step. While ``func`` holds the GIL they take turns (Python
    hands it over every 5 ms), so the loop gets it about half the time; while ``func`` runs without
    it (NumPy, hashing, I/O, sleeping) the loop never waits. On Linux the loop's own scheduler
    statistics split its time into running, waiting for a CPU (a busy machine) and blocked (waiting
    for the GIL), so the share is running / (running + blocked), whatever the machine's load.
    Elsewhere it is the loop's CPU share here against its share alone, which a busy machine skews.
    """
    stop, share = threading.Event(), []

    def spin() -> None:
        sched, cpu, start = _thread_schedstat(), time.thread_time(), time.perf_counter()
        while not stop.is_set():
            sum(range(1000))
        wall, after = time.perf_counter() - start, _thread_schedstat()
        if sched and after:
            running, runqueue = after[0] - sched[0], after[1] - sched[1]
            blocked = max(0.0, wall - running - runqueue)
            share.append(running / (running + blocked) if running + blocked > 0 else 1.0)
        else:
            share.append((time.thread_time() - cpu) / wall / max(_spin(), 1e-3))

    spinner = threading.Thread(target=spin, name="dask-kubeflow-gil-probe")
    spinner.start()
    try:
        for item in items:
            func(item)
    finally:
        stop.set()
        spinner.join()
    return min(1.0, share[0])


def _serial(func: Callable[[Any], Any], items: list[Any]) -> tuple[float, float]:
    cpu, start = time.thread_time(), time.perf_counter()
    for item in items:
        func(item)
    return time.perf_counter() - start, time.thread_time() - cpu


def _threaded(func: Callable[[Any], Any], items: list[Any], workers: int) -> float:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(time.sleep, [0.0] * workers))  # start the threads before the clock
        start = time.perf_counter()
        list(pool.map(func, items))
        return time.perf_counter() - start


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
    available = _spin()
    first, cpu_s = _serial(func, items)
    threads_s = _threaded(func, items, workers)
    try:
        processes_s, error = _processes(func, items, workers), ""
    except Exception as err:  # noqa: BLE001 - any pickling or child failure: report it, keep the rest
        processes_s, error = None, f"{type(err).__name__}: {err}"
    last, cpu_again = _serial(func, items)  # before and after: a machine getting busier hits all alike
    probe = _probed(func, items)
    available = (available + _spin()) / 2
    return Measurement(len(items), workers, (first + last) / 2, (cpu_s + cpu_again) / 2, threads_s, processes_s,
                       error, available, probe)
