"""The controller's pure core: what it plans for a namespace, how it detects drift, the queue."""

from __future__ import annotations

import asyncio

import pytest

from dask_kubeflow.kube.resources import ObjectRef, kind_of, ref_of
from dask_kubeflow.controller.livestate import (
    APPLIED_HASH_ANNOTATION,
    LiveState,
    differs,
    keep_live_replicas,
    with_hash,
)
from dask_kubeflow.controller.policy_source import policy_from_configmap
from dask_kubeflow.controller.reconcile import NamespaceInputs, plan
from dask_kubeflow.controller.facts import NamespaceMeta, ProfileFacts, Quota
from dask_kubeflow.kube.names import OPT_OUT_LABEL
from dask_kubeflow.controller.workqueue import WorkQueue
from dask_kubeflow.policy import Policy, PolicyError, parse_policy

POLICY = parse_policy({
    "tiers": [
        {"name": "big", "match": {"labels": {"team": "big"}}, "worker": {"threads": 8}},
        {"name": "off", "match": {"namespaces": ["off-*"]}, "enabled": False},
    ]
})
PROFILE = ProfileFacts(name="alice", uid="u1", owner="alice@example.com")


def inputs(name: str = "alice", labels: dict[str, str] | None = None, profile: bool = True) -> NamespaceInputs:
    return NamespaceInputs(name, ProfileFacts(name, PROFILE.uid, PROFILE.owner) if profile else None,
                           NamespaceMeta(labels=labels or {}, owner=None, terminating=False))


def test_plan_renders_the_matching_tier() -> None:
    result = plan(inputs(labels={"team": "big"}), POLICY)
    assert result.phase == "Ready" and result.tier == "big"
    kinds = {o["kind"] for o in result.desired}
    assert {"DaskCluster", "DaskAutoscaler", "PodDefault", "NetworkPolicy"} <= kinds
    assert result.facts is not None and result.facts.owner == "alice@example.com"


@pytest.mark.parametrize(
    ("case", "phase"),
    [
        (inputs("off-bob"), "Disabled"),
        (inputs(labels={OPT_OUT_LABEL: "true"}), "OptedOut"),
        (inputs(profile=False), "Removed"),
        (NamespaceInputs("alice", PROFILE, None), "Waiting"),
    ],
)
def test_plan_wants_nothing_when_the_namespace_should_have_no_cluster(case: NamespaceInputs, phase: str) -> None:
    result = plan(case, POLICY)
    assert result.phase == phase and result.desired == []


def test_unchanged_object_needs_no_write_even_with_server_added_fields() -> None:
    desired = with_hash(plan(inputs(), Policy.builtin()).desired[0])
    live = {**desired, "metadata": {**desired["metadata"], "resourceVersion": "7", "uid": "x",
                                    "annotations": {**desired["metadata"]["annotations"], "kopf": "y"}},
            "status": {"phase": "Running"}}
    assert not differs(desired, live)
    assert differs(desired, None)


def test_edited_field_or_stale_hash_is_drift() -> None:
    desired = with_hash(next(o for o in plan(inputs(), Policy.builtin()).desired if o["kind"] == "DaskCluster"))
    edited = {**desired, "spec": {**desired["spec"], "idleTimeout": 1}}
    assert differs(desired, edited) is False  # a field we never set is not ours to fight over
    edited["spec"]["scheduler"] = {}
    assert differs(desired, edited)
    stale = {**desired, "metadata": {**desired["metadata"], "annotations": {APPLIED_HASH_ANNOTATION: "old"}}}
    assert differs(desired, stale)


def test_replicas_follow_the_live_cluster_and_do_not_change_the_hash() -> None:
    desired = next(o for o in plan(inputs(), Policy.builtin()).desired if o["kind"] == "DaskCluster")
    live = {"spec": {"worker": {"replicas": 7}}}
    kept = keep_live_replicas(with_hash(desired), live)
    assert kept["spec"]["worker"]["replicas"] == 7
    assert with_hash(kept)["metadata"]["annotations"] == with_hash(desired)["metadata"]["annotations"]


def test_own_write_not_yet_echoed_counts_as_live() -> None:
    state = LiveState()
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n",
                                                                  "resourceVersion": "5"}}
    state.wrote(body)
    assert ObjectRef("v1", "ConfigMap", "n", "c") in state.view("n", [])
    older = {**body, "metadata": {**body["metadata"], "resourceVersion": "4"}}
    assert state.view("n", [older])[ref_of(body)]["metadata"]["resourceVersion"] == "5"
    newer = {**body, "metadata": {**body["metadata"], "resourceVersion": "6"}}
    assert state.view("n", [newer])[ref_of(body)]["metadata"]["resourceVersion"] == "6"
    state.deleted(ref_of(body), newer)
    assert state.view("n", [newer]) == {}


