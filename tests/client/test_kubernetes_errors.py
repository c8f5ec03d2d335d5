"""Every connect() error path against the API emulator, with the pod states and events a real cluster shows.

No operator and no pod runner here: each test seeds the namespace with exactly the objects a broken
cluster has (a scheduler pod stuck in ImagePullBackOff, a quota refusal event on the ReplicaSet, ...)
and checks connect() names the cause and the fix. ``doctor``/``status`` run as the real CLI.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
from kr8s.objects import Pod

import dask_kubeflow
from dask_kubeflow.client.errors import (
    ClusterNotFoundError,
    OperatorNotInstalledError,
    PermissionDeniedError,
    SchedulerNotReadyError,
    SchedulerUnreachableError,
)
from dask_kubeflow.kube.namespace_status import status_body, status_data
from dask_kubeflow.policy import NamespaceFacts, Policy
from dask_kubeflow.render import render_namespace
from tests.cli.helpers import invoke, rows
from tests.harness.emulator import Emulator

SCHEDULER_LABELS = {"dask.org/cluster-name": "dask-cluster", "dask.org/component": "scheduler"}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A private emulator (no operator acts on it, so the objects stay exactly as seeded)."""
    with Emulator(kubeconfig=tmp_path_factory.mktemp("errors") / "kubeconfig") as emu:
        emu.allow("*")  # SelfSubjectAccessReviews answer "allowed" unless a test says otherwise
        yield emu


