"""User clusters left above a tier the admin lowered: which cluster, which limit, what to do (pure)."""

from __future__ import annotations

from dask_kubeflow.admission import Usage, counted, exceedances
from dask_kubeflow.policy import parse_policy, resolve

from .conftest import FACTS, managed_objects, user_cluster, worker_group_of

# alice's tier after the admin lowered it: 1 CPU per worker, 2 workers per cluster, 1 cluster of her own.
LOWERED = parse_policy({
    "defaults": {"scaling": {"maximum": 2}, "userClusters": {"maximum": 1, "totalWorkers": 3},
                 "worker": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                          "limits": {"cpu": "1", "memory": "2Gi"}}}},
})


def _shape():
    return resolve(LOWERED, FACTS)


def _big(name: str = "big", replicas: int = 1, cpu: str = "4") -> dict:
    cluster = user_cluster(name, replicas)
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    worker["resources"] = {"requests": {"cpu": cpu, "memory": "2Gi"}, "limits": {"cpu": cpu, "memory": "2Gi"}}
    return cluster


def _usage(*clusters: dict, autoscalers: tuple = (), groups: tuple = ()) -> Usage:
    managed = managed_objects()
    return Usage((managed["DaskCluster"], *clusters), groups, (managed["DaskAutoscaler"], *autoscalers))


def test_a_cluster_within_the_lowered_tier_and_the_managed_cluster_are_not_listed():
    assert exceedances(_shape(), _usage(user_cluster("fits", 1))) == ()


def test_larger_requests_than_the_new_tier_name_the_cluster_the_field_the_limit_and_the_fix():
    found = exceedances(_shape(), _usage(_big("big", 1, cpu="4")))
    assert {(e.cluster, e.limit) for e in found} == {("big", "worker.resources.requests.cpu"),
                                                      ("big", "worker.resources.limits.cpu")}
    message = next(e.message for e in found if e.limit == "worker.resources.requests.cpu")
    assert "spec.worker.spec.containers[0].resources.requests.cpu is 4" in message
    assert "tier 'default' now allows 1" in message
    assert "dask-kubeflow cluster delete big" in message and "keep running" in message


def test_more_workers_than_the_new_maximum_on_the_cluster_and_its_autoscaler():
    autoscaler = {"metadata": {"name": "wide", "namespace": "alice"}, "spec": {"cluster": "wide", "maximum": 6}}
    found = exceedances(_shape(), _usage(user_cluster("wide", 5), autoscalers=(autoscaler,)))
    per_cluster = [e for e in found if e.limit == "scaling.maximum"]
    assert {e.message.split(":")[0] for e in per_cluster} == {"DaskCluster 'wide'", "DaskAutoscaler 'wide'"}
    assert all(e.cluster == "wide" and "allows 2 workers per cluster" in e.message for e in per_cluster)
    assert any("cluster.adapt(minimum=0, maximum=2)" in e.message for e in per_cluster)
    total = next(e for e in found if e.limit == "userClusters.totalWorkers")
    assert "6 workers together" in total.message and "allows 3 in total" in total.message


def test_more_clusters_than_user_clusters_maximum_lists_them_all_and_how_many_to_delete():
    found = exceedances(_shape(), _usage(user_cluster("one", 1), user_cluster("two", 1)))
    (count,) = [e for e in found if e.limit == "userClusters.maximum"]
    assert count.cluster == "*"
    assert "2 clusters of its own (one, two)" in count.message and "delete 1 of them" in count.message


def test_a_worker_group_of_a_user_cluster_is_checked_and_one_being_deleted_is_not():
    cluster = user_cluster("grp", 1)
    group = worker_group_of(cluster, replicas=4)
    found = exceedances(_shape(), _usage(cluster, groups=(group,)))
    assert any(e.limit == "scaling.maximum" and e.message.startswith("DaskWorkerGroup") for e in found)
    gone = _big("gone")
    gone["metadata"]["deletionTimestamp"] = "2026-12-01T12:00:00Z"
    assert exceedances(_shape(), _usage(gone)) == ()


def test_the_cache_keeps_requests_only_of_users_objects():
    assert counted("daskclusters", managed_objects()["DaskCluster"]).asks == ()
    asks = counted("daskclusters", _big()).asks
    assert ("spec.worker.spec.containers[0].resources.requests.cpu", "worker", "requests", "cpu", "4") in asks
