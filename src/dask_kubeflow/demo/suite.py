"""The demo's runs, in order, each with its progress phase: what the CLI and the notebooks call.

``main_runs``: the GIL-bound workload on the cluster and the serial baseline. ``compare_runs``: both
workloads on every scheduler the seed names (serial, Dask's threaded and multiprocessing
schedulers, distributed with threads and with processes). Every run of a workload must give the
same summary; ``DifferentResults`` says which did not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from distributed import Client

from .compare import Row
from .progress import Advance, ProgressDisplay
from .run import Timed, run_distributed, run_local_scheduler, run_serial_isolated, warm_up
from .workloads import SKETCH, TERMS, Workload


class DifferentResults(AssertionError):
    """Two runs of one workload disagree: a bug in the demo, never the user's fault."""


def cluster_shape(client: Client) -> tuple[int, int]:
    """(worker processes, threads per worker) of the cluster behind ``client``."""
    workers = list(client.scheduler_info(n_workers=-1)["workers"].values())
    return len(workers), max((w["nthreads"] for w in workers), default=0)


def _timed(display: ProgressDisplay, label: str, shards: int, run: Callable[[Advance], Timed]) -> Timed:
    with display.phase(label, shards) as advance:
        return run(advance)


def distributed_row(client: Client, paths: list[str], workload: Workload, display: ProgressDisplay, *,
                    top: int = 10) -> tuple[Row, Timed]:
    workers, threads = cluster_shape(client)
    label = f"{workload.key}: distributed, {workers}×{threads}"
    timed = _timed(display, label, len(paths), lambda cb: run_distributed(client, paths, workload, top=top, progress=cb))
    return Row(workload, "distributed", workers, threads, timed.seconds, timed.summary.documents), timed


def serial_row(paths: list[str], workload: Workload, display: ProgressDisplay, *, top: int = 10) -> tuple[Row, Timed]:
    label = f"{workload.key}: serial baseline (one process, one thread)"
    timed = _timed(display, label, len(paths), lambda cb: run_serial_isolated(paths, workload, top=top, progress=cb))
    return Row(workload, "serial", 1, 1, timed.seconds, timed.summary.documents), timed


def local_rows(paths: list[str], workload: Workload, display: ProgressDisplay, cores: int, *,
               top: int = 10) -> list[tuple[Row, Timed]]:
    out = []
    for scheduler, workers, threads in (("threads", 1, cores), ("processes", cores, 1)):
        label = f"{workload.key}: dask {scheduler} scheduler, {workers}×{threads}"
        timed = _timed(display, label, len(paths),
                       lambda cb, s=scheduler: run_local_scheduler(paths, s, cores, workload, top=top, progress=cb))
        out.append((Row(workload, timed.name, workers, threads, timed.seconds, timed.summary.documents), timed))
    return out


def check_same(results: Iterable[tuple[Row, Timed]]) -> None:
    first: dict[str, tuple[Row, Any]] = {}
    for row, timed in results:
        seen = first.setdefault(row.workload.key, (row, timed.summary))
        if seen[1] != timed.summary:
            raise DifferentResults(f"{row.workload.key}: '{row.run}' ({row.shape}) gave a different result from "
                                   f"'{seen[0].run}' ({seen[0].shape}); this is a bug, please report it")


def main_runs(client: Client, paths: list[str], display: ProgressDisplay, *, top: int = 10) -> list[tuple[Row, Timed]]:
    """The GIL-bound workload on the cluster, then the serial baseline."""
    warm_up(client)
    results = [distributed_row(client, paths, TERMS, display, top=top), serial_row(paths, TERMS, display, top=top)]
    check_same(results)
    return ordered(results)


def compare_runs(clients: list[Client], paths: list[str], display: ProgressDisplay, cores: int, *, top: int = 10,
                 workloads: tuple[Workload, ...] = (TERMS, SKETCH),
                 done: list[tuple[Row, Timed]] | None = None) -> list[tuple[Row, Timed]]:
    """Every workload on every scheduler; ``clients`` are the distributed layouts to try.

    ``done`` holds runs already made (``main_runs``); they are kept, not repeated.
    """
    results = list(done or [])
    have = {(r.workload.key, r.run, r.shape) for r, _ in results}
    for client in clients:
        warm_up(client)
        for workload in workloads:
            if (workload.key, "distributed", "{}×{}".format(*cluster_shape(client))) not in have:
                results.append(distributed_row(client, paths, workload, display, top=top))
    for workload in workloads:
        if (workload.key, "serial", "1×1") not in have:
            results.append(serial_row(paths, workload, display, top=top))
        results += local_rows(paths, workload, display, cores, top=top)
    check_same(results)
    return ordered(results, workloads)


def ordered(results: list[tuple[Row, Timed]], workloads: tuple[Workload, ...] = (TERMS, SKETCH)) -> list[tuple[Row, Timed]]:
    """Workload by workload, in the seed's order: serial, Dask's local schedulers, distributed."""
    order = {w.key: i for i, w in enumerate(workloads)}
    return sorted(results, key=lambda rt: (order.get(rt[0].workload.key, 99), _RANK.get((rt[0].run, rt[0].family), 9)))


# The seed's order: serial, Dask's local schedulers, then the distributed scheduler.
_RANK = {("serial", "serial"): 0, ("dask threads", "threads"): 1, ("dask processes", "processes"): 2,
         ("distributed", "threads"): 3, ("distributed", "processes"): 4, ("distributed", "mixed"): 5}
