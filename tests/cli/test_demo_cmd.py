"""``dask-kubeflow demo`` end to end on a real embedded cluster, with a small corpus."""

import re

import pytest
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.cli.app import console, err_console

runner = CliRunner()
ENV = {"COLUMNS": "200", "DASK_KUBEFLOW_POLICY": ""}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Lines stay whole for the regexes: the console's width, not COLUMNS, which a console created
    elsewhere in the same process (an xdist worker) may already have fixed at 80."""
    for each in (console, err_console):
        monkeypatch.setattr(each, "_width", 200)


def row(run: str, layout: str, speed_up: str = r"[\d.]+×") -> str:
    return rf"{run}\s+│\s+{layout}\s+│\s+[\d.]+\s+│\s+[\d,]+\s+│\s+{speed_up}"


def test_demo_on_the_synthetic_corpus_prints_english_terms_and_speed_up():
    result = runner.invoke(app, ["demo", "--local", "--documents", "120", "--shards", "4", "--top", "3"], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"Dask dashboard: http://127\.0\.0\.1:\d+/status", out)
    assert "Corpus: synthetic corpus, seed 2026, 4 × 30 documents (English words" in out
    assert "120 documents" in out and "scripts: Latin 100%" in out
    assert re.search(row(r"terms\s+│ distributed", "2×1"), out)
    assert re.search(row(r"terms\s+│ serial", "1×1", r"1\.00×"), out)
    # progress in a pipe: plain lines for every phase, not silence
    assert "terms: distributed, 2×1: started, 4 shards" in out
    assert re.search(r"terms: serial baseline \(one process, one thread\): done, 4/4 shards", out)
    top = re.findall(r"│ [123] │ (\w+)\s+│", out)
    assert len(top) == 3 and all(t.isascii() and t.isalpha() for t in top)


def test_demo_reads_a_utf8_corpus_glob_and_compares_both_workloads(tmp_path):
    (tmp_path / "a.txt").write_text("Parallel parsing of documents\nDask parses documents in parallel\n", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("documents, documents: café Café 東京\n".encode() + b"caf\xe9 documents\n")
    result = runner.invoke(app, ["demo", "--local", "--corpus", str(tmp_path / "*.txt"), "--top", "2", "--compare"],
                           env=ENV)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"Corpus: 2 file\(s\), \d+ B matching .*\*\.txt", out)
    assert re.search(r"1 │ document\s+│\s+5 │", out)  # stemmed, counted across files
    assert "2 │ café" in out
    assert re.search(r"4 documents, .*scripts: Latin \d+%, Han \d+%; 1 undecodable byte", out)
    assert "too little work for parallelism to pay off" in out and "--documents" not in out.split("note:")[1]
    for workload in ("terms", "sketch"):
        for run, layout in (("serial", "1×1"), ("dask threads", "1×2"), ("dask processes", "2×1"),
                            ("distributed", "1×2"), ("distributed", "2×1")):
            assert re.search(row(f"{workload}\\s+│ {run}", layout), out), (workload, run, layout)
        assert re.search(rf"^{workload}: \w+ (win|won)", out, re.M)
    assert out.count("★") == 3


def test_demo_bad_corpus_and_layout_exit_1(tmp_path):
    result = runner.invoke(app, ["demo", "--local", "--corpus", str(tmp_path / "*.txt")], env=ENV)
    assert result.exit_code == 1
    assert "matches no files" in result.output
    result = runner.invoke(app, ["demo", "--local", "--layout", "fast"], env=ENV)
    assert result.exit_code == 1
    assert "--layout 'fast' is not one of policy, processes, threads" in result.output


def test_demo_bad_policy_exits_1(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("defaults: {worker: {threads: 0}}\n")
    result = runner.invoke(app, ["demo", "--local", "--policy", str(policy)], env=ENV)
    assert result.exit_code == 1
    assert "defaults.worker.threads" in result.output
