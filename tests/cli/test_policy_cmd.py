from typer.testing import CliRunner

from dask_kubeflow.cli import app

runner = CliRunner()


def test_policy_check_prints_tiers_in_matching_order(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "defaults:\n  scaling: {maximum: 6}\n"
        "tiers:\n"
        "  - name: gpu\n    match: {namespaces: [ml-*]}\n    worker: {gpus: 1}\n"
        "  - name: partners\n    match: {owners: ['@partner.example']}\n"
    )
    result = runner.invoke(app, ["policy", "check", str(policy)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2 tier(s) + defaults, first match wins" in out
    assert out.index("gpu") < out.index("partners") < out.index("every other namespace")
    assert "0–6" in out
    assert "is valid" in out


def test_policy_check_lists_every_problem_and_exits_1(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults:\n  worker: {threads: 0, memory: 4Gb}\n")
    result = runner.invoke(app, ["policy", "check", str(policy)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "2 problem(s); the policy was not loaded" in result.output
    assert "defaults.worker.threads" in result.output
    assert "defaults.worker.memory: unknown key" in result.output


def test_policy_check_missing_file(tmp_path):
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "missing.yaml")], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "cannot read the file" in result.output
