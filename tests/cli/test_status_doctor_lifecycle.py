"""``status`` and ``doctor`` on budgets and hibernation, from facts built by hand (no cluster).

The harness half (the real commands on a namespace whose budget is spent) is in
tests/client/test_kubernetes_connect.py and tests/controller/test_usage_e2e.py.
"""

from __future__ import annotations

import json
from dataclasses import replace

from dask_kubeflow.cli.cluster_cmd import status_document, status_rows
from dask_kubeflow.client.doctor import doctor_checks
from dask_kubeflow.kube.usage_record import EXCEEDED, OK, WARNING, BudgetTerms, from_configmap
from tests.cli.test_status_doctor import ALL_ALLOWED, NS, POD_ENV, by_name, cluster_obj, healthy_probe, healthy_snapshot
from tests.client.test_budget import record

TEAM = BudgetTerms(500, tier="team", contact="platform-team@example.com")
HIBERNATED_AT = "2026-12-01T03:00:00Z"


def _with_usage(core_hours: float, state: str, terms: BudgetTerms | None = TEAM):  # type: ignore[no-untyped-def]
    return replace(healthy_snapshot(), usage=from_configmap(NS, record(core_hours, state, terms)))


def test_doctor_fails_a_spent_budget_and_says_whom_to_ask() -> None:
    checks = by_name(doctor_checks(POD_ENV, _with_usage(512.3, EXCEEDED), ALL_ALLOWED, healthy_probe()))
    used, budget = checks["usage this month"], checks["budget"]
    assert used.ok is True and used.detail.startswith("512.30 core-hours, 1024.60 memory GiB-hours in 2026-12")
    assert budget.ok is False
    assert budget.detail.startswith("exceeded, 102%: budget spent: 512.30 of 500 core-hours used in 2026-12 (tier 'team')")
    assert "held at 0 worker(s)" in budget.detail and "platform-team@example.com" in budget.fix


def test_doctor_passes_a_warned_budget_with_the_line_to_act_on() -> None:
    budget = by_name(doctor_checks(POD_ENV, _with_usage(410, WARNING), ALL_ALLOWED, healthy_probe()))["budget"]
    assert budget.ok is True and budget.detail.startswith("warning, 82%: budget nearly spent: 410.00 of 500")
    assert "ask platform-team@example.com for more" in budget.detail
    fine = by_name(doctor_checks(POD_ENV, _with_usage(12.3, OK), ALL_ALLOWED, healthy_probe()))["budget"]
    assert fine.ok is True and fine.detail.startswith("ok, 2%: 12.30 of 500")


def test_doctor_and_status_say_nothing_about_a_budget_without_a_record() -> None:
    checks = by_name(doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, healthy_probe()))
    assert "budget" not in checks and "usage this month" not in checks
    rows = dict(status_rows(POD_ENV, healthy_snapshot(), healthy_probe()))
    assert "budget" not in rows and "usage this month" not in rows


def test_status_shows_the_budget_line_and_the_usage_in_table_and_json() -> None:
    snap = _with_usage(512.3, EXCEEDED)
    rows = status_rows(POD_ENV, snap, healthy_probe(), snap.controller)
    shown = dict(rows)
    assert shown["usage this month"].startswith("512.30 core-hours")
    assert shown["budget"].startswith("exceeded, 102%: budget spent: 512.30 of 500 core-hours used in 2026-12")
    assert "platform-team@example.com" in shown["budget"]
    doc = json.loads(json.dumps(status_document(rows, snap, snap.controller)))
    assert doc["usage"] == {
        "period": "2026-12", "coreHours": 512.3, "memoryGiBHours": 1024.6, "budgetCoreHours": 500, "percent": 102.5,
        "state": "exceeded", "tier": "team", "contact": "platform-team@example.com", "clampTo": 0,
        "message": shown["budget"].split(": ", 1)[1]}
    assert status_document(status_rows(POD_ENV, healthy_snapshot(), None), healthy_snapshot(), None)["usage"] is None


def _hibernated_snapshot():  # type: ignore[no-untyped-def]
    cluster = cluster_obj()
    cluster["metadata"]["annotations"]["dask.kubeflow.org/hibernated"] = HIBERNATED_AT
    controller = {"phase": "Ready", "tier": "gold", "message": "applied", "lifecycle": "Hibernated",
                  "lifecycleMessage": "idle for 3600s (lifecycle.hibernateAfter is 3600s)",
                  "lifecycleSince": HIBERNATED_AT}
    return replace(healthy_snapshot(), cluster=cluster, scheduler_pods=[], worker_pods=[], controller=controller)


def test_doctor_explains_a_hibernated_cluster_and_does_not_fail_it() -> None:
    checks = doctor_checks(POD_ENV, _hibernated_snapshot(), ALL_ALLOWED, None)
    named = by_name(checks)
    line = named["hibernation"]
    assert line.ok is True and line.detail.startswith(f"hibernated since {HIBERNATED_AT} (idle for 3600s")
    assert "connect()" in line.detail and "dask-kubeflow cluster wake" in line.detail
    assert named["scheduler pod ready"].ok is None and "hibernated" in named["scheduler pod ready"].detail
    assert not [c for c in checks if c.ok is False], [c for c in checks if c.ok is False]


def test_status_phase_says_hibernated_and_how_to_wake_it() -> None:
    snap = _hibernated_snapshot()
    rows = dict(status_rows(POD_ENV, snap, None, snap.controller))
    assert rows["phase"].startswith(f"Hibernated since {HIBERNATED_AT}: no scheduler while idle")
    assert "dask-kubeflow cluster wake" in rows["phase"] and "operator reports" not in rows["phase"]
    assert rows["lifecycle"].startswith("Hibernated: idle for 3600s")


def test_a_waking_cluster_is_waking_until_its_scheduler_is_ready() -> None:
    snap = _hibernated_snapshot()
    cluster = cluster_obj()  # the wake removed the annotation; the record still says Hibernated
    waking = replace(snap, cluster=cluster)
    assert dict(status_rows(POD_ENV, waking, None, waking.controller))["phase"].startswith("Waking")
    line = by_name(doctor_checks(POD_ENV, waking, ALL_ALLOWED, None))["hibernation"]
    assert line.ok is True and line.detail.startswith("waking")
    awake = replace(waking, scheduler_pods=healthy_snapshot().scheduler_pods)
    assert "hibernation" not in by_name(doctor_checks(POD_ENV, awake, ALL_ALLOWED, healthy_probe()))
