"""The usage record's one format and what users read from it (pure; no cluster).

The controller writes ConfigMap ``dask-kubeflow-usage`` with ``kube.usage_record``; connect(), ``status``,
``doctor`` and ``usage`` read it with the same module. A missing, forbidden or malformed record says
nothing and never fails connect().
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

from dask_kubeflow.client import budget as budget_mod
from dask_kubeflow.client import cluster_api
from dask_kubeflow.client.budget import BudgetCheck
from dask_kubeflow.client.errors import BudgetSpentError, WorkersNotReadyError
from dask_kubeflow.kube.errors import KubeError
from dask_kubeflow.kube.sync import run
from dask_kubeflow.kube.usage_record import (
    EXCEEDED,
    OK,
    WARNING,
    BudgetTerms,
    budget_data,
    budget_entry,
    budget_line,
    budget_message,
    budget_notice,
    budget_summary,
    from_configmap,
    ledger_data,
    parse,
    record_body,
)

NS = "kubeflow-alice"
TEAM = BudgetTerms(500, tier="team", contact="platform-team@example.com", clamp_to=0, warn_at=0.8)


def record(core_hours: float, state: str, terms: BudgetTerms | None = TEAM, period: str = "2026-12") -> dict[str, Any]:
    """A usage ConfigMap as the controller writes it: ``core_hours`` on the workers, 2 GiB per core."""
    data = ledger_data(period, {"dask-cluster/worker": (core_hours * 3600, core_hours * 7200)}, {"uid-1": 1.0e9}, state)
    data |= budget_data(terms, budget_message(state, core_hours, period, terms))
    return record_body(NS, data)


def test_a_spent_budget_reads_back_with_the_figures_and_whom_to_ask() -> None:
    parsed = from_configmap(NS, record(512.3, EXCEEDED))
    assert parsed is not None and parsed.state == EXCEEDED and parsed.terms == TEAM
    assert round(parsed.core_hours, 3) == 512.3 and round(parsed.percent or 0) == 102
    notice = budget_notice(parsed)
    assert notice is not None
    assert notice.message == ("budget spent: 512.30 of 500 core-hours used in 2026-12 (tier 'team'); the autoscaler "
                              "is held at 0 worker(s) until the month ends or the budget is raised — ask "
                              "platform-team@example.com")
    assert notice.blocks(1) and not notice.blocks(0)
    assert "platform-team@example.com" in notice.fix and "at most 0 worker(s)" in notice.fix
    assert budget_line(parsed).startswith("exceeded, 102%: budget spent: 512.30 of 500")


def test_warning_ok_and_no_budget() -> None:
    warned = from_configmap(NS, record(410, WARNING))
    notice = budget_notice(warned)
    assert notice is not None and notice.state == WARNING and not notice.blocks(5)
    assert notice.message.startswith("budget nearly spent: 410.00 of 500 core-hours used in 2026-12 (tier 'team')")
    assert "ask platform-team@example.com for more" in notice.message
    fine = from_configmap(NS, record(12.3, OK))
    assert fine is not None and budget_notice(fine) is None
    assert budget_line(fine) == ("ok, 2%: 12.30 of 500 core-hours used in 2026-12 (tier 'team'); "
                                 "more from platform-team@example.com")
    free = from_configmap(NS, record(3, OK, terms=None))
    assert free is not None and free.terms is None and budget_notice(free) is None
    assert budget_line(free) == "3.00 core-hours used in 2026-12 (no budget)"
    assert budget_summary(free)["budgetCoreHours"] is None and budget_summary(free)["state"] == ""


@pytest.mark.parametrize("body", [
    None,
    {"metadata": {"name": "dask-kubeflow-usage"}},
    {"data": {}},
    {"data": {"period": "2026-12", "usage": "{not json"}},
    {"data": {"period": "2026-12", "usage": "{}", "budget": "exceeded", "budgetCoreHours": "lots"}},
    {"data": {"period": "2026-12", "usage": "{}", "budget": "on fire", "budgetCoreHours": "5"}},
    {"data": {"period": "2026-12", "usage": '{"a/worker": [1]}'}},
], ids=["missing", "no-data", "empty", "bad-json", "bad-budget", "bad-state", "short-pair"])
def test_a_missing_or_malformed_record_says_nothing(body: Any) -> None:
    assert from_configmap(NS, body) is None
    assert budget_notice(from_configmap(NS, body)) is None


def test_a_record_of_an_older_writer_reads_with_default_terms() -> None:
    """Written before the tier's terms were in the record: the budget figures, a generic contact."""
    data = {"period": "2026-12", "usage": '{"c/worker":[36000,0]}', "pods": "{}", "coreHours": "10.0000",
            "budget": "exceeded", "budgetCoreHours": "8", "budgetMessage": "budget spent: ..."}
    notice = budget_notice(parse(NS, data))
    assert notice is not None and notice.clamp_to == 0
    assert notice.message.startswith("budget spent: 10.00 of 8 core-hours") and "your platform admin" in notice.message


