"""Usage ledgers and budgets (pure): exact intervals, restart safety, month rollover, clamping."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from dask_kubeflow.controller.accounting import Accounting
from dask_kubeflow.controller.activity import DASK_PODS, PodFacts, pod_facts
from dask_kubeflow.controller.clock import month_start, parse_rfc3339
from dask_kubeflow.controller.usage import (
    GIB,
    Ledger,
    account,
    budget_state,
    clamp_workers,
    clamped_maximum,
    departed,
)
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.policy.lifecycle import Budget

T0 = parse_rfc3339("2026-12-10T00:00:00Z") or 0.0


def _pod(uid: str, started: float, cpu: float = 0.5, memory: float = GIB, phase: str = "Running",
         finished: float | None = None, component: str = "worker") -> PodFacts:
    return PodFacts(uid, "dask-cluster", component, phase, True, started, finished, cpu, memory)


def test_n_pods_times_t_seconds_times_cpu() -> None:
    pods = [_pod(f"w{i}", T0) for i in range(3)]
    ledger, added = account(Ledger("2026-12"), pods, T0 + 100)
    assert ledger.usage["dask-cluster/worker"] == (3 * 100 * 0.5, 3 * 100 * 1.0)
    assert added == ledger.usage


def test_looking_again_counts_only_the_new_interval() -> None:
    pods = [_pod("w", T0)]
    first, _ = account(Ledger("2026-12"), pods, T0 + 10)
    second, added = account(first, pods, T0 + 25)
    assert added["dask-cluster/worker"][0] == 15 * 0.5
    assert second.core_seconds == 25 * 0.5


def test_a_restart_resumes_from_the_persisted_record_without_double_counting() -> None:
    pods = [_pod("w", T0), _pod("s", T0, cpu=0.25, component="scheduler")]
    before, _ = account(Ledger("2026-12"), pods, T0 + 60)
    restored = Ledger.from_data(before.to_data(), T0 + 90)  # the new controller reads the ConfigMap
    after, _ = account(restored, pods, T0 + 90)
    assert abs(after.core_seconds - 90 * 0.75) < 0.01  # nothing lost between 60 and 90, nothing twice


def test_a_finished_pod_stops_counting_and_a_pending_one_never_starts() -> None:
    pods = [_pod("done", T0, phase="Succeeded", finished=T0 + 5), _pod("waiting", None, phase="Pending")]
    ledger, _ = account(Ledger("2026-12"), pods, T0 + 100)
    assert ledger.core_seconds == 5 * 0.5 and "waiting" not in ledger.pods


def test_a_new_month_starts_a_new_ledger_from_its_first_second() -> None:
    start = month_start(T0, months_ahead=1)
    old, _ = account(Ledger("2026-12"), [_pod("w", T0)], T0 + 10)
    new, _ = account(old, [_pod("w", T0)], start + 4)
    assert new.period == "2027-01" and new.core_seconds == 4 * 0.5


def test_an_unreadable_record_starts_fresh() -> None:
    assert Ledger.from_data({"period": "x", "usage": "{not json"}, T0).usage == {}
    assert Ledger.from_data(None, T0).period == "2026-12"


def test_budget_states_and_messages_name_the_figures_and_whom_to_ask() -> None:
    budget = Budget(core_hours=1.0, clamp_to=0, warn_at=0.8, contact="ops@example.com")
    assert budget_state(Ledger("2026-12", {"c/worker": (0.5 * 3600, 0)}), budget, "gold").state == "ok"
    warn = budget_state(Ledger("2026-12", {"c/worker": (0.85 * 3600, 0)}), budget, "gold")
    assert warn.state == "warning" and "0.85 of 1 core-hours used in 2026-12 (tier 'gold')" in warn.message
    spent = budget_state(Ledger("2026-12", {"c/worker": (3600, 0)}), budget, "gold")
    assert spent.state == "exceeded" and "held at 0 worker(s)" in spent.message and "ops@example.com" in spent.message
    assert clamped_maximum(spent, budget) == 0 and clamped_maximum(warn, budget) is None
    assert budget_state(Ledger("2026-12"), Budget(), "gold").state == ""  # no budget


def test_the_clamp_lowers_the_rendered_autoscaler_maximum_only() -> None:
    policy = parse_policy({"defaults": {"scaling": {"minimum": 2, "maximum": 8}}})
    shape = resolve(policy, NamespaceFacts("team-a"))
    clamped = clamp_workers(shape, 0)
    assert (clamped.settings.scaling.maximum, clamped.settings.scaling.minimum) == (0, 0)
    assert clamp_workers(shape, 20) is shape and clamp_workers(shape, None) is shape
    assert shape.settings.scaling.maximum == 8  # the policy itself is untouched


def test_pod_facts_keep_requests_phase_and_times() -> None:
    facts = pod_facts({
        "metadata": {"uid": "u", "labels": {"dask.org/cluster-name": "c", "dask.org/component": "worker"}},
        "spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                                {"resources": {"requests": {"cpu": "250m"}}}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"state": {"running": {"startedAt": "2026-12-10T00:00:00Z"}}}]},
    })
    assert (facts.cpu, facts.memory, facts.started, facts.ready, facts.cluster) == (0.75, GIB, T0, True, "c")


# -- a pod deleted between two looks: accounted up to when it stopped --------------------------------------

def test_a_pod_deleted_between_looks_counts_up_to_when_it_stopped_never_twice() -> None:
    pod = _pod("w", T0)
    looked, _ = account(Ledger("2026-12"), [pod], T0 + 10)  # a look while it runs
    gone = departed(replace(pod, ended=T0 + 14.5), seen=T0 + 15)  # its containers' finishedAt
    after, added = account(looked, [gone], T0 + 40)  # the next look: deleted meanwhile
    assert added["dask-cluster/worker"][0] == 4.5 * 0.5 and after.core_seconds == 14.5 * 0.5
    forgotten, again = account(after, [], T0 + 70)
    assert again == {} and forgotten.core_seconds == after.core_seconds and "w" not in forgotten.pods


def test_without_finished_at_the_deletion_seen_counts_capped_by_the_deletion_timestamp() -> None:
    pod = _pod("w", T0)
    assert departed(pod, seen=T0 + 20).finished == T0 + 20  # the emulator: removed at once, no final status
    assert departed(replace(pod, deleting=T0 + 12), seen=T0 + 20).finished == T0 + 12  # killed by then
    earlier = departed(replace(pod, ended=T0 + 3), seen=T0 + 20)
    looked, _ = account(Ledger("2026-12"), [pod], T0 + 10)
    assert account(looked, [earlier], T0 + 30)[1] == {}  # stopped before the last look: nothing more


def test_pod_facts_say_when_every_container_ended_and_the_deletion_deadline() -> None:
    facts = pod_facts({
        "metadata": {"uid": "u", "deletionTimestamp": "2026-12-10T00:01:00Z",
                     "labels": {"dask.org/cluster-name": "c", "dask.org/component": "worker"}},
        "spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]},
        "status": {"phase": "Running", "containerStatuses": [{"state": {"terminated": {
            "startedAt": "2026-12-10T00:00:00Z", "finishedAt": "2026-12-10T00:00:30Z"}}}]},
    })
    assert (facts.started, facts.ended, facts.deleting, facts.finished) == (T0, T0 + 30, T0 + 60, None)


class _Informer:
    def __init__(self) -> None:
        self.pods: dict[str, list[PodFacts]] = {}
        self.listeners: list[Any] = []

    def items(self, source: Any, namespace: str) -> list[Any]:
        return list(self.pods.get(namespace, [])) if source is DASK_PODS else []

    def namespaces(self, source: Any) -> set[str]:
        return {ns for ns, pods in self.pods.items() if pods} if source is DASK_PODS else set()

    def on_deleted(self, source: Any, callback: Any) -> None:
        assert source is DASK_PODS
        self.listeners.append(callback)


class _Clock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


def test_the_accounting_loop_takes_the_deleted_pod_from_the_watch() -> None:
    informer = _Informer()
    controller = SimpleNamespace(informer=informer, policy=None, api=None)
    clock = _Clock(T0 + 10)
    accounting = Accounting(controller, clock, interval=30.0, flush=10 ** 9)  # type: ignore[arg-type]
    informer.pods["ns"] = [_pod("w", T0)]
    asyncio.run(accounting.tick())
    clock.value = T0 + 17
    informer.pods["ns"] = []  # the watch: DELETED, its last state still Running
    accounting.pod_deleted("ns", _pod("w", T0))
    clock.value = T0 + 40
    asyncio.run(accounting.tick())
    assert accounting._ledgers["ns"].core_seconds == 17 * 0.5  # up to the deletion, not to the last look (10)
    clock.value = T0 + 70
    asyncio.run(accounting.tick())
    assert accounting._ledgers["ns"].core_seconds == 17 * 0.5 and not accounting._ledgers["ns"].pods
