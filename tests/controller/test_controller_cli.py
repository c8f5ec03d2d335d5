"""``dask-kubeflow controller`` refuses bad options before starting, naming the fix."""

from __future__ import annotations

from typer.testing import CliRunner

from dask_kubeflow.cli import app


def test_bad_policy_location_and_log_format_are_refused() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["controller", "--policy-configmap", "just-a-name"])
    assert result.exit_code == 1 and "must be NAMESPACE/NAME" in result.output
    result = runner.invoke(app, ["controller", "--log-format", "xml"])
    assert result.exit_code == 1 and "use full, plain or json" in result.output
