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


# -- quotas, the controller's record, our own phase, versions, -o json ------------------------------

def _quota(name: str, hard: dict[str, str], used: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"hard": hard, "used": used or {}}}


def _small_cluster() -> dict[str, Any]:
    """Tier 'default': scheduler 250m/512Mi, workers 1 cpu/1Gi (requests = limits), at most 4 workers."""
    def container(cpu: str, memory: str) -> dict[str, Any]:
        return {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory},
                                           "limits": {"cpu": cpu, "memory": memory}}}
    return {"metadata": {"name": "dask-cluster", "labels": {"dask.kubeflow.org/tier": "default"}},
            "spec": {"scheduler": {"spec": {"containers": [container("250m", "512Mi")]}},
                     "worker": {"replicas": 0, "spec": {"containers": [container("1", "1Gi")]}}},
            "status": {"phase": "Running"}}


def _quota_snapshot(*quotas: dict[str, Any], pods: tuple[dict[str, Any], ...] = ()) -> ClusterSnapshot:
    return ClusterSnapshot(NS, "dask-cluster", api_served=True, cluster=_small_cluster(),
                           autoscaler={"spec": {"minimum": 0, "maximum": 4}}, quotas=list(quotas),
                           scheduler_pods=list(pods), controller={"phase": "Ready", "tier": "default", "message": ""})


def test_doctor_fails_a_quota_too_small_for_the_scheduler_and_one_worker() -> None:
    snap = _quota_snapshot(_quota("kf-resource-quota", {"requests.cpu": "500m"}))
    line = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))["quota kf-resource-quota"]
    assert line.ok is False
    assert line.detail.startswith("too small for this tier: ResourceQuota kf-resource-quota allows requests.cpu=0.5")
    assert "tier 'default' needs 1.25 for the scheduler and one worker" in line.detail
    assert "Profile's spec.resourceQuotaSpec.hard" in line.fix and "smaller tier" in line.fix


def test_doctor_tells_exhausted_by_other_pods_from_too_small() -> None:
    snap = _quota_snapshot(_quota("kf-resource-quota", {"requests.memory": "4Gi"}, {"requests.memory": "3584Mi"}))
    line = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))["quota kf-resource-quota"]
    assert line.ok is False and line.detail.startswith("exhausted by other pods")
    assert "other pods use 3.50 GiB" in line.detail and "stop idle notebooks" in line.fix
    # Our own running scheduler is not "other pods": the same usage with it running leaves room for a worker.
    ours = {"metadata": {"name": "dask-cluster-scheduler-1"}, "spec": _small_cluster()["spec"]["scheduler"]["spec"],
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    snap = _quota_snapshot(_quota("kf-resource-quota", {"requests.memory": "6Gi"}, {"requests.memory": "4Gi"}), pods=(ours,))
    line = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))["quota kf-resource-quota"]
    assert line.ok is True


def test_doctor_fails_a_quota_below_the_tiers_maximum() -> None:
    snap = _quota_snapshot(_quota("kf-resource-quota", {"cpu": "2", "pods": "50"}))
    line = by_name(doctor_checks(POD_ENV, snap, ALL_ALLOWED, None))["quota kf-resource-quota"]
    assert line.ok is False and line.detail.startswith("too small for this tier's maximum")
    assert "room for 1 of the 4 workers" in line.detail and "4.25 needed" in line.detail


def test_doctor_fails_when_the_controller_reports_an_error() -> None:
    snap = replace(healthy_snapshot(), controller={
        "phase": "Error", "message": "apply failed",
        "lastError": "ResourceQuota kf-resource-quota allows requests.cpu=500m but tier 'default' needs 1.25"})
    checks = doctor_checks(POD_ENV, snap, ALL_ALLOWED, healthy_probe())
    line = by_name(checks)["controller status"]
    assert line.ok is False and "allows requests.cpu=500m" in line.detail
    assert any(c.ok is False for c in checks)


def test_status_phase_is_our_reading_not_the_operators() -> None:
    quota_refusal = {"involvedObject": {"kind": "ReplicaSet", "name": "dask-cluster-scheduler-5d8f7"},
                     "reason": "FailedCreate", "type": "Warning",
                     "message": "pods \"dask-cluster-scheduler-5d8f7-x\" is forbidden: exceeded quota: kf-resource-quota, "
                                "requested: cpu=250m, used: cpu=8, limited: cpu=8"}
    snap = replace(_quota_snapshot(_quota("kf-resource-quota", {"cpu": "8"}, {"cpu": "8"})), events=[quota_refusal])
    phase = dict(status_rows(POD_ENV, snap, None))["phase"]
    assert phase.startswith("Not running: ") and "(the operator reports Running)" in phase
    assert "kf-resource-quota" in phase
    too_small = _quota_snapshot(_quota("kf-resource-quota", {"requests.cpu": "500m"}))
    phase = dict(status_rows(POD_ENV, too_small, None))["phase"]
    assert phase.startswith("Not running: too small for this tier") and "operator reports Running" in phase
    starting = replace(_quota_snapshot(), cluster={**_small_cluster(), "status": {"phase": "Pending"}})
    assert dict(status_rows(POD_ENV, starting, None))["phase"].startswith("Starting: ")


