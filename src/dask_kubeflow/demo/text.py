"""Turning a document into terms: Unicode-aware tokens, a real stop-word list, English stemming.

- Text is NFKC-normalized and case-folded, so "Café", "CAFÉ" and "cafe\u0301" are one term and
  full-width or ligature forms read as their plain letters.
- A token is a run of letters with their combining marks, in any script (so Hindi and Arabic words
  stay whole), optionally joined by apostrophes ("don't"). Digits and punctuation are dropped.
- Scripts written without spaces get a sensible fallback instead of one huge "word": each Han
  ideograph and each Hiragana character is a token, a Katakana run is one token (as Lucene's
  standard tokenizer does). There is no dictionary segmentation; Thai and Lao runs stay whole.
- Stop words: the Snowball English list (the ``stopwords`` package), the list that goes with the
  Snowball stemmer; Latin-script tokens are then stemmed by the Snowball English stemmer, in pure
  Python: "running" and "runs" count as "run". Other scripts are left as they are.

Pure Python on purpose: it holds the GIL, which is the point of the demo's first workload.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import cache

import snowballstemmer

from ._extra import require

regex = require("regex")

_TOKEN = regex.compile(
    r"[\p{Han}\p{Hiragana}]"  # one ideograph / hiragana character per token
    r"|[\p{Katakana}\u30fc]+"  # a katakana run, with its long-vowel mark
    r"|[[\p{L}\p{M}]--[\p{Han}\p{Hiragana}\p{Katakana}]]+(?:'[[\p{L}\p{M}]--[\p{Han}\p{Hiragana}\p{Katakana}]]+)*",
    regex.V1,
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\uff07": "'"})
_LATIN_END = "\u0250"  # Basic Latin through Latin Extended-B: what the English stemmer understands
# A stemmer keeps state while it works, so each thread gets its own.
_local = threading.local()


@cache
def stop_words() -> frozenset[str]:
    """The Snowball English stop-word list, case-folded (175 words: "the", "you", "this", "if"...)."""
    stopwords = require("stopwords")
    return frozenset(w.strip().casefold() for w in stopwords.get_stopwords("english") if w.strip())


def normalize(document: str) -> str:
    return unicodedata.normalize("NFKC", document).translate(_APOSTROPHES).casefold()


def words(document: str) -> list[str]:
    """The tokens of ``document`` before stop words and stemming (see the module docstring)."""
    return _TOKEN.findall(normalize(document))


def _stemmer() -> snowballstemmer.stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


def tokenize(document: str) -> list[str]:
    """The terms of ``document``: words, minus stop words, Latin-script words stemmed."""
    stem = _stemmer().stemWord
    stop = stop_words()
    return [stem(w) if w[0] < _LATIN_END else w for w in words(document) if w not in stop]


_SCRIPT_PROBES = ("Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Devanagari", "Bengali",
                  "Tamil", "Thai", "Hangul", "Hiragana", "Katakana", "Han")
_SCRIPT_PATTERNS = tuple((name, regex.compile(rf"\p{{{name}}}")) for name in _SCRIPT_PROBES)


def script_of(term: str) -> str:
    """The Unicode script of a term's first letter ("Latin", "Han", ...), or "other"."""
    for name, pattern in _SCRIPT_PATTERNS:
        if pattern.match(term):
            return name
    return "other"