def test_the_usage_command_entry_keeps_the_stored_fields_and_adds_the_figures() -> None:
    entry = budget_entry(NS, record(512.3, EXCEEDED)["data"])
    assert entry["budget"] == "exceeded" and entry["budgetCoreHours"] == "500"  # as stored (budget_of)
    assert entry["percent"] == 102.5 and entry["contact"] == "platform-team@example.com" and entry["clampTo"] == 0
    assert budget_entry(NS, {"usage": "{oops"}) == {"namespace": NS, "period": "", "coreHours": 0.0,
                                                    "budgetCoreHours": "", "budget": "", "message": ""}


def test_the_controllers_writer_and_the_readers_share_one_format() -> None:
    """What accounting writes is what connect() reads, and the sentence is the controller's Event's."""
    from dask_kubeflow.controller.accounting import usage_body
    from dask_kubeflow.controller.usage import Ledger, budget_state
    from dask_kubeflow.policy.lifecycle import Budget

    ledger = Ledger("2026-12", {"dask-cluster/worker": (0.6 * 3600, 1.0)}, {"u": 1.0}, EXCEEDED)
    state = budget_state(ledger, Budget(core_hours=0.5, clamp_to=1, contact="ops@example.com"), "gold")
    parsed = from_configmap(NS, usage_body(NS, ledger, state))
    assert parsed is not None and parsed.terms == BudgetTerms(0.5, "gold", "ops@example.com", 1, 0.8)
    notice = budget_notice(parsed)
    assert notice is not None and notice.message == state.message and notice.blocks(2) and not notice.blocks(1)
    assert Ledger.from_data(usage_body(NS, ledger, state)["data"], 0) == ledger


# -- connect()'s side: BudgetCheck -----------------------------------------------------------------

def _answer(monkeypatch: pytest.MonkeyPatch, result: Any) -> None:
    """BudgetCheck's read answers ``result`` (an exception: it fails; "never": it does not answer)."""
    def submit(coro: Any) -> concurrent.futures.Future[Any]:
        coro.close()
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if isinstance(result, BaseException):
            future.set_exception(result)
        elif result != "never":
            future.set_result(result)
        return future
    monkeypatch.setattr(budget_mod, "submit", submit)


def test_connect_fails_fast_when_the_spent_budget_holds_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    _answer(monkeypatch, from_configmap(NS, record(512.3, EXCEEDED)))
    check = BudgetCheck("dask-cluster", NS)
    with pytest.raises(BudgetSpentError) as info:
        check.enforce(2, timeout=30)
    err = info.value
    assert isinstance(err, WorkersNotReadyError)  # what a caller catching "no workers" already catches
    assert err.problem.startswith("cannot wait for 2 Dask worker(s) of 'dask-cluster' in 'kubeflow-alice': budget spent: "
                                  "512.30 of 500 core-hours used in 2026-12 (tier 'team')")
    assert "platform-team@example.com" in err.problem and "platform-team@example.com" in err.fix
    assert "fix:" in str(err)


def test_connect_says_a_spent_or_nearly_spent_budget_once(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _answer(monkeypatch, from_configmap(NS, record(410, WARNING)))
    check = BudgetCheck("dask-cluster", NS)
    check.enforce(3, timeout=30)  # a warning does not stop anyone
    check.announce()
    check.announce()
    assert capsys.readouterr().err.splitlines() == [
        "dask-kubeflow: budget nearly spent: 410.00 of 500 core-hours used in 2026-12 (tier 'team'); past 500 the "
        "autoscaler is held at 0 worker(s) — ask platform-team@example.com for more"]


@pytest.mark.parametrize("answer", [None, KubeError("forbidden", status=403), "never",
                                    from_configmap(NS, record(1, OK))], ids=["none", "failed", "no-answer", "ok"])
def test_connect_says_nothing_without_a_spent_budget(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                     answer: Any) -> None:
    _answer(monkeypatch, answer)
    check = BudgetCheck("dask-cluster", NS)
    check.enforce(5, timeout=0.05)
    check.announce(wait=0.05)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("failure", [KubeError("forbidden", status=403), KubeError("no answer", status=None),
                                     ValueError("kubeconfig")], ids=["forbidden", "no-answer", "credentials"])
def test_reading_the_record_never_raises(monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    async def refuse(*_args: Any) -> Any:
        raise failure
    monkeypatch.setattr(cluster_api, "_list_named", refuse)
    assert run(cluster_api.usage_record(NS), 10) is None


def test_a_malformed_record_in_the_namespace_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    async def found(*_args: Any) -> Any:
        return [{"metadata": {"name": "dask-kubeflow-usage"}, "data": {"usage": "[1, 2"}}]
    monkeypatch.setattr(cluster_api, "_list_named", found)
    assert run(cluster_api.usage_record(NS), 10) is None