def test_doctor_prints_the_versions_table(monkeypatch: Any) -> None:
    from distributed.versions import get_versions

    from dask_kubeflow.client.versions import version_report

    ours = get_versions()
    theirs = {**ours, "packages": {**ours["packages"], "distributed": "2099.1.0"}}
    report = version_report({"client": ours, "scheduler": theirs, "workers": {"w": theirs}})
    probe = replace(healthy_probe(), versions=report, mismatches=report.mismatches())
    line = by_name(doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, probe))["same versions as the cluster"]
    assert line.ok is False and "distributed" in line.detail and "pip install distributed==2099.1.0" in line.fix
    table = report.table()
    for column in ("package", "client", "scheduler", "workers"):
        assert column in table.splitlines()[1]
    assert "| distributed ✗ |" in table and "| python" in table and "| msgpack" in table


def test_status_document_for_json_and_yaml() -> None:
    import json

    from dask_kubeflow.cli.cluster_cmd import status_document

    snap = healthy_snapshot()
    doc = status_document(status_rows(POD_ENV, snap, healthy_probe(), snap.controller), snap, snap.controller)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["phase"].startswith("Running") and doc["operatorPhase"] == "Running" and doc["schedulerReady"] is True
    assert doc["workers_now_min_max"] == "1 / 0 / 8" and doc["controller"]["phase"] == "Ready"


def test_doctor_document_for_json_and_yaml() -> None:
    import json

    from distributed.versions import get_versions

    from dask_kubeflow.cli.cluster_cmd import doctor_document
    from dask_kubeflow.client.versions import version_report

    healthy = doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, healthy_probe())
    doc = doctor_document(POD_ENV, healthy, healthy_probe())
    assert json.loads(json.dumps(doc)) == doc
    assert doc["passed"] is True and doc["namespace"] == NS and doc["cluster"] == "dask-cluster"
    assert {c["result"] for c in doc["checks"]} == {"pass"} and not any("fix" in c for c in doc["checks"])
    assert doc["versions"] is None

    ours = get_versions()
    theirs = {**ours, "packages": {**ours["packages"], "distributed": "2099.1.0"}}
    report = version_report({"client": ours, "scheduler": theirs, "workers": {"w": theirs}})
    probe = replace(healthy_probe(), versions=report, mismatches=report.mismatches())
    doc = doctor_document(POD_ENV, doctor_checks(POD_ENV, healthy_snapshot(), ALL_ALLOWED, probe), probe)
    assert doc["passed"] is False
    failed = [c for c in doc["checks"] if c["result"] == "fail"]
    assert [c["name"] for c in failed] == ["same versions as the cluster"]
    assert "pip install distributed==2099.1.0" in failed[0]["fix"]
    distributed = next(v for v in doc["versions"] if v["package"] == "distributed")
    assert distributed["scheduler"] == "2099.1.0" and distributed["same"] is False


def test_narrow_doctor_output_is_one_line_per_check(monkeypatch: Any) -> None:
    from dask_kubeflow.cli import cluster_cmd

    console = Console(width=80, record=True, color_system=None)
    monkeypatch.setattr(cluster_cmd, "console", console)
    checks = doctor_checks(POD_ENV, _quota_snapshot(_quota("kf-resource-quota", {"requests.cpu": "500m"})),
                           ALL_ALLOWED, None)
    cluster_cmd.print_checks(checks)
    lines = console.export_text().splitlines()
    failing = next(i for i, line in enumerate(lines) if line.startswith("✗ fail  quota kf-resource-quota: too small"))
    assert lines[failing + 1].lstrip().startswith("fix: ask your platform admin")
    assert "│" not in "".join(lines)  # no table folded letter by letter


def test_policy_check_machine_readable_and_narrow(monkeypatch: Any, tmp_path: Any) -> None:
    import json

    import yaml
    from typer.testing import CliRunner

    from dask_kubeflow.cli import app, policy_cmd

    example = "deploy/policy.example.yaml"
    result = CliRunner().invoke(app, ["policy", "check", example, "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["valid"] is True and [t["tier"] for t in document["tiers"]][-1] == "default"
    assert document["tiers"][-1]["versions"] == {"packages": []} and "scaling" in document["tiers"][0]
    result = CliRunner().invoke(app, ["policy", "check", example, "-o", "yaml"], catch_exceptions=False)
    assert yaml.safe_load(result.stdout)["tiers"] == document["tiers"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  versions:\n    packages: ['not a name']\n")
    result = CliRunner().invoke(app, ["policy", "check", str(bad), "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 1 and json.loads(result.stdout)["valid"] is False
    assert "is not a Python package name" in result.stdout
    # 80 columns (a pipe): one block per tier, no cell folded letter by letter.
    monkeypatch.setattr(policy_cmd.console, "_width", 80)
    result = CliRunner().invoke(app, ["policy", "check", example], catch_exceptions=False)
    assert result.exit_code == 0 and "is valid" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert any(line.split()[:1] == ["tier"] for line in result.stdout.splitlines())
