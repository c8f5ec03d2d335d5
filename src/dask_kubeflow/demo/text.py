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

import re
import sys
import threading
import unicodedata
from functools import cache

import snowballstemmer

from ._extra import require


def _mark_ranges() -> str:
    """Combining marks of the Basic Multilingual Plane as a character-class body (for ``re``)."""
    marks = [c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")]
    ranges, start = [], marks[0]
    for previous, current in zip(marks, marks[1:] + [sys.maxunicode + 2]):
        if current != previous + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(previous))}" if previous > start else re.escape(chr(start)))
            start = current
    return "".join(ranges)


_NO_SPACES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\u3040-\u309f"  # Han, Hiragana
_KATAKANA = "\u30a0-\u30ff\u31f0-\u31ff"
_LETTER = f"(?:(?![{_NO_SPACES}{_KATAKANA}])[^\\W\\d_]|[{_mark_ranges()}])"
# The standard library's re, not the regex package: regex releases the GIL while matching, and this
# workload is the GIL-bound half of the demo (as most users' tokenizers are).
_TOKEN = re.compile(f"[{_NO_SPACES}]|[{_KATAKANA}]+|{_LETTER}+(?:'{_LETTER}+)*")
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


_SCRIPT_NAMES = {"CJK": "Han"}


def script_of(term: str) -> str:
    """The Unicode script of a term's first letter ("Latin", "Han", "Cyrillic", ...), or "other"."""
    name = unicodedata.name(term[:1], "")
    if not name or not term[:1].isalpha():
        return "other"
    first = name.split(" ", 1)[0]
    return _SCRIPT_NAMES.get(first, first.capitalize())
