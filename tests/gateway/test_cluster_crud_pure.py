"""The clusters page's pure parts: the phase read from pods and events, the tier's choices, refusals."""

from __future__ import annotations

from dask_kubeflow.client.refusals import refusal_lines, refusals
from dask_kubeflow.gateway.clusters_page import observed_phase, tier_choices

NS = "alice"


def _cluster(name: str, managed: bool = False, phase: str | None = "Running") -> dict:
    labels = {"app.kubernetes.io/managed-by": "dask-kubeflow"} if managed else {}
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": phase} if phase else {},
            "spec": {"worker": {"spec": {"containers": [{"resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}]}}}}


def _pod(cluster: str, component: str, ready: bool, name: str = "") -> dict:
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]} if ready else \
        {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                             "message": "0/3 nodes are available: 3 Insufficient cpu."}]}
    return {"metadata": {"name": name or f"{cluster}-{component}", "labels": {
        "dask.org/cluster-name": cluster, "dask.org/component": component}}, "status": status}


def test_a_healthy_cluster_is_running_not_unknown() -> None:
    pods = [_pod("c", "scheduler", True), _pod("c", "worker", True, "w1"), _pod("other", "worker", True)]
    assert observed_phase(NS, _cluster("c", phase=None), pods, []) == "Running (1 worker ready)"


def test_a_stuck_scheduler_says_why() -> None:
    phase = observed_phase(NS, _cluster("c"), [_pod("c", "scheduler", False)], [])
    assert phase.startswith("Not running:") and "Insufficient cpu" in phase


def test_no_pods_yet_is_starting_and_unreadable_pods_fall_back_to_the_operator() -> None:
    assert observed_phase(NS, _cluster("c"), [], []).startswith("Starting")
    assert observed_phase(NS, _cluster("c", phase=None), None, None) == "Unknown"


def test_the_form_offers_the_shared_clusters_shape() -> None:
    autoscaler = {"spec": {"cluster": "dask-cluster", "maximum": 4}}
    choices = tier_choices([_cluster("mine"), _cluster("dask-cluster", managed=True)], [autoscaler])
    assert choices == {"maxWorkers": 4, "workerCpu": ["500m", "1000m", "2"],
                       "workerMemory": ["1024Mi", "2048Mi", "4Gi"]}
    assert tier_choices([], []) == {"maxWorkers": None, "workerCpu": [], "workerMemory": []}


def test_refusals_newest_first_with_the_object_and_the_limit() -> None:
    events = [{"reason": "RefusedByTier", "lastTimestamp": f"2026-12-01T10:0{i}:00Z", "message": f"limit {i}",
               "involvedObject": {"kind": "DaskCluster", "name": f"c{i}"}} for i in range(3)]
    events.append({"reason": "Scheduled", "message": "other"})
    assert [r["object"] for r in refusals(events)] == ["c2", "c1", "c0"]
    assert refusal_lines(events, limit=1) == ["2026-12-01T10:02:00Z DaskCluster c2: limit 2"]
