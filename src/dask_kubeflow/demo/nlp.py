"""The demo's first workload: term and bigram frequencies. Pure Python on purpose.

Tokenizing, stemming and counting (``text.py``) never release the GIL, which is what makes threads
lose and processes win for it (see the seed). ``sketch.py`` is the other half: NumPy work that does.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .corpus import read_documents
from .text import script_of, tokenize

REPLACEMENT = "\ufffd"  # what undecodable bytes of a --corpus file read as


@dataclass
class Counts:
    """Term and bigram frequencies of some documents. ``merge`` is associative, so it tree-reduces."""

    terms: Counter[str] = field(default_factory=Counter)
    bigrams: Counter[str] = field(default_factory=Counter)
    documents: int = 0
    tokens: int = 0
    replaced: int = 0  # undecodable bytes, read as U+FFFD

    def add(self, document: str) -> None:
        tokens = tokenize(document)
        self.terms.update(tokens)
        self.bigrams.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
        self.documents += 1
        self.tokens += len(tokens)
        if REPLACEMENT in document:
            self.replaced += document.count(REPLACEMENT)

    def merge(self, other: Counts) -> Counts:
        self.terms.update(other.terms)
        self.bigrams.update(other.bigrams)
        self.documents += other.documents
        self.tokens += other.tokens
        self.replaced += other.replaced
        return self


def count_documents(documents: Iterable[str]) -> Counts:
    counts = Counts()
    for document in documents:
        counts.add(document)
    return counts


def count_shard(shard: str) -> Counts:
    """Read one shard and count it: the unit of work that runs on a worker."""
    return count_documents(read_documents(shard))


def merge_counts(*parts: Counts) -> Counts:
    total = Counts()
    for part in parts:
        total.merge(part)
    return total


@dataclass(frozen=True)
class Summary:
    """What the demo prints: small enough to send back to the client."""

    documents: int
    tokens: int
    vocabulary: int
    bigram_types: int
    top_terms: list[tuple[str, int]]
    top_bigrams: list[tuple[str, int]]
    scripts: list[tuple[str, float]] = field(default_factory=list)  # share of tokens, largest first
    replaced: int = 0


def _top(counter: Counter[str], n: int) -> list[tuple[str, int]]:
    # Ties broken by the term, so every run and every scheduler prints the same list.
    return heapq.nsmallest(n, counter.items(), key=lambda kv: (-kv[1], kv[0]))


def summarize(counts: Counts, top: int = 10) -> Summary:
    return Summary(
        documents=counts.documents,
        tokens=counts.tokens,
        vocabulary=len(counts.terms),
        bigram_types=len(counts.bigrams),
        top_terms=_top(counts.terms, top),
        top_bigrams=_top(counts.bigrams, top),
        scripts=script_shares(counts.terms),
        replaced=counts.replaced,
    )


def script_shares(terms: Counter[str]) -> list[tuple[str, float]]:
    """Which scripts the tokens are written in, as shares of all tokens (largest first)."""
    by_script: Counter[str] = Counter()
    for term, count in terms.items():
        by_script[script_of(term)] += count
    total = sum(by_script.values()) or 1
    return [(script, count / total) for script, count in sorted(by_script.items(), key=lambda kv: (-kv[1], kv[0]))]
