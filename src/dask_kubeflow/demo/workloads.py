"""The demo's two workloads, one per half of the seed's point, behind one small interface.

Each workload counts one shard (``count``), merges partial results (``merge``) and makes the small
summary the demo prints (``summarize``). ``add_to_total``/``take_total`` keep a running total on
each worker, so a distributed run merges counts where they are produced and moves one total per
worker instead of one result per shard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import nlp, sketch
from .text import stop_words


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    wins: str  # "threads" or "processes": which the seed's point says should win it
    gil: str  # one line: why
    count: Callable[[str], Any]
    merge: Callable[..., Any]  # merge(*parts) -> total; parts may be None (a worker that ran nothing)
    summarize: Callable[[Any, int], Any]


TERMS = Workload(
    key="terms",
    title="term and bigram counts (tokenize, Snowball-stem, count)",
    wins="processes",
    gil="pure-Python tokenizing holds the GIL, so threads of one process take turns",
    count=nlp.count_shard,
    merge=nlp.merge_counts,
    summarize=nlp.summarize,
)
SKETCH = Workload(
    key="sketch",
    title="MinHash near-duplicate sketches (NumPy sort and arithmetic)",
    wins="threads",
    gil="NumPy's sort and arithmetic release the GIL, so threads run in parallel, with no copying between processes",
    count=sketch.sketch_shard,
    merge=sketch.merge_sketches,
    summarize=sketch.summarize_sketches,
)
WORKLOADS: dict[str, Workload] = {w.key: w for w in (TERMS, SKETCH)}


def prepare() -> None:
    """Load what the workloads load on first use (stop words, stemmer, NumPy paths), before timing."""
    stop_words()
    nlp.tokenize("warming up")
    sketch.signatures([b"warming up the sketches", b"and their sort"])


# -- running totals on a worker ------------------------------------------------------------------
_totals: dict[str, tuple[Any, list[str]]] = {}
_lock = threading.Lock()


def add_to_total(shard: str, run_id: str, workload: Workload) -> str:
    """Count ``shard`` and merge it into this process's running total of ``run_id``; return the shard."""
    part = workload.count(shard)
    with _lock:
        current = _totals.get(run_id)
        if current is None:
            _totals[run_id] = (part, [shard])
        else:
            current[0].merge(part)  # in place
            current[1].append(shard)
    return shard


def take_total(run_id: str) -> tuple[Any, list[str]] | None:
    """This process's running total of ``run_id`` and the shards in it (None if it counted nothing)."""
    with _lock:
        return _totals.pop(run_id, None)


class CountedTwice(RuntimeError):
    """A shard is in two workers' totals (a worker thought lost kept running): the result would be wrong."""


def merge_totals(workload: Workload, shards: list[str], *taken: tuple[Any, list[str]] | None) -> Any:
    """Merge the workers' totals; count here any shard whose total left with its worker.

    A worker retired while the run was finishing takes its running total with it (its task results
    are moved to another worker, so Dask does not recompute them): those shards are counted again.
    """
    present = [t for t in taken if t is not None]
    counted = [shard for _, mine in present for shard in mine]
    if len(counted) != len(set(counted)):
        raise CountedTwice("a shard was counted on two workers (one was thought lost but kept running); "
                           "run the demo again")
    total = workload.merge(*(t for t, _ in present))
    for shard in sorted(set(shards) - set(counted)):
        total.merge(workload.count(shard))
    return total