def test_unknown_kind_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="MANAGED_KINDS"):
        kind_of(ObjectRef("apps/v1", "Deployment", "n", "x"))


def test_policy_configmap_problems_are_named() -> None:
    body = {"metadata": {"namespace": "dask-kubeflow", "name": "p"},
            "data": {"policy.yaml": "defaults:\n  worker:\n    threads: 0\n"}}
    with pytest.raises(PolicyError, match=r"defaults\.worker\.threads"):
        policy_from_configmap(body, "policy.yaml")
    with pytest.raises(PolicyError, match="key is missing"):
        policy_from_configmap({"metadata": {}, "data": {}}, "policy.yaml")
    with pytest.raises(PolicyError, match="not valid YAML"):
        policy_from_configmap({"metadata": {}, "data": {"policy.yaml": "a: [1"}}, "policy.yaml")


async def test_queue_coalesces_and_never_hands_out_a_key_twice_at_once() -> None:
    queue = WorkQueue(base_delay=0.01)
    for _ in range(3):
        queue.add("a")
    queue.add("b")
    first = await queue.get()
    queue.add(first)  # an event while it is processed: run again after, not in parallel
    second = await queue.get()
    assert {first, second} == {"a", "b"}
    assert len(queue) == 1
    queue.done(first)
    assert await asyncio.wait_for(queue.get(), 2) == first
    retry = queue.done(first, failed=True)
    assert retry == 0.01 and queue.failures(first) == 1
    assert await asyncio.wait_for(queue.get(), 2) == first


def test_quota_too_small_for_the_tier_is_a_problem_naming_the_fix() -> None:
    small = NamespaceInputs("alice", PROFILE, NamespaceMeta(labels={}), quotas=(
        Quota(name="kf-resource-quota", hard={"limits.memory": "4Gi"}),))
    result = plan(small, Policy.builtin())
    assert result.desired  # still applied: nothing is torn down because of a quota
    assert "kf-resource-quota allows limits.memory=4Gi" in result.problem
    assert "resourceQuotaSpec" in result.problem and "Profile alice" in result.problem
    roomy = NamespaceInputs("alice", PROFILE, NamespaceMeta(labels={}), quotas=(
        Quota(name="kf-resource-quota", hard={"limits.memory": "64Gi", "cpu": "32"}),))
    assert plan(roomy, Policy.builtin()).problem == ""


def test_echo_of_our_write_is_recognised_and_then_the_index_is_trusted() -> None:
    state = LiveState()
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n",
                                                                  "resourceVersion": "5"}}
    state.wrote(body)
    assert state.is_echo(body)
    assert state.view("n", []) == {}  # deleted after the echo: gone, not "not yet arrived"


def test_the_status_record_carries_clusters_above_the_tier_and_status_and_doctor_show_them() -> None:
    from dataclasses import replace

    from dask_kubeflow.cli.cluster_cmd import status_rows
    from dask_kubeflow.client.doctor import doctor_checks
    from dask_kubeflow.kube.namespace_status import from_configmap, status_body, status_data, unchanged
    from tests.cli.test_status_doctor import ALL_ALLOWED, POD_ENV, by_name, healthy_probe, healthy_snapshot

    over = [{"cluster": "wide", "limit": "scaling.maximum",
             "message": "DaskCluster 'wide': spec.worker.replicas is 5, and tier 'default' now allows 2 workers"}]
    common = dict(phase="Ready", tier="default", message="m", last_error="", objects=[], contributors=(), policy="p")
    plain = status_data(**common)
    assert "exceeded" not in plain  # an older record without the key reads as unchanged
    assert unchanged(status_body("alice", plain, "t"), plain)
    data = status_data(**common, exceeded=over)
    assert not unchanged(status_body("alice", plain, "t"), data)  # listing one is a write; so is clearing it
    record = from_configmap("alice", status_body("alice", data, "t"))
    assert record["exceeded"] == over and from_configmap("alice", None)["exceeded"] == []

    rows = dict(status_rows(POD_ENV, healthy_snapshot(), healthy_probe(), record))
    assert "spec.worker.replicas is 5" in rows["above the tier"]
    checks = by_name(doctor_checks(POD_ENV, replace(healthy_snapshot(), controller=record), ALL_ALLOWED,
                                   healthy_probe()))
    check = checks["clusters within the tier?"]
    assert check.ok is False and "wide" in check.detail
    assert "clusters within the tier?" not in by_name(doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED,
                                                                    healthy_probe()))
