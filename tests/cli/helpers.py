"""Run ``dask-kubeflow`` commands in this process and read their rich tables back."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from dask_kubeflow.cli import app
from dask_kubeflow.cli import cluster_cmd


def invoke(monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """``dask-kubeflow ARGS`` with stdout/stderr captured and wide consoles (tables stay one line per row)."""
    for console in (cluster_cmd.console, cluster_cmd.err_console):
        monkeypatch.setattr(console, "_width", 250)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def rows(text: str) -> dict[str, str]:
    """Table rows keyed by their first cell."""
    return {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 3}
