"""The comparison table's logic: which run won each workload, and why, in one line. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from .workloads import Workload


@dataclass(frozen=True)
class Row:
    workload: Workload
    run: str  # "serial", "dask threads scheduler", "distributed", ...
    workers: int  # worker processes
    threads: int  # threads per worker process
    seconds: float
    documents: int = 0

    @property
    def shape(self) -> str:
        return f"{self.workers}×{self.threads}"

    @property
    def family(self) -> str:
        """serial, threads (one process, several threads), processes (single-threaded), or mixed."""
        if self.workers == 1:
            return "serial" if self.threads == 1 else "threads"
        return "processes" if self.threads == 1 else "mixed"


def serial_of(rows: list[Row], workload: Workload) -> Row | None:
    return next((r for r in rows if r.workload is workload and r.family == "serial"), None)


def speed_up(rows: list[Row], row: Row) -> float | None:
    serial = serial_of(rows, row.workload)
    return serial.seconds / row.seconds if serial and row.seconds > 0 else None


def winner(rows: list[Row], workload: Workload) -> Row:
    return min((r for r in rows if r.workload is workload), key=lambda r: r.seconds)


def _best(rows: list[Row], workload: Workload, family: str) -> str:
    mine = [r for r in rows if r.workload is workload and r.family == family]
    if not mine:
        return f"no {family} run"
    best = min(mine, key=lambda r: r.seconds)
    ratio = speed_up(rows, best)
    return f"best {family} {ratio:.2f}×" if ratio else f"best {family} {best.seconds:.2f} s"


def verdict(rows: list[Row], workload: Workload) -> str:
    """One line: who won ``workload`` and why (or why the expected side did not win this time)."""
    best = winner(rows, workload)
    figures = f"{_best(rows, workload, 'threads')}, {_best(rows, workload, 'processes')}"
    if best.family == "serial":
        return (f"{workload.key}: serial won — too little work per shard for parallelism to pay for its "
                f"overhead ({figures})")
    if best.family == workload.wins:
        return f"{workload.key}: {workload.wins} win ({figures}): {workload.gil}"
    return (f"{workload.key}: {best.family} won this time, not {workload.wins} ({figures}): {workload.gil}, "
            f"but with small shards or a busy machine overheads decide")
