"""Diagnosis rules over the JSON the Kubernetes API returns (pure: no cluster needed)."""

from __future__ import annotations

from typing import Any

import pytest

from dask_kubeflow.client.diagnose import (
    compare_versions,
    explain_forbidden,
    explain_pods,
    pod_is_ready,
    summarize_phase,
)
from dask_kubeflow.client.errors import (
    ClusterNotFoundError,
    PermissionDeniedError,
    VersionMismatchError,
)

NS = "kubeflow-alice"


def pod(name: str = "dask-cluster-scheduler-7d9f-abcde", phase: str = "Pending", *, ready: bool = False,
        waiting: str | None = None, restarts: int = 0, last: dict | None = None,
        unschedulable: str | None = None, image: str = "ghcr.io/dask/dask:2026.8.0-py3.12") -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable is not None:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable})
    status: dict[str, Any] = {"phase": phase, "conditions": conditions}
    if waiting or restarts or last:
        cs: dict[str, Any] = {"name": "scheduler", "image": image, "restartCount": restarts,
                              "state": {"waiting": {"reason": waiting, "message": f"{waiting} message"}} if waiting else {"running": {}}}
        if last:
            cs["lastState"] = {"terminated": last}
        status["containerStatuses"] = [cs]
    return {"metadata": {"name": name, "namespace": NS}, "status": status}


def event(obj: str, reason: str, message: str, kind: str = "Pod", type_: str = "Warning", ts: str = "2026-11-26T09:00:00Z") -> dict[str, Any]:
    return {"involvedObject": {"kind": kind, "name": obj, "namespace": NS}, "reason": reason, "message": message,
            "type": type_, "lastTimestamp": ts}


def test_ready_pod_needs_no_explanation() -> None:
    ready = pod(phase="Running", ready=True)
    assert pod_is_ready(ready)
    assert explain_pods([ready, pod(name="old")], [], NS) is None


def test_quota_exhausted_is_read_from_replicaset_failedcreate() -> None:
    events = [event("dask-cluster-scheduler-7d9f", "FailedCreate", 'pods "dask-cluster-scheduler-7d9f-x" is forbidden: '
                    "exceeded quota: kf-resource-quota, requested: cpu=1, used: cpu=8, limited: cpu=8", kind="ReplicaSet")]
    found = explain_pods([], events, NS, owners=["dask-cluster-scheduler"], cluster={"status": {"phase": "Pending"}})
    assert found is not None
    assert "quota is exhausted" in found.reason and "kf-resource-quota" in found.reason
    assert "requested: cpu=1, used: cpu=8, limited: cpu=8" in found.reason
    assert f"kubectl get resourcequota -n {NS}" in found.fix


def test_pending_pod_refused_by_quota_at_scheduling() -> None:
    stuck = pod(unschedulable="0/3 nodes are available: exceeded quota: kf-resource-quota, requested: memory=4Gi")
    found = explain_pods([stuck], [], NS)
    assert found is not None and "quota is exhausted" in found.reason


def test_unschedulable_pod_names_the_scheduler_message() -> None:
    stuck = pod(unschedulable="0/3 nodes are available: 3 Insufficient cpu.")
    found = explain_pods([stuck], [], NS)
    assert found is not None
    assert "Insufficient cpu" in found.reason and "cannot place it" in found.reason


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"])
def test_image_pull_failure_names_the_image_and_event(reason: str) -> None:
    stuck = pod(waiting=reason, image="registry.example/dask:nope")
    events = [event(stuck["metadata"]["name"], "Failed", 'Failed to pull image "registry.example/dask:nope": not found')]
    found = explain_pods([stuck], events, NS)
    assert found is not None
    assert "cannot pull image registry.example/dask:nope" in found.reason
    assert "not found" in found.reason and reason in found.reason
    assert "image name" in found.fix


def test_crash_loop_gives_exit_code_and_log_command() -> None:
    crashing = pod(phase="Running", waiting="CrashLoopBackOff", restarts=4,
                   last={"exitCode": 1, "reason": "Error", "message": "Traceback...\nModuleNotFoundError: No module named 'x'"})
    found = explain_pods([crashing], [], NS)
    assert found is not None
    assert "crash-looping" in found.reason and "4 restarts" in found.reason and "exit code 1" in found.reason
    assert "ModuleNotFoundError" in found.reason
    assert f"kubectl logs -n {NS} {crashing['metadata']['name']} --previous" in found.fix


def test_oom_killed_suggests_more_memory() -> None:
    crashing = pod(phase="Running", waiting="CrashLoopBackOff", restarts=2, last={"exitCode": 137, "reason": "OOMKilled"})
    found = explain_pods([crashing], [], NS)
    assert found is not None and "OOMKilled" in found.reason and "more memory" in found.fix


def test_running_but_not_ready_reports_probe() -> None:
    unready = pod(phase="Running")
    events = [event(unready["metadata"]["name"], "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404")]
    found = explain_pods([unready], events, NS)
    assert found is not None and "not ready" in found.reason and "statuscode: 404" in found.reason


