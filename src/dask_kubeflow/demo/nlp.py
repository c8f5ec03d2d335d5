"""The per-document NLP work: tokenize, normalize, count terms and bigrams. Pure Python on purpose.

Nothing here releases the GIL, which is what makes threads lose and processes win (see the seed).
"""

from __future__ import annotations

import heapq
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import snowballstemmer

from .corpus import read_documents

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
STOPWORDS = frozenset("a an and are as at be by for from has in is it its of on or that the to was were will with".split())
# The Snowball (Porter 2) English stemmer, in pure Python: 'running' and 'runs' count as one term.
# Deliberately uncached: it stands in for the heavier per-document Python of real NLP (parsing, NER).
# A stemmer keeps state while it works, so each thread gets its own.
_local = threading.local()


def tokenize(document: str) -> list[str]:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return [stemmer.stemWord(t) for t in _TOKEN.findall(document.lower()) if t not in STOPWORDS]


@dataclass
class Counts:
    """Term and bigram frequencies of some documents. ``merge`` is associative, so it tree-reduces."""

    terms: Counter[str] = field(default_factory=Counter)
    bigrams: Counter[str] = field(default_factory=Counter)
    documents: int = 0
    tokens: int = 0

    def add(self, document: str) -> None:
        tokens = tokenize(document)
        self.terms.update(tokens)
        self.bigrams.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
        self.documents += 1
        self.tokens += len(tokens)

    def merge(self, other: Counts) -> Counts:
        self.terms.update(other.terms)
        self.bigrams.update(other.bigrams)
        self.documents += other.documents
        self.tokens += other.tokens
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
    )
