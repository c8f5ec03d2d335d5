import pytest

from dask_kubeflow.demo.corpus import expand_corpus, read_documents, synthetic_documents, synthetic_shards, write_synthetic_corpus


def test_synthetic_corpus_is_deterministic_and_seed_dependent():
    assert list(synthetic_documents(1, 0, 20)) == list(synthetic_documents(1, 0, 20))
    assert list(synthetic_documents(1, 0, 20)) != list(synthetic_documents(2, 0, 20))
    assert list(synthetic_documents(1, 0, 20)) != list(synthetic_documents(1, 1, 20))


def test_written_files_and_synthetic_uris_read_the_same_documents(tmp_path):
    paths = write_synthetic_corpus(tmp_path, seed=5, shards=3, documents_per_shard=7)
    uris = synthetic_shards(5, 3, 7)
    for path, uri in zip(paths, uris):
        assert [d.rstrip("\n") for d in read_documents(path)] == list(read_documents(uri))
        assert len(list(read_documents(path))) == 7


def test_reading_skips_blank_lines(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one doc\n\n  \nanother doc\n")
    assert [d.strip() for d in read_documents(str(f))] == ["one doc", "another doc"]


def test_expand_corpus_sorted_and_helpful_when_empty(tmp_path):
    (tmp_path / "b.txt").write_text("x\n")
    (tmp_path / "a.txt").write_text("y\n")
    (tmp_path / "sub").mkdir()
    assert expand_corpus(str(tmp_path / "*.txt")) == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    with pytest.raises(FileNotFoundError, match=r"matches no files; give a glob of text files"):
        expand_corpus(str(tmp_path / "*.md"))
