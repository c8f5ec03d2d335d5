"""A deterministic synthetic corpus, and reading shards of any corpus where the work runs.

A shard is a path to a text file (one document per line) or a ``synthetic://SEED/INDEX/DOCS`` URI
that any worker can regenerate byte for byte, so the demo also runs on remote workers that cannot
see the client's temp dir.
"""

from __future__ import annotations

import glob
import itertools
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from ._extra import require

SYNTHETIC = "synthetic://"
VOCABULARY_SIZE = 5000
WORDS_PER_DOCUMENT = (30, 120)
# Common English collocations, dropped into documents now and then so the top bigrams read like
# English too (single words alone come from wordfreq's frequencies, which know nothing of pairs).
PHRASES = (
    "new york", "united states", "high school", "last year", "next week", "machine learning",
    "climate change", "health care", "real estate", "social media", "supply chain", "open source",
    "interest rates", "public transport", "credit card", "data science", "city council",
    "mental health", "world cup", "prime minister", "free software", "search engine",
)
# Kept out of a demo that is shown in meetings; everything else is wordfreq's list as it is.
_EXCLUDED = frozenset("ass asshole bitch bullshit cock crap damn dick fuck fucked fuckin fucking naked porn "
                      "pussy rape sex sexy shit".split())
_PHRASE_RATE = 0.04
_COMMA_RATE = 0.08
_REPOST_RATE = 0.02  # reposted documents, so the near-duplicate sketches find something


@cache
def _vocabulary() -> tuple[list[str], list[float]]:
    """The most frequent English words (letters and apostrophes only) and their cumulative frequency.

    From the ``wordfreq`` package's bundled "small" English list: no network needed.
    """
    wordfreq = require("wordfreq")
    frequencies = wordfreq.get_frequency_dict("en", wordlist="small")
    ranked = sorted(((f, w) for w, f in frequencies.items() if w.replace("'", "").isalpha() and w not in _EXCLUDED),
                    key=lambda fw: (-fw[0], fw[1]))[:VOCABULARY_SIZE]
    return [w for _, w in ranked], list(itertools.accumulate(f for f, _ in ranked))


def synthetic_documents(seed: int, index: int, documents: int) -> Iterator[str]:
    """The documents of one synthetic shard: the same for the same (seed, index, documents).

    Words are drawn with their real English frequencies, so stop words are as common as in real
    text and the top terms after removing them are ordinary English words. About 2% of documents
    repost an earlier one with one word changed: near-duplicates, as in any scraped corpus.
    """
    words, cumulative = _vocabulary()
    rng = random.Random(f"{seed}/{index}")
    earlier: list[str] = []
    for _ in range(documents):
        if earlier and rng.random() < _REPOST_RATE:  # a near-duplicate: an earlier document, one word changed
            repost = rng.choice(earlier).split(" ")
            repost[rng.randrange(1, len(repost))] = rng.choices(words, cum_weights=cumulative)[0]
            yield " ".join(repost)
            continue
        drawn = rng.choices(words, cum_weights=cumulative, k=rng.randint(*WORDS_PER_DOCUMENT))
        out = []
        for word in drawn:
            if rng.random() < _PHRASE_RATE:
                word = rng.choice(PHRASES)
            elif rng.random() < _COMMA_RATE:
                word += ","
            out.append(word)
        out[0] = out[0][:1].upper() + out[0][1:]
        document = " ".join(out).rstrip(",") + "."
        earlier.append(document)
        yield document


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


def describe_files(paths: list[str]) -> str:
    """'3 file(s), 1.2 MiB': what a --corpus glob found, before reading it."""
    from dask.utils import format_bytes

    size = sum(Path(p).stat().st_size for p in paths)
    return f"{len(paths)} file(s), {format_bytes(size)}"