def test_no_pod_and_no_cluster_status_blames_the_operator() -> None:
    found = explain_pods([], [], NS, owners=["dask-cluster-scheduler"], cluster={"metadata": {"name": "dask-cluster"}})
    assert found is not None and "operator" in found.reason and "kubectl get pods -A -l app.kubernetes.io/name=dask-kubernetes-operator" in found.fix


def test_events_of_other_objects_are_ignored() -> None:
    stuck = pod()
    events = [event("someone-elses-pod", "Failed", "Failed to pull image x")]
    found = explain_pods([stuck], events, NS)
    assert found is not None and "still Pending" in found.reason


def test_worker_pods_are_explained_the_same_way() -> None:
    events = [event("dask-cluster-default-worker-0123456789-abc", "FailedCreate",
                    "exceeded quota: kf-resource-quota, requested: cpu=2", kind="ReplicaSet")]
    found = explain_pods([], events, NS, what="worker", owners=["dask-cluster-default-worker"])
    assert found is not None and "quota" in found.reason


def test_forbidden_message_is_parsed() -> None:
    message = ('daskclusters.kubernetes.dask.org "dask-cluster" is forbidden: User "system:serviceaccount:kubeflow-alice:'
               'default-editor" cannot get resource "daskclusters" in API group "kubernetes.dask.org" in the namespace '
               '"kubeflow-alice"')
    verb, resource, user = explain_forbidden(message, verb="list", resource="x", namespace=NS)
    assert (verb, resource, user) == ("get", "daskclusters.kubernetes.dask.org", "system:serviceaccount:kubeflow-alice:default-editor")
    err = PermissionDeniedError(verb, resource, NS, user)
    assert "may not get daskclusters.kubernetes.dask.org" in str(err) and "fix:" in str(err)


def test_forbidden_message_without_details_falls_back_to_the_attempt() -> None:
    assert explain_forbidden("forbidden", verb="list", resource="pods", namespace=NS) == ("list", "pods", None)


def test_version_comparison() -> None:
    client = {"packages": {"dask": "2026.3.0", "distributed": "2026.3.0", "numpy": "2.0"}}
    scheduler = {"packages": {"dask": "2026.8.0", "distributed": "2026.8.0", "numpy": "2.1"}}
    mismatches = compare_versions(client, scheduler)
    assert mismatches == {"dask": ("2026.3.0", "2026.8.0"), "distributed": ("2026.3.0", "2026.8.0")}
    assert compare_versions(client, client) == {}
    err = VersionMismatchError(mismatches, "ghcr.io/dask/dask:2026.8.0-py3.12")
    assert "dask 2026.3.0 here vs 2026.8.0 on the scheduler" in str(err)
    assert "pip install dask==2026.8.0 distributed==2026.8.0" in err.fix


def test_cluster_not_found_lists_what_exists() -> None:
    err = ClusterNotFoundError("dask-cluster", NS, ["other"])
    assert "no Dask cluster named 'dask-cluster'" in str(err) and "other" in str(err)
    assert "cluster_name='other'" in err.fix
    assert "there is no DaskCluster" in str(ClusterNotFoundError("dask-cluster", NS, []))


def test_summarize_phase() -> None:
    assert summarize_phase(None, []) == "cluster Created (no status yet); waiting for the scheduler pod"
    assert summarize_phase({"status": {"phase": "Pending"}}, [pod(waiting="ImagePullBackOff")]) == \
        "cluster Pending; scheduler pod ImagePullBackOff"
    assert summarize_phase({"status": {"phase": "Running"}}, [pod(phase="Running", ready=True)]) == \
        "cluster Running; scheduler pod ready"


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/apis/kubernetes.dask.org/v1/namespaces/ns/daskclusters", ("list", "daskclusters.kubernetes.dask.org")),
    ("GET", "/api/v1/namespaces/ns/services/dask-cluster-scheduler", ("get", "services")),
    ("POST", "/api/v1/namespaces/ns/pods/p/portforward", ("create", "pods/portforward")),
    ("GET", "/version", ("get", "fallback")),
])
def test_forbidden_request_names_rbac_verb_and_resource(method: str, path: str, expected: tuple[str, str]) -> None:
    from dask_kubeflow.kube.errors import request_verb_resource

    assert request_verb_resource(method, path, "get", "fallback") == expected


def test_permission_denied_is_built_from_a_kube_error() -> None:
    from dask_kubeflow.kube.errors import KubeError

    said = KubeError("list pods failed (HTTP 403)", status=403, verb="list", resource="pods", namespace=NS,
                     detail=f'pods is forbidden: User "system:serviceaccount:{NS}:default-editor" cannot watch '
                            f'resource "pods" in API group "" in the namespace "{NS}"')
    err = PermissionDeniedError.from_kube(said)
    assert (err.verb, err.resource, err.namespace) == ("watch", "pods", NS)
    assert err.user == f"system:serviceaccount:{NS}:default-editor" and err.user in err.problem

    silent = KubeError("forbidden", status=403, verb="list", resource="daskclusters.kubernetes.dask.org", detail="")
    err = PermissionDeniedError.from_kube(silent, NS)
    assert (err.verb, err.resource, err.namespace, err.user) == ("list", "daskclusters.kubernetes.dask.org", NS, None)
    assert "this notebook's service account may not list daskclusters.kubernetes.dask.org" in err.problem
