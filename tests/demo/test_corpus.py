from collections import Counter

import pytest

from dask_kubeflow.demo.corpus import (
    PHRASES,
    describe_files,
    expand_corpus,
    read_documents,
    synthetic_documents,
    synthetic_shards,
    write_synthetic_corpus,
)
from dask_kubeflow.demo.nlp import count_documents, summarize
from dask_kubeflow.demo.text import stop_words, words


def test_synthetic_corpus_is_deterministic_and_seed_dependent():
    assert list(synthetic_documents(1, 0, 20)) == list(synthetic_documents(1, 0, 20))
    assert list(synthetic_documents(1, 0, 20)) != list(synthetic_documents(2, 0, 20))
    assert list(synthetic_documents(1, 0, 20)) != list(synthetic_documents(1, 1, 20))


def test_synthetic_corpus_reads_like_english():
    documents = list(synthetic_documents(2026, 0, 300))
    every_word = Counter(w for d in documents for w in words(d))
    assert [w for w, _ in every_word.most_common(3)] == ["the", "to", "and"]  # real frequencies
    summary = summarize(count_documents(documents), top=10)
    top = [term for term, _ in summary.top_terms]
    assert stop_words().isdisjoint(top)
    assert all(term.isalpha() and term.isascii() for term in top)  # ordinary words, not invented stems
    assert sum(bigram in {"new york", "next week", "last year", "world cup"} for bigram, _ in summary.top_bigrams) >= 2
    assert "new york" in PHRASES  # the collocations the top bigrams come from


def test_some_documents_are_near_duplicate_reposts():
    documents = list(synthetic_documents(7, 0, 400))
    reposts = 0
    for i, doc in enumerate(documents):
        mine = doc.split(" ")
        reposts += any(len(mine) == len(other.split(" ")) and
                       sum(a != b for a, b in zip(mine, other.split(" "))) <= 1 for other in documents[:i])
    assert 2 <= reposts <= 30


def test_written_files_and_synthetic_uris_read_the_same_documents(tmp_path):
    paths = write_synthetic_corpus(tmp_path, seed=5, shards=3, documents_per_shard=7)
    uris = synthetic_shards(5, 3, 7)
    for path, uri in zip(paths, uris):
        assert [d.rstrip("\n") for d in read_documents(path)] == list(read_documents(uri))
        assert len(list(read_documents(path))) == 7


def test_reading_skips_blank_lines_and_replaces_bad_bytes(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes("one doc\n\n  \ncafé 東\n".encode("utf-8") + b"caf\xe9 latin-1\n")
    documents = [d.strip() for d in read_documents(str(f))]
    assert documents[:2] == ["one doc", "café 東"] and len(documents) == 3
    assert documents[2] == "caf\ufffd latin-1"
    assert count_documents(documents).replaced == 1


def test_expand_corpus_sorted_and_helpful_when_empty(tmp_path):
    (tmp_path / "b.txt").write_text("x\n")
    (tmp_path / "a.txt").write_text("y\n")
    (tmp_path / "sub").mkdir()
    assert expand_corpus(str(tmp_path / "*.txt")) == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert describe_files(expand_corpus(str(tmp_path / "*.txt"))) == "2 file(s), 4 B"
    with pytest.raises(FileNotFoundError, match=r"matches no files; give a glob of text files"):
        expand_corpus(str(tmp_path / "*.md"))