@pytest.fixture
def kube(api_server: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("KUBECONFIG", str(api_server.kubeconfig))
    for var in [v for v in os.environ if v.startswith(("DASK_KUBERNETES__", "DASK_KUBEFLOW_", "NB_PREFIX", "KUBERNETES_SERVICE"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("DASK_KUBEFLOW_NAMESPACE_FILE", "/nonexistent")  # not a pod: kubeconfig + namespace
    return api_server


def namespace(emu: Emulator, *, with_cluster: bool = True) -> str:
    name = f"kf-{secrets.token_hex(3)}"
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    if with_cluster:
        for obj in render_namespace(NamespaceFacts(name), Policy.builtin().default_shape()):
            if obj["kind"] in ("DaskCluster", "DaskAutoscaler"):
                emu.create(obj)
    return name


def pod(ns: str, status: dict[str, Any], name: str = "dask-cluster-scheduler-5d8f7-abcde") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": SCHEDULER_LABELS},
            "spec": {"containers": [{"name": "scheduler", "image": "ghcr.io/dask/dask:2026.8.0-py3.12"}]},
            "status": status}


def event(ns: str, kind: str, obj: str, reason: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{obj}.{secrets.token_hex(4)}", "namespace": ns},
            "involvedObject": {"kind": kind, "name": obj, "namespace": ns},
            "reason": reason, "message": message, "type": "Warning", "count": 3,
            "lastTimestamp": "2026-11-26T09:00:00Z"}


def seed(emu: Emulator, *objs: dict[str, Any]) -> None:
    """Store the objects; a pod's status goes through the status subresource, as the kubelet writes it."""
    api = kr8s.api(kubeconfig=str(emu.kubeconfig))
    for obj in objs:
        status = obj.pop("status", None) if obj["kind"] == "Pod" else None
        emu.create(obj)
        if status:
            Pod.get(obj["metadata"]["name"], namespace=obj["metadata"]["namespace"], api=api).patch(
                {"status": status}, subresource="status")


def test_no_cluster_of_that_name(kube: Emulator) -> None:
    ns = namespace(kube)
    with pytest.raises(ClusterNotFoundError) as info:
        dask_kubeflow.connect(namespace=ns, cluster_name="analytics", timeout=5)
    assert f"no Dask cluster named 'analytics' in namespace '{ns}'" in str(info.value)
    assert "clusters in" in str(info.value) and "dask-cluster" in str(info.value)
    assert "cluster_name='dask-cluster'" in info.value.fix


def test_operator_crds_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with Emulator(crds=[], kubeconfig=tmp_path / "kubeconfig") as bare:
        monkeypatch.setenv("KUBECONFIG", str(bare.kubeconfig))
        with pytest.raises(OperatorNotInstalledError) as info:
            dask_kubeflow.connect(namespace="default", timeout=5)
    assert "does not serve the kubernetes.dask.org/v1 API" in str(info.value)
    assert "install the dask-kubernetes operator" in info.value.fix


def test_rbac_forbids_names_verb_and_resource(kube: Emulator) -> None:
    ns = namespace(kube)
    kube.fault("list", "daskclusters.kubernetes.dask.org", status=403, count=20, namespace=ns)
    with pytest.raises(PermissionDeniedError) as info:
        dask_kubeflow.connect(namespace=ns, timeout=5)
    err = info.value
    assert (err.verb, err.resource, err.namespace) == ("list", "daskclusters.kubernetes.dask.org", ns)
    assert f"may not list daskclusters.kubernetes.dask.org in namespace '{ns}'" in str(err)
    assert "'list' on 'daskclusters.kubernetes.dask.org'" in err.fix


def test_scheduler_pending_because_quota_is_exhausted(kube: Emulator) -> None:
    ns = namespace(kube)
    seed(kube, event(ns, "ReplicaSet", "dask-cluster-scheduler-5d8f7", "FailedCreate",
                     'pods "dask-cluster-scheduler-5d8f7-x2x9q" is forbidden: exceeded quota: kf-resource-quota, '
                     "requested: cpu=1,memory=2Gi, used: cpu=8,memory=30Gi, limited: cpu=8,memory=32Gi"))
    with pytest.raises(SchedulerNotReadyError) as info:
        dask_kubeflow.connect(namespace=ns, timeout=1)
    message = str(info.value)
    assert "was not ready after 1 s" in message
    assert "the namespace quota is exhausted: ResourceQuota kf-resource-quota refused the pod" in message
    assert "used: cpu=8" in message and f"kubectl get resourcequota -n {ns}" in info.value.fix


def test_scheduler_pending_unschedulable(kube: Emulator) -> None:
    ns = namespace(kube)
    seed(kube, pod(ns, {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient memory."}]}))
    with pytest.raises(SchedulerNotReadyError) as info:
        dask_kubeflow.connect(namespace=ns, timeout=1)
    assert "cannot place it (0/3 nodes are available: 3 Insufficient memory.)" in str(info.value)


def test_scheduler_image_pull_failure(kube: Emulator) -> None:
    ns = namespace(kube)
    name = "dask-cluster-scheduler-5d8f7-abcde"
    seed(kube,
         pod(ns, {"phase": "Pending", "containerStatuses": [
             {"name": "scheduler", "image": "ghcr.io/dask/dask:2026.8.0-py3.12", "ready": False, "restartCount": 0,
              "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
         event(ns, "Pod", name, "Failed", 'Failed to pull image "ghcr.io/dask/dask:2026.8.0-py3.12": '
               "dial tcp: lookup ghcr.io: no such host"))
    with pytest.raises(SchedulerNotReadyError) as info:
        dask_kubeflow.connect(namespace=ns, timeout=1)
    message = str(info.value)
    assert f"pod {name} cannot pull image ghcr.io/dask/dask:2026.8.0-py3.12 (ImagePullBackOff" in message
    assert "no such host" in message


def test_scheduler_crash_loop(kube: Emulator) -> None:
    ns = namespace(kube)
    name = "dask-cluster-scheduler-5d8f7-abcde"
    seed(kube, pod(ns, {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [
                            {"name": "scheduler", "image": "x", "ready": False, "restartCount": 6,
                             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}))
    with pytest.raises(SchedulerNotReadyError) as info:
        dask_kubeflow.connect(namespace=ns, timeout=1)
    assert f"pod {name} is crash-looping (CrashLoopBackOff, 6 restarts; last run: exit code 1, Error)" in str(info.value)
    assert f"kubectl logs -n {ns} {name} --previous" in info.value.fix


def test_ready_scheduler_that_cannot_be_reached_times_out_with_a_reason(kube: Emulator) -> None:
    ns = namespace(kube)
    seed(kube,
         pod(ns, {"phase": "Running", "podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}],
                  "containerStatuses": [{"name": "scheduler", "image": "x", "ready": True, "restartCount": 0,
                                         "state": {"running": {}}}]}),
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dask-cluster-scheduler", "namespace": ns,
                                                              "labels": SCHEDULER_LABELS},
          "spec": {"selector": SCHEDULER_LABELS, "ports": [{"name": "tcp-comm", "port": 8786}]}})
    kube.fault("list", "services", status="hang", count=100, namespace=ns)  # the network path never answers
    with pytest.raises(SchedulerUnreachableError) as info:
        dask_kubeflow.connect(namespace=ns, timeout=3)
    assert f"the scheduler of 'dask-cluster' in '{ns}' is running but could not be reached within" in str(info.value)
    assert "NetworkPolicy" in info.value.fix and "pods/portforward" in info.value.fix


def run_cli(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DASK_KUBERNETES__", "DASK_KUBEFLOW_", "NB_PREFIX", "KUBERNETES_SERVICE"))}
    env.update(KUBECONFIG=str(kubeconfig), COLUMNS="250", HOME=str(kubeconfig.parent),
               DASK_KUBEFLOW_NAMESPACE_FILE="/nonexistent")
    return subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_doctor_and_status_on_a_broken_namespace(kube: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = namespace(kube)
    seed(kube, pod(ns, {"phase": "Pending", "containerStatuses": [
        {"name": "scheduler", "image": "registry.example/dask:missing", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}}}]}))
    doctor = invoke(monkeypatch, "doctor", "-n", ns)
    assert doctor.exit_code == 1, doctor.stdout + doctor.stderr
    lines = rows(doctor.stdout)
    assert "✓ pass" in lines["Dask operator CRDs installed"]
    assert "✓ pass" in lines["may list daskclusters.kubernetes.dask.org"]
    assert "✓ pass" in lines["cluster 'dask-cluster' exists"]
    assert "✗ fail" in lines["scheduler pod ready"] and "cannot pull image registry.example/dask:missing" in lines["scheduler pod ready"]
    assert "– skip" in lines["can reach the scheduler?"]
    assert "1 check(s) failed" in doctor.stderr

    status = invoke(monkeypatch, "status", "-n", ns)
    assert status.exit_code == 0, status.stderr
    assert f"Dask cluster {ns}/dask-cluster" in status.stdout
    assert "0 ready pod(s) / 0 / 4" in status.stdout  # built-in tier: minimum 0, maximum 4
    assert f"/dask/{ns}/dask-cluster/status" in status.stdout
    assert "the scheduler is not reachable" in status.stderr


def test_doctor_names_missing_permissions(kube: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = namespace(kube)
    kube.fault("list", "pods", status=403, count=100, namespace=ns)  # RBAC refuses pods, nothing else
    doctor = invoke(monkeypatch, "doctor", "-n", ns)
    assert doctor.exit_code == 1
    lines = rows(doctor.stdout)
    assert "✓ pass" in lines["may list daskclusters.kubernetes.dask.org"]
    assert "✗ fail" in lines["may list pods"] and "403 Forbidden" in lines["may list pods"]
    assert "'list' on 'pods' in" in lines["may list pods"] and f"'{ns}'" in doctor.stdout
    assert "– skip" in lines["scheduler pod ready"]


def test_doctor_without_kubernetes(tmp_path: Path) -> None:
    """The installed console script, end to end: no pod, no kubeconfig."""
    doctor = run_cli("doctor", kubeconfig=tmp_path / "missing")
    assert doctor.returncode == 1
    assert "not in a pod and no kubeconfig found" in doctor.stdout
    assert "no namespace found" in doctor.stdout


STATUS_THEN_MODULES = """
import sys
from typer.testing import CliRunner
from dask_kubeflow.cli import app
result = CliRunner().invoke(app, ["status", "-n", sys.argv[1]], catch_exceptions=False)
print("EXIT", result.exit_code)
print(result.stdout)
heavy = ("aiohttp", "prometheus_client", "kopf")
print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith("dask_kubeflow.controller")))
"""


def test_status_reads_the_controllers_record_without_loading_the_controller(kube: Emulator, tmp_path: Path) -> None:
    """The whole ``status`` command in a fresh interpreter: it shows the controller's status ConfigMap
    and never imports the controller (nor aiohttp or prometheus_client) to read it."""
    ns = namespace(kube)
    kube.create(status_body(ns, status_data(phase="Error", tier="gold", message="apply failed",
                                            last_error="exceeded quota: kf-resource-quota", objects=[],
                                            contributors=(), policy="p1"), "2026-11-26T10:00:00Z"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DASK_KUBERNETES__", "DASK_KUBEFLOW_", "NB_PREFIX", "KUBERNETES_SERVICE"))}
    env.update(KUBECONFIG=str(kube.kubeconfig), COLUMNS="250", HOME=str(tmp_path),
               DASK_KUBEFLOW_NAMESPACE_FILE="/nonexistent")
    run = subprocess.run([sys.executable, "-c", STATUS_THEN_MODULES, ns], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "EXIT 0" in run.stdout, run.stdout + run.stderr
    assert f"Dask cluster {ns}/dask-cluster" in run.stdout
    assert "Error (since 2026-11-26T10:00:00Z): apply failed" in run.stdout
    assert "exceeded quota: kf-resource-quota" in run.stdout
    assert "LOADED []" in run.stdout
