"""``dask-kubeflow demo`` end to end on a real embedded cluster, with a small corpus."""

import re

from typer.testing import CliRunner

from dask_kubeflow.cli import app

runner = CliRunner()
ENV = {"COLUMNS": "200", "DASK_KUBEFLOW_POLICY": ""}


def test_demo_on_the_synthetic_corpus_prints_results_and_speed_up():
    result = runner.invoke(app, ["demo", "--local", "--documents", "120", "--shards", "4", "--top", "3"], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"Dask dashboard: http://127\.0\.0\.1:\d+/status", out)
    assert "Corpus: synthetic corpus, seed 2026, 4 × 30 documents" in out
    assert "120 documents" in out
    assert re.search(r"distributed\s+│\s+[\d.]+\s+│\s+[\d,]+\s+│\s+[\d.]+×", out)
    assert re.search(r"serial\s+│\s+[\d.]+\s+│\s+[\d,]+\s+│\s+1\.00×", out)


def test_demo_reads_a_corpus_glob(tmp_path):
    (tmp_path / "a.txt").write_text("Parallel parsing of documents\nDask parses documents in parallel\n")
    (tmp_path / "b.txt").write_text("documents documents everywhere\n")
    result = runner.invoke(app, ["demo", "--local", "--corpus", str(tmp_path / "*.txt"), "--top", "2", "--compare"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "2 file(s) matching" in result.output
    assert re.search(r"1 │ document\s+│\s+4 │", result.output)  # stemmed, counted across files
    assert "too little work for parallelism to pay off" in result.output
    assert "3 documents" in result.output
    assert "dask threads scheduler" in result.output and "dask processes scheduler" in result.output


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
