"""render.user_cluster (pure) and the mutating decision that uses it: a user cluster is the tier's
cluster under its own name, its workers sized as asked, its owner the authenticated creator."""

from __future__ import annotations

import pytest

from dask_kubeflow.admission import Caller, Request, Trust, mutate, validate
from dask_kubeflow.kube.names import (DASHBOARD_PREFIX_ANNOTATION, MANAGED_BY_LABEL, OWNER_ANNOTATION,
                                      REQUESTED_ANNOTATION, USER_CLUSTER_LABEL)
from dask_kubeflow.policy import ClusterShape, ShapeSettings
from dask_kubeflow.render.user_cluster import (Requested, RequestError, fill_user_cluster, render_user_cluster,
                                               user_cluster_request)

SHAPE = ClusterShape("default", ShapeSettings())
GATEWAY = "system:serviceaccount:dask-kubeflow:dask-kubeflow-gateway"


def _worker(cluster: dict) -> dict:
    return cluster["spec"]["worker"]["spec"]["containers"][0]


def test_rendered_from_the_tier_under_its_own_name() -> None:
    cluster, autoscaler = render_user_cluster("alice", SHAPE, "mine", Requested(workers=3, worker_cpu="1"),
                                              owner="alice@example.com")
    meta = cluster["metadata"]
    assert meta["labels"][USER_CLUSTER_LABEL] == "true" and MANAGED_BY_LABEL not in meta["labels"]
    assert meta["annotations"][DASHBOARD_PREFIX_ANNOTATION] == "/dask/alice/mine"
    assert meta["annotations"][OWNER_ANNOTATION] == "alice@example.com"
    scheduler = cluster["spec"]["scheduler"]
    assert scheduler["service"]["selector"]["dask.org/cluster-name"] == "mine"
    assert "/dask/alice/mine" in scheduler["spec"]["containers"][0]["args"]
    assert _worker(cluster)["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"},
                                             "limits": {"cpu": "1", "memory": "4Gi"}}
    assert _worker(cluster)["image"] == ShapeSettings().image
    assert cluster["spec"]["worker"]["replicas"] == 0
    assert autoscaler["spec"] == {"cluster": "mine", "minimum": 0, "maximum": 3}


def test_a_smaller_request_lowers_the_request_too() -> None:
    cluster, _ = render_user_cluster("alice", SHAPE, "small", Requested(worker_cpu="500m", worker_memory="1Gi"))
    assert _worker(cluster)["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                             "limits": {"cpu": "500m", "memory": "1Gi"}}
    assert "--memory-limit" in _worker(cluster)["args"]


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"workers": True}, {"worker_cpu": "lots"},
                                    {"worker_memory": "-1Gi"}])
def test_sizes_that_are_not_sizes_are_refused(kwargs: dict) -> None:
    with pytest.raises(RequestError):
        Requested(**kwargs)


def test_the_annotation_round_trips() -> None:
    asked = Requested(workers=2, worker_cpu="1", worker_memory="2Gi")
    assert Requested.from_annotation(asked.to_annotation()) == asked
    with pytest.raises(RequestError, match="not JSON"):
        Requested.from_annotation("{")


def _create(obj: dict, user: str) -> Request:
    return Request(resource="daskclusters", operation="CREATE", namespace="alice", name=obj["metadata"]["name"],
                   caller=Caller(user, ()), obj=obj)


def test_the_mutating_webhook_renders_the_request_and_names_the_creator() -> None:
    sent, _ = user_cluster_request("alice", "mine", Requested(workers=2))
    sent["metadata"]["annotations"][OWNER_ANNOTATION] = "mallory@example.com"  # not believed from a user
    verdict = mutate(_create(sent, "alice@example.com"), SHAPE)
    assert verdict.allowed and verdict.patched is not None
    stored = verdict.patched
    assert stored["metadata"]["annotations"][OWNER_ANNOTATION] == "alice@example.com"
    assert stored["metadata"]["annotations"][REQUESTED_ANNOTATION] == '{"workers": 2}'
    assert _worker(stored)["name"] == "worker"
    assert validate(_create(stored, "alice@example.com"), SHAPE, Trust(frozenset(), frozenset())).allowed


def test_the_gateway_names_the_user_it_checked() -> None:
    sent, _ = user_cluster_request("alice", "mine", Requested())
    sent["metadata"]["annotations"][OWNER_ANNOTATION] = "bob@example.com"
    verdict = mutate(_create(sent, GATEWAY), SHAPE, delegates=frozenset({GATEWAY}))
    assert verdict.patched["metadata"]["annotations"][OWNER_ANNOTATION] == "bob@example.com"


def test_over_the_tier_is_refused_by_validation_naming_the_field() -> None:
    sent, _ = user_cluster_request("alice", "big", Requested(worker_cpu="8"))
    stored = mutate(_create(sent, "alice@example.com"), SHAPE).patched
    verdict = validate(_create(stored, "alice@example.com"), SHAPE, Trust(frozenset(), frozenset()))
    assert not verdict.allowed
    assert "resources.limits.cpu is 8, more than tier 'default' allows (2)" in verdict.message


def test_a_bad_requested_annotation_is_refused_by_mutation() -> None:
    sent, _ = user_cluster_request("alice", "bad", Requested())
    sent["metadata"]["annotations"][REQUESTED_ANNOTATION] = '{"workers": "many"}'
    verdict = mutate(_create(sent, "alice@example.com"), SHAPE)
    assert not verdict.allowed and "workers='many'" in verdict.message


def test_user_written_clusters_get_an_owner_and_keep_their_spec() -> None:
    written = {"metadata": {"name": "hand", "namespace": "alice"}, "spec": {"worker": {"spec": {}}}}
    filled = fill_user_cluster(written, SHAPE, "alice@example.com")
    assert filled["spec"] == written["spec"]
    assert filled["metadata"]["annotations"] == {OWNER_ANNOTATION: "alice@example.com"}
