"""A deterministic synthetic corpus, and reading shards of any corpus where the work runs.

A shard is a path to a text file (one document per line) or a ``synthetic://SEED/INDEX/DOCS`` URI
that any worker can regenerate byte for byte, so the demo also runs on remote workers that cannot
see the client's temp dir.
"""

from __future__ import annotations

import bisect
import glob
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

SYNTHETIC = "synthetic://"
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "den", "gar", "pol", "trin",
              "ex", "an", "or", "ul", "bri", "sto", "que", "zan")
_SUFFIXES = ("", "", "", "s", "ing", "ed", "ly", "es")
_STOPWORDS = ("the", "a", "of", "and", "to", "in", "is", "that", "it", "for")
VOCABULARY_SIZE = 4000
WORDS_PER_DOCUMENT = (30, 120)


def _vocabulary(seed: int) -> tuple[list[str], list[float]]:
    rng = random.Random(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf, like natural language
    return words, list(itertools.accumulate(weights))


def synthetic_documents(seed: int, index: int, documents: int) -> Iterator[str]:
    """The documents of one synthetic shard: the same for the same (seed, index, documents)."""
    words, cumulative = _vocabulary(seed)
    total = cumulative[-1]
    rng = random.Random(f"{seed}/{index}")
    for _ in range(documents):
        out = []
        for position in range(rng.randint(*WORDS_PER_DOCUMENT)):
            if rng.random() < 0.3:
                out.append(rng.choice(_STOPWORDS))
                continue
            word = words[bisect.bisect_left(cumulative, rng.random() * total)]
            word += rng.choice(_SUFFIXES)
            if position == 0 or rng.random() < 0.05:
                word = word.capitalize()
            out.append(word + ("," if rng.random() < 0.08 else ""))
        yield " ".join(out) + "."


def synthetic_shards(seed: int, shards: int, documents_per_shard: int) -> list[str]:
    return [f"{SYNTHETIC}{seed}/{index}/{documents_per_shard}" for index in range(shards)]


def write_synthetic_corpus(directory: Path, seed: int, shards: int, documents_per_shard: int) -> list[str]:
    """Write the synthetic corpus as text files (one document per line); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(shards):
        path = directory / f"shard-{index:04d}.txt"
        with path.open("w", encoding="utf-8") as out:
            for document in synthetic_documents(seed, index, documents_per_shard):
                out.write(document + "\n")
        paths.append(str(path))
    return paths


def read_documents(shard: str) -> Iterator[str]:
    """Yield the documents of one shard; runs on the worker, so data never passes through the client."""
    if shard.startswith(SYNTHETIC):
        seed, index, documents = (int(part) for part in shard[len(SYNTHETIC):].split("/"))
        yield from synthetic_documents(seed, index, documents)
        return
    with open(shard, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.strip():
                yield line


def expand_corpus(pattern: str) -> list[str]:
    """The files a --corpus glob names, sorted; an error that says what was looked for if none."""
    paths = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise FileNotFoundError(
            f"--corpus {pattern!r} matches no files; give a glob of text files (one document per "
            f"line), e.g. --corpus 'data/**/*.txt', or leave --corpus out for the synthetic corpus"
        )
    return paths
