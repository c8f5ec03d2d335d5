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
_totals: dict[str, Any] = {}
_lock = threading.Lock()


def add_to_total(shard: str, run_id: str, workload: Workload) -> str:
    """Count ``shard`` and merge it into this process's running total of ``run_id``; return the shard."""
    part = workload.count(shard)
    with _lock:
        current = _totals.get(run_id)
        _totals[run_id] = part if current is None else current.merge(part)  # in place
    return shard


def take_total(run_id: str) -> Any | None:
    """This process's running total of ``run_id`` (None if it counted nothing), forgotten here."""
    with _lock:
        return _totals.pop(run_id, None)


def merge_totals(workload: Workload, *totals: Any | None) -> Any:
    return workload.merge(*(t for t in totals if t is not None))
