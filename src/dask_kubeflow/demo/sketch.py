"""The demo's second workload: MinHash sketches for near-duplicate detection, in NumPy.

The other half of the seed's point. Per shard, every document's UTF-8 bytes are cut into 5-byte
shingles, each shingle is hashed, and for each of ``PERMUTATIONS`` hash seeds the smallest hash of
every document is kept (found by sorting (document, hash) keys): a MinHash signature, the usual
first step of de-duplicating a web corpus. Two documents share a signature entry with probability
equal to the Jaccard similarity of their shingle sets. The summary counts the document pairs that
share a whole band of the signature (locality-sensitive hashing): likely near-duplicates.

Almost all the time is spent inside NumPy's sort and arithmetic, which run without the GIL: on
this workload threads in one process run in parallel, and skip the copying between processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._extra import require
from .corpus import SYNTHETIC, read_documents

np = require("numpy")

PERMUTATIONS = 32
BANDS = 8  # PERMUTATIONS // BANDS rows per band: pairs with Jaccard ~0.6+ usually share a band
SHINGLE = 5
_DOC_SHIFT = np.uint64(40)  # (document << 40) | (hash >> 24): one sort groups by document, then hash
_SEEDS = np.random.default_rng(20261201).integers(1, 2**63, size=(PERMUTATIONS, 2), dtype=np.uint64) | np.uint64(1)


def shard_bytes(shard: str) -> list[bytes]:
    """A shard's non-blank lines as UTF-8 bytes (a file is read as bytes, no decoding)."""
    if shard.startswith(SYNTHETIC):
        return [d.encode("utf-8") for d in read_documents(shard)]
    with open(shard, "rb") as f:
        return [line for line in f.read().split(b"\n") if line.strip()]


def _shingle_hashes(documents: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """One hash per 5-byte shingle of every document, and the document each belongs to."""
    padded = [d.ljust(SHINGLE) for d in documents]
    lengths = np.fromiter((len(d) - SHINGLE + 1 for d in padded), dtype=np.int64, count=len(padded))
    data = np.frombuffer(b"".join(padded), dtype=np.uint8).astype(np.uint64)
    ends = np.cumsum([len(d) for d in padded])
    valid = np.ones(len(data), dtype=bool)
    for k in range(1, SHINGLE):  # shingles that would run into the next document
        valid[ends - k] = False
    n = len(data) - SHINGLE + 1
    hashes = data[:n].copy()
    for k in range(1, SHINGLE):
        hashes *= np.uint64(0x100000001B3)
        hashes ^= data[k:n + k]
    owner = np.repeat(np.arange(len(padded), dtype=np.uint64), lengths)
    return hashes[valid[:n]], owner


def signatures(documents: list[bytes]) -> np.ndarray:
    """The MinHash signature of each document: shape (documents, PERMUTATIONS), uint64."""
    out = np.zeros((len(documents), PERMUTATIONS), dtype=np.uint64)
    if not documents:
        return out
    hashes, owner = _shingle_hashes(documents)
    first = np.searchsorted(owner, np.arange(len(documents), dtype=np.uint64))  # each document's first key
    keyed = owner << _DOC_SHIFT
    # Every step writes into these two buffers: no allocation in the loop (threads of one process
    # that allocate big arrays contend for its address space, which processes do not).
    mixed, scratch = np.empty_like(hashes), np.empty_like(hashes)
    for column, (multiplier, offset) in enumerate(_SEEDS):
        np.multiply(hashes, multiplier, out=mixed)
        np.add(mixed, offset, out=mixed)
        np.right_shift(mixed, np.uint64(29), out=scratch)
        np.bitwise_xor(mixed, scratch, out=mixed)
        np.right_shift(mixed, np.uint64(24), out=mixed)
        np.bitwise_or(mixed, keyed, out=mixed)
        mixed.sort()  # releases the GIL; afterwards each document's smallest hash leads its group
        out[:, column] = mixed[first] & np.uint64((1 << 40) - 1)
    return out


@dataclass
class Sketches:
    """MinHash signatures of some documents; ``merge`` concatenates, in shard order."""

    rows: list[np.ndarray]

    @property
    def documents(self) -> int:
        return sum(len(r) for r in self.rows)

    def merge(self, other: Sketches) -> Sketches:
        self.rows.extend(other.rows)
        return self


def sketch_shard(shard: str) -> Sketches:
    return Sketches([signatures(shard_bytes(shard))])


def merge_sketches(*parts: Sketches) -> Sketches:
    total = Sketches([])
    for part in parts:
        total.merge(part)
    return total


@dataclass(frozen=True)
class SketchSummary:
    documents: int
    permutations: int
    near_duplicate_pairs: int


def near_duplicate_pairs(matrix: np.ndarray) -> int:
    """Pairs of documents whose signatures agree on at least one whole band (counted once)."""
    if len(matrix) < 2:
        return 0
    rows = PERMUTATIONS // BANDS
    bands = matrix.reshape(len(matrix), BANDS, rows)
    pairs: set[tuple[int, int]] = set()
    for band in range(BANDS):
        _, inverse, counts = np.unique(bands[:, band, :], axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        for group in np.split(order, np.cumsum(counts)[:-1]):
            if len(group) > 1:
                members = group.tolist()
                pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1:])
    return len(pairs)


def summarize_sketches(sketches: Sketches, top: int = 10) -> SketchSummary:
    matrix = np.concatenate(sketches.rows) if sketches.rows else np.zeros((0, PERMUTATIONS), np.uint64)
    return SketchSummary(len(matrix), PERMUTATIONS, near_duplicate_pairs(matrix))
