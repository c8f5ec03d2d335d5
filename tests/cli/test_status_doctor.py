"""``dask-kubeflow status`` and ``doctor``: what they print for healthy and broken namespaces.

The first half builds the facts by hand (every failure a doctor line can show, no cluster needed);
the harness half (below) runs the real commands against the emulator, operator and local pods.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.console import Console

from dask_kubeflow.cli.cluster_cmd import checks_table, status_rows
from dask_kubeflow.client.doctor import Check, doctor_checks
from dask_kubeflow.client.environment import Environment
from dask_kubeflow.client.errors import ClusterNotFoundError
from dask_kubeflow.client.snapshot import ClusterSnapshot, ProbeResult

NS = "kubeflow-alice"
POD_ENV = Environment(in_pod=True, namespace=NS, namespace_source="service-account file", cluster_name="dask-cluster",
                      cluster_name_source="default", kubeconfig=None, tier="gold",
                      dashboard_link=f"/dask/{NS}/dask-cluster/status")
ALL_ALLOWED = [("list", "daskclusters.kubernetes.dask.org", True, "find the cluster"), ("list", "pods", True, "see pods")]


def ready_pod(name: str, component: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"dask.org/component": component}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def cluster_obj() -> dict[str, Any]:
    container = {"name": "worker", "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
    return {"metadata": {"name": "dask-cluster", "labels": {"dask.kubeflow.org/tier": "gold"},
                         "annotations": {"dask.kubeflow.org/dashboard-prefix": f"/dask/{NS}/dask-cluster"}},
            "spec": {"worker": {"spec": {"containers": [container]}},
                     "scheduler": {"spec": {"containers": [{"name": "scheduler", "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}]}}},
            "status": {"phase": "Running"}}


def healthy_snapshot() -> ClusterSnapshot:
    return ClusterSnapshot(
        NS, "dask-cluster", api_served=True, cluster=cluster_obj(),
        autoscaler={"spec": {"minimum": 0, "maximum": 8}},
        scheduler_pods=[ready_pod("dask-cluster-scheduler-abc", "scheduler")],
        worker_pods=[ready_pod("dask-cluster-default-worker-1", "worker")],
        quotas=[{"metadata": {"name": "kf-resource-quota"},
                 "status": {"hard": {"cpu": "20", "memory": "64Gi", "pods": "50"}, "used": {"cpu": "3", "memory": "6Gi"}}}],
        controller={"phase": "Ready", "tier": "gold", "message": "3 objects applied"},
    )


def healthy_probe() -> ProbeResult:
    return ProbeResult(scheduler_address=f"tcp://dask-cluster-scheduler.{NS}:8786", mismatches={}, workers=1, threads=2,
                       memory=4 * 2**30, dashboard_link=f"/dask/{NS}/dask-cluster/status",
                       dashboard_url=f"http://dask-cluster-scheduler.{NS}:8787/dask/{NS}/dask-cluster/status",
                       dashboard_status=200)


def render(table: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_doctor_healthy_namespace_passes_everything() -> None:
    checks = doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, healthy_probe())
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    names = [c.name for c in checks]
    for expected in ("inside a pod?", "namespace?", "Dask operator CRDs installed", "may list daskclusters.kubernetes.dask.org",
                     "cluster 'dask-cluster' exists", "scheduler pod ready", "can reach the scheduler?",
                     "same versions as the cluster", "dashboard link reachable?"):
        assert expected in names
    text = render(checks_table(checks))
    assert "✗" not in text and "✓ pass" in text


def test_doctor_outside_kubernetes_says_what_to_do() -> None:
    env = Environment(in_pod=False, namespace=None, namespace_source="none", cluster_name="dask-cluster",
                      cluster_name_source="default", kubeconfig=None)
    checks = by_name(doctor_checks(env, None, [], None))
    assert checks["inside a pod?"].ok is False and "KUBECONFIG" in checks["inside a pod?"].fix
    assert checks["namespace?"].ok is False and "--namespace" in checks["namespace?"].fix


def test_doctor_missing_crds() -> None:
    snap = ClusterSnapshot(NS, "dask-cluster", api_served=False)
    checks = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))
    assert checks["Dask operator CRDs installed"].ok is False
    assert "install the dask-kubernetes operator" in checks["Dask operator CRDs installed"].fix
    assert "cluster 'dask-cluster' exists" not in checks


def test_doctor_rbac_denied_names_verb_and_resource() -> None:
    access = [("list", "daskclusters.kubernetes.dask.org", False, "find the cluster"), ("list", "pods", True, "see pods")]
    checks = by_name(doctor_checks(POD_ENV, healthy_snapshot(), access, healthy_probe()))
    line = checks["may list daskclusters.kubernetes.dask.org"]
    assert line.ok is False and "'list' on 'daskclusters.kubernetes.dask.org'" in line.fix and NS in line.fix


def test_doctor_cluster_missing_lists_others() -> None:
    err = ClusterNotFoundError("dask-cluster", NS, ["mine"])
    snap = ClusterSnapshot(NS, "dask-cluster", api_served=True, error=err, clusters=["mine"])
    line = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))["cluster 'dask-cluster' exists"]
    assert line.ok is False and "mine" in line.detail


def test_doctor_broken_scheduler_and_versions_and_dashboard() -> None:
    snap = replace(healthy_snapshot(), scheduler_pods=[{"metadata": {"name": "dask-cluster-scheduler-abc"},
                            "status": {"phase": "Pending", "containerStatuses": [
                                {"name": "scheduler", "image": "bad:tag", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}])
    checks = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))
    assert checks["scheduler pod ready"].ok is False and "cannot pull image bad:tag" in checks["scheduler pod ready"].detail
    assert checks["can reach the scheduler?"].ok is None

    probe = replace(healthy_probe(), mismatches={"distributed": ("2026.3.0", "2026.8.0")}, dashboard_status=404)
    checks = by_name(doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, probe))
    assert checks["same versions as the cluster"].ok is False
    assert "pip install distributed==2026.8.0" in checks["same versions as the cluster"].fix
    assert checks["dashboard link reachable?"].ok is False and "HTTP 404" in checks["dashboard link reachable?"].detail
    text = render(checks_table(list(checks.values())))
    assert "✗ fail" in text and "pip install distributed==2026.8.0" in text


def test_doctor_unreachable_scheduler() -> None:
    probe = ProbeResult(error="the scheduler of 'dask-cluster' could not be reached")
    line = by_name(doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, probe))["can reach the scheduler?"]
    assert line.ok is False and "NetworkPolicy" in line.fix


def test_status_rows_healthy_live() -> None:
    rows = dict(status_rows(POD_ENV, healthy_snapshot(), healthy_probe()))
    assert rows["namespace"].startswith(NS)
    assert rows["phase"] == "Running: scheduler ready, 1 worker(s) ready"
    assert rows["scheduler"] == f"tcp://dask-cluster-scheduler.{NS}:8786"
    assert rows["workers now / min / max"] == "1 / 0 / 8"
    assert rows["cores and memory"].startswith("2 threads, 4.00 GiB")
    assert rows["tier"] == "gold"
    assert "worker 2 cpu, 4Gi memory" in rows["tier limits"] and "at most 8 workers" in rows["tier limits"]
    assert "kf-resource-quota: cpu 3/20, memory 6Gi/64Gi used" in rows["tier limits"]
    assert rows["dashboard"] == f"/dask/{NS}/dask-cluster/status"


def test_status_rows_without_scheduler_fall_back_to_pod_specs() -> None:
    snap = healthy_snapshot()
    env = Environment(in_pod=False, namespace=NS, namespace_source="argument", cluster_name="dask-cluster",
                      cluster_name_source="default", kubeconfig="/k")
    rows = dict(status_rows(env, snap, None))
    assert rows["workers now / min / max"] == "1 ready pod(s) / 0 / 8"
    assert "from pod specs" in rows["cores and memory"]
    assert rows["dashboard"] == f"/dask/{NS}/dask-cluster/status"  # from the cluster's gateway prefix


def test_status_rows_show_what_the_controller_reported() -> None:
    managed = {"phase": "Error", "lastTransitionTime": "2026-11-26T10:00:00Z", "tier": "gold",
               "message": "apply failed", "lastError": "exceeded quota: kf-resource-quota, requested: limits.cpu=2"}
    rows = dict(status_rows(POD_ENV, healthy_snapshot(), healthy_probe(), managed))
    assert rows["controller"] == "Error (since 2026-11-26T10:00:00Z): apply failed"
    assert rows["applied tier"] == "gold"
    assert rows["last error"].startswith("exceeded quota")
    assert "controller" not in dict(status_rows(POD_ENV, healthy_snapshot(), healthy_probe()))


def test_the_status_path_does_not_import_the_controller() -> None:
    """``status`` and ``doctor`` read the controller's status ConfigMap through kube/: importing the CLI
    and everything those commands load leaves the controller (and aiohttp, prometheus_client) unloaded."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import dask_kubeflow.cli, dask_kubeflow.client.cluster_api, dask_kubeflow.client.probe\n"
        "heavy = ('aiohttp', 'prometheus_client', 'kopf')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('dask_kubeflow.controller')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
