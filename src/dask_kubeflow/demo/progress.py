"""One progress display for every phase of the demo: a bar on a terminal, plain lines elsewhere.

On a TTY it is a rich progress bar. In a pipe, a CI log, a notebook ``!`` cell or a Jupyter kernel
(where a live bar needs widgets, or shows nothing at all) it prints a plain line when a phase
starts, one every ``interval`` seconds while it runs, and one when it ends, so nobody stares at a
silent screen for half a minute. ``advance`` may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]  # called with the number of shards just finished


class ProgressDisplay:
    def __init__(self, console: Console, *, interval: float = 5.0, bar: bool | None = None) -> None:
        self.console = console
        self.interval = interval
        self.bar = console.is_terminal and not console.is_jupyter if bar is None else bar

    @contextmanager
    def phase(self, label: str, total: int, unit: str = "shards") -> Iterator[Advance]:
        """Show the progress of one phase of ``total`` steps; yields the function to advance it."""
        if self.bar:
            with _bar(self.console, label, total) as advance:
                yield advance
        else:
            with _lines(self.console, label, total, unit, self.interval) as advance:
                yield advance


@contextmanager
def _bar(console: Console, label: str, total: int) -> Iterator[Advance]:
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True)
    with progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def _lines(console: Console, label: str, total: int, unit: str, interval: float) -> Iterator[Advance]:
    done = 0
    lock = threading.Lock()
    finished = threading.Event()
    start = time.monotonic()

    def line(state: str) -> None:
        console.print(f"{label}: {state} ({time.monotonic() - start:.0f} s)", highlight=False, markup=False)

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n

    def tick() -> None:
        while not finished.wait(interval):
            with lock:
                count = done
            line(f"{count}/{total} {unit}")

    line(f"started, {total} {unit}")
    ticker = threading.Thread(target=tick, name="dask-kubeflow-progress", daemon=True)
    ticker.start()
    try:
        yield advance
    finally:
        finished.set()
        ticker.join()
    line(f"done, {done}/{total} {unit}")
