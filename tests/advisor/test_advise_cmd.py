"""``dask-kubeflow advise`` on a user's file and sample."""

from typer.testing import CliRunner

from dask_kubeflow.cli import app

runner = CliRunner()
ENV = {"COLUMNS": "200", "DASK_KUBEFLOW_POLICY": ""}

USER_CODE = '''
def count_vowels(path):
    total = 0
    for _ in range(20):
        with open(path, encoding="utf-8") as f:
            for ch in f.read():
                total += ch in "aeiou"
    return total

SAMPLE = []
'''


def test_advise_a_function_in_a_file_over_a_glob_of_files(tmp_path):
    (tmp_path / "work.py").write_text(USER_CODE)
    for i in range(6):
        (tmp_path / f"doc{i}.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 400)
    result = runner.invoke(app, ["advise", f"{tmp_path / 'work.py'}:count_vowels", "--sample", str(tmp_path / "*.txt")],
                           env=ENV)
    assert result.exit_code == 0, result.output
    assert "Measured 6 item(s)" in result.output
    assert "Verdict: GIL-bound" in result.output
    assert "defaults:\n  worker:\n    threads: 1\n    processes: 2" in result.output


def test_advise_says_what_is_missing_or_wrong(tmp_path):
    (tmp_path / "work.py").write_text(USER_CODE)
    target = f"{tmp_path / 'work.py'}:count_vowels"
    result = runner.invoke(app, ["advise", target], env=ENV)
    assert result.exit_code == 1 and "give --sample" in result.output
    result = runner.invoke(app, ["advise", f"{tmp_path / 'work.py'}:nothing", "--sample", "x"], env=ENV)
    assert result.exit_code == 1 and "has no 'nothing'; names it defines: SAMPLE, count_vowels" in result.output
    result = runner.invoke(app, ["advise", target, "--sample", str(tmp_path / "*.none")], env=ENV)
    assert result.exit_code == 1 and "matches no files" in result.output
    result = runner.invoke(app, ["advise", target, "--sample", f"{tmp_path / 'work.py'}:SAMPLE"], env=ENV)
    assert result.exit_code == 1 and "needs a non-empty sample" in result.output
    result = runner.invoke(app, ["advise", "no_such_module_xyz:f", "--sample", "x"], env=ENV)
    assert result.exit_code == 1 and "cannot import 'no_such_module_xyz'" in result.output
