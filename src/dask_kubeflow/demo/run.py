"""Run the NLP workload serially, on Dask's local schedulers, or on a distributed cluster, timed."""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass

import dask
from distributed import Client, as_completed

from .nlp import Counts, Summary, count_shard, merge_counts, summarize

ProgressCallback = Callable[[int], None]  # called with the number of shards just finished


@dataclass(frozen=True)
class Timed:
    name: str
    summary: Summary
    seconds: float
    counts: Counts | None = None  # kept only when asked, for checking results

    @property
    def documents_per_second(self) -> float:
        return self.summary.documents / self.seconds if self.seconds > 0 else float("inf")


def run_serial(shards: list[str], *, top: int = 10, keep_counts: bool = False) -> Timed:
    """The same per-shard function, one after another in this process: the baseline."""
    start = time.perf_counter()
    total = Counts()
    for shard in shards:
        total.merge(count_shard(shard))
    summary = summarize(total, top)
    return Timed("serial", summary, time.perf_counter() - start, total if keep_counts else None)


def run_serial_isolated(shards: list[str], *, top: int = 10) -> Timed:
    """``run_serial`` in a fresh interpreter, timed there.

    The client process runs Dask's event-loop threads, which take the GIL now and then and would
    slow a serial baseline measured beside them (by ~7% here), flattering the speed-up.
    """
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(run_serial, shards, top=top).result()


def run_local_scheduler(shards: list[str], scheduler: str, workers: int, *, top: int = 10) -> Timed:
    """Dask's single-machine schedulers ("threads" or "processes"), for the seed's comparison."""
    start = time.perf_counter()
    parts = dask.compute(*[dask.delayed(count_shard)(s) for s in shards], scheduler=scheduler, num_workers=workers)
    summary = summarize(merge_counts(*parts), top)
    return Timed(f"dask {scheduler} scheduler ({workers})", summary, time.perf_counter() - start)


def run_distributed(client: Client, shards: list[str], *, top: int = 10, keep_counts: bool = False,
                    progress: ProgressCallback | None = None, fan_in: int = 4) -> Timed:
    """Count every shard on the workers, merge in a tree on the workers, bring back only the summary."""
    start = time.perf_counter()
    pending = client.map(count_shard, shards, pure=False)
    level = list(pending)
    while len(level) > 1:
        level = [client.submit(merge_counts, *level[i:i + fan_in], pure=False) for i in range(0, len(level), fan_in)]
    total = level[0]
    summary_future = client.submit(summarize, total, top, pure=False)
    for _ in as_completed(pending):
        if progress:
            progress(1)
    summary = summary_future.result()
    counts = total.result() if keep_counts else None
    return Timed("distributed", summary, time.perf_counter() - start, counts)


def warm_up(client: Client) -> None:
    """Import the workload on every worker first, so the timed run measures work, not imports."""
    client.run(importlib.import_module, count_shard.__module__)
