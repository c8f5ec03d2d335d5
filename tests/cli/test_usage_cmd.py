"""``dask-kubeflow usage``: the records read through kube/usage_record (the API read stubbed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dask_kubeflow.cli import usage_cmd
from dask_kubeflow.kube.usage_record import EXCEEDED, OK
from tests.cli.helpers import invoke
from tests.client.test_budget import record


def _serve(monkeypatch: pytest.MonkeyPatch, *records: dict[str, Any]) -> None:
    async def found(_namespace: str | None) -> list[dict[str, Any]]:
        return list(records)
    monkeypatch.setattr(usage_cmd, "_records", found)
    monkeypatch.setattr(usage_cmd.console, "_width", 250)


def test_usage_json_keeps_the_stored_fields_and_adds_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, record(512.3, EXCEEDED))
    out = json.loads(invoke(monkeypatch, "usage", "-n", "kubeflow-alice", "-o", "json").stdout)
    [row] = out["usage"]
    assert (row["cluster"], row["component"], row["coreHours"]) == ("dask-cluster", "worker", 512.3)
    [budget] = out["budgets"]
    assert budget["budget"] == "exceeded" and budget["budgetCoreHours"] == "500" and budget["percent"] == 102.5
    assert budget["contact"] == "platform-team@example.com" and budget["line"].startswith("exceeded, 102%: budget spent")


def test_usage_table_prints_one_budget_line_per_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = {"metadata": {"name": "dask-kubeflow-usage", "namespace": "kubeflow-bob"}, "data": {"usage": "{oops"}}
    _serve(monkeypatch, record(12.3, OK), broken)
    result = invoke(monkeypatch, "usage")
    assert result.exit_code == 0, result.stderr
    assert ("kubeflow-alice: ok, 2%: 12.30 of 500 core-hours used in 2026-12 (tier 'team'); more from "
            "platform-team@example.com") in result.stdout
    assert "kubeflow-bob" not in result.stdout  # a malformed record: no rows, no line
