"""Run a workload serially, on Dask's local schedulers, or on a distributed cluster, timed.

Every runner calls the same per-shard function on the same shards and reports finished shards to
an optional ``progress`` callback, so one display covers every phase.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import dask
from dask.callbacks import Callback
from distributed import Client, as_completed

from .progress import Advance
from .workloads import TERMS, Workload, add_to_total, merge_totals, prepare, take_total


@dataclass(frozen=True)
class Timed:
    name: str
    summary: Any
    seconds: float
    total: Any = None  # the merged counts, kept only when asked (for checking results)

    @property
    def documents_per_second(self) -> float:
        return self.summary.documents / self.seconds if self.seconds > 0 else float("inf")


def _ignore(_: int) -> None:
    pass


def run_serial(shards: list[str], workload: Workload = TERMS, *, top: int = 10, keep: bool = False,
               progress: Advance | None = None) -> Timed:
    """The same per-shard function, one after another in this process: the baseline."""
    progress = progress or _ignore
    start = time.perf_counter()
    parts = []
    for shard in shards:
        parts.append(workload.count(shard))
        progress(1)
    total = workload.merge(*parts)
    summary = workload.summarize(total, top)
    return Timed("serial", summary, time.perf_counter() - start, total if keep else None)


_child_queue: Any = None


def _remember_queue(queue: Any) -> None:
    global _child_queue
    _child_queue = queue


def _serial_in_child(shards: list[str], workload: Workload, top: int) -> Timed:
    prepare()  # as warm_up does on the workers: time the work, not first-use loading
    return run_serial(shards, workload, top=top, progress=_child_queue.put)


def run_serial_isolated(shards: list[str], workload: Workload = TERMS, *, top: int = 10,
                        progress: Advance | None = None) -> Timed:
    """``run_serial`` in a fresh interpreter, timed there.

    The client process runs Dask's event-loop threads, which take the GIL now and then and would
    slow a serial baseline measured beside them (by ~7% here), flattering the speed-up.
    """
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.SimpleQueue()
    drain = threading.Thread(target=_drain, args=(queue, progress or _ignore), daemon=True)
    drain.start()
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn, initializer=_remember_queue,
                                                    initargs=(queue,)) as pool:
            return pool.submit(_serial_in_child, shards, workload, top).result()
    finally:
        queue.put(None)
        drain.join()


def _drain(queue: Any, progress: Advance) -> None:
    while (item := queue.get()) is not None:
        progress(item)


class _CountFinished(Callback):  # type: ignore[misc]
    def __init__(self, progress: Advance) -> None:
        super().__init__()
        self.progress = progress

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if str(key).startswith("count-"):
            self.progress(1)


def run_local_scheduler(shards: list[str], scheduler: str, workers: int, workload: Workload = TERMS, *,
                        top: int = 10, progress: Advance | None = None) -> Timed:
    """Dask's single-machine schedulers ("threads" or "processes"), for the seed's comparison."""
    start = time.perf_counter()
    tasks = [dask.delayed(workload.count)(s, dask_key_name=f"count-{i}") for i, s in enumerate(shards)]
    with _CountFinished(progress or _ignore):
        parts = dask.compute(*tasks, scheduler=scheduler, num_workers=workers)
    summary = workload.summarize(workload.merge(*parts), top)
    return Timed(f"dask {scheduler}", summary, time.perf_counter() - start)


def run_distributed(client: Client, shards: list[str], workload: Workload = TERMS, *, top: int = 10,
                    keep: bool = False, progress: Advance | None = None, name: str = "distributed") -> Timed:
    """Count every shard on the workers into a running total per worker; merge the totals there.

    Only the summary comes back (and the merged total if ``keep``). Merging where the counts are
    produced keeps per-shard transfers and merges off the critical path.
    """
    progress = progress or _ignore
    start = time.perf_counter()
    run_id = uuid.uuid4().hex
    acks = client.map(add_to_total, shards, run_id=run_id, workload=workload, pure=False)
    for _ in as_completed(acks):
        progress(1)
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    totals = [client.submit(take_total, run_id, workers=[w], allow_other_workers=False, pure=False)
              for w in workers]
    total = client.submit(merge_totals, workload, shards, *totals, pure=False)
    summary = client.submit(workload.summarize, total, top, pure=False).result()
    kept = total.result() if keep else None
    del acks, totals
    return Timed(name, summary, time.perf_counter() - start, kept)


def warm_up(client: Client) -> None:
    """Import and load the workloads on every worker first, so timed runs measure work, not imports."""
    client.run(prepare)
