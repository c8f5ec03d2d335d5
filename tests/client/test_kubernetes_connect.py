"""connect() and the seed's snippet in a simulated Kubeflow notebook pod, end to end.

The stack is the harness's: API emulator, the real upstream dask-kubernetes operator, local pods
running real Dask, cluster DNS. The namespace holds what dask-kubeflow renders for it (DaskCluster,
DaskAutoscaler, PodDefault); the "notebook" is this process (or a subprocess) with a service-account
namespace file and the environment of the rendered PodDefault, as Kubeflow's admission webhook sets it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.config
import pytest

import dask_kubeflow
from dask_kubeflow.client.diagnose import pod_is_ready
from dask_kubeflow.client.environment import NAMESPACE_FILE_ENV
from dask_kubeflow.client.errors import BudgetSpentError, VersionMismatchError, WorkersNotReadyError
from dask_kubeflow.kube.usage_record import BudgetTerms, budget_data, budget_message, ledger_data, record_body
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import render_namespace
from tests.cli.helpers import invoke
from tests.cli.helpers import rows as table
from tests.harness.stack import K8sStack, alive, wait_for

STARTUP = 120  # generous: a small shared machine
pytestmark = pytest.mark.timeout(600)

POLICY = parse_policy({"defaults": {
    "worker": {"threads": 1, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    "scaling": {"minimum": 1, "maximum": 2},
}})
SKEWED_POLICY = parse_policy({"defaults": {
    "clusterName": "skewed",
    "worker": {"threads": 1, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    "scaling": {"minimum": 0, "maximum": 1},
}})

# A scheduler that reports other Dask versions than this process has (what an older/newer image does).
FAKE_VERSIONS_PRELOAD = '''
import distributed.node
from distributed.versions import get_versions as _real  # the original (the preload may be imported twice)

def get_versions(packages=None):
    out = _real(packages)
    out["packages"] = dict(out["packages"], dask="2099.1.0", distributed="2099.1.0")
    return out

distributed.node.get_versions = get_versions
'''

SEED_SNIPPET = '''
import os
os.environ['JUPYTERHUB_USER'] = "vincent.park"

from dask.distributed import Client
from dask_kubernetes.operator import KubeCluster

cluster = KubeCluster.from_name("dask-cluster", shutdown_on_close=False)
client = Client(cluster)
client
'''


@dataclass
class Platform:
    namespace: str
    poddefault_env: dict[str, str]
    namespace_file: Path


def _phase(k8s: K8sStack, name: str, namespace: str) -> str:
    return (k8s.emulator.get("daskclusters", name, namespace) or {}).get("status", {}).get("phase") or "no status yet"


@pytest.fixture(scope="module")
def platform(k8s: K8sStack, tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """A profile namespace with what the controller applies: the managed cluster, its autoscaler, the PodDefault."""
    ns = k8s.namespace("kf-alice")
    facts = NamespaceFacts(ns)
    objects = render_namespace(facts, resolve(POLICY, facts))
    for obj in objects:
        if obj["kind"] in ("DaskCluster", "DaskAutoscaler", "PodDefault"):
            k8s.create(obj, ns)
    preload = tmp_path_factory.mktemp("skewed") / "fake_versions.py"
    preload.write_text(FAKE_VERSIONS_PRELOAD)
    for obj in render_namespace(facts, resolve(SKEWED_POLICY, facts)):
        if obj["kind"] == "DaskCluster":
            obj["spec"]["scheduler"]["spec"]["containers"][0]["args"] += ["--preload", str(preload)]
            k8s.create(obj, ns)
    poddefault = next(o for o in objects if o["kind"] == "PodDefault")
    sa_file = tmp_path_factory.mktemp("serviceaccount") / "namespace"
    sa_file.write_text(ns)
    wait_for(lambda: any(pod_is_ready(p) for p in k8s.emulator.objects(
        "pods", ns, label_selector="dask.org/cluster-name=dask-cluster,dask.org/component=scheduler")),
        timeout=STARTUP, what=f"{ns}/dask-cluster scheduler pod ready")
    return Platform(ns, {e["name"]: e["value"] for e in poddefault["spec"]["env"]}, sa_file)


@pytest.fixture
def notebook(platform: Platform) -> Iterator[Platform]:
    """This process as a notebook pod: service-account namespace file + the PodDefault's environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NAMESPACE_FILE_ENV, str(platform.namespace_file))
        for name, value in platform.poddefault_env.items():
            mp.setenv(name, value)
        dask.config.refresh()  # Dask reads DASK_* variables when it loads its config
        try:
            yield platform
        finally:
            mp.undo()
            dask.config.refresh()


def notebook_process_env(k8s: K8sStack, platform: Platform, *, poddefault: bool = True) -> dict[str, str]:
    """Environment of a notebook kernel: pod DNS, credentials (KUBECONFIG stands in for the service
    account token), the service-account namespace file and, when selected, the PodDefault's env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "PYTHONPATH"))}
    env.update(k8s.runner.dns_environment())
    env.update(KUBECONFIG=str(k8s.kubeconfig), COLUMNS="250", **{NAMESPACE_FILE_ENV: str(platform.namespace_file)})
    if poddefault:
        env.update(platform.poddefault_env)
    return env


def test_connect_in_a_notebook_computes_and_closing_leaves_the_cluster(k8s: K8sStack, notebook: Platform,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ns = notebook.namespace
    client = dask_kubeflow.connect(timeout=STARTUP, wait_for_workers=1)
    try:
        assert client.scheduler.address == f"tcp://dask-cluster-scheduler.{ns}:8786"
        assert client.dashboard_link == f"/dask/{ns}/dask-cluster/status"
        assert f"/dask/{ns}/dask-cluster/status" in client._repr_html_()  # what Jupyter shows
        assert f"/dask/{ns}/dask-cluster/status" in client.cluster._repr_html_()
        assert client.submit(sum, range(10)).result() == 45
        scheduler_pids = k8s.cluster_pids(ns, "dask-cluster", "scheduler")
        assert scheduler_pids
    finally:
        client.close()
    assert "connected to" in capsys.readouterr().err
    assert k8s.emulator.get("daskclusters", "dask-cluster", ns) is not None
    assert k8s.emulator.request_count(verb="delete", resource="daskclusters", namespace=ns) == 0
    assert k8s.emulator.request_count(verb="create", resource="daskclusters", namespace=ns) == 2  # ours, never connect()'s
    assert alive(scheduler_pids) == scheduler_pids
    again = dask_kubeflow.connect(timeout=STARTUP)  # the same cluster, still there for the next session
    try:
        assert again.submit(sum, [1, 2]).result() == 3
    finally:
        again.close()


def test_connect_outside_a_pod_with_kubeconfig_and_namespace(k8s: K8sStack, platform: Platform,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A laptop with a kubeconfig: no service-account file, no PodDefault env, namespace given."""
    ns = platform.namespace
    for var in [v for v in os.environ if v.startswith(("DASK_KUBEFLOW_", "DASK_DISTRIBUTED__", "KUBERNETES_SERVICE"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv(NAMESPACE_FILE_ENV, "/nonexistent")
    dask.config.refresh()
    try:
        client = dask_kubeflow.connect(namespace=ns, timeout=STARTUP)
        try:
            # The scheduler serves its dashboard under the gateway prefix; the link says so.
            link = client.dashboard_link
            assert link == f"http://dask-cluster-scheduler.{ns}:8787/dask/{ns}/dask-cluster/status"
            with urllib.request.urlopen(link, timeout=30) as response:
                assert response.status == 200
            assert client.submit(sum, [4, 5]).result() == 9
        finally:
            client.close()
    finally:
        monkeypatch.undo()
        dask.config.refresh()


def test_wait_for_more_workers_than_the_tier_allows(notebook: Platform) -> None:
    with pytest.raises(WorkersNotReadyError) as info:
        dask_kubeflow.connect(timeout=STARTUP, wait_for_workers=3)
    assert "allows at most 2 workers" in str(info.value) and "wait_for_workers=2" in info.value.fix


@pytest.mark.parametrize("poddefault", [True, False], ids=["with-poddefault", "without-poddefault"])
def test_seed_snippet_verbatim(k8s: K8sStack, platform: Platform, tmp_path: Path, poddefault: bool) -> None:
    """The seed's two lines, run as a notebook kernel would, unchanged (AIM-ID line included)."""
    script = tmp_path / "seed_notebook.py"
    script.write_text(SEED_SNIPPET + "print('RESULT', client.submit(sum, [1, 2, 3]).result())\n"
                      "print('LINK', client.dashboard_link)\nclient.close()\ncluster.close()\n")
    scheduler_pids = k8s.cluster_pids(platform.namespace, "dask-cluster", "scheduler")
    run = subprocess.run([sys.executable, str(script)], env=notebook_process_env(k8s, platform, poddefault=poddefault),
                         capture_output=True, text=True, timeout=STARTUP + 60)
    if poddefault:
        assert run.returncode == 0, run.stderr[-3000:]
        assert "RESULT 6" in run.stdout
        assert f"LINK /dask/{platform.namespace}/dask-cluster/status" in run.stdout
    else:  # why the PodDefault matters: kr8s 0.20 looks in "default", where no cluster exists
        assert run.returncode != 0
        assert "Cluster dask-cluster doesn't already exist" in run.stderr
    # The kernel exiting (atexit, cluster.close()) never deletes the shared cluster.
    assert k8s.emulator.get("daskclusters", "dask-cluster", platform.namespace) is not None
    assert alive(scheduler_pids) == scheduler_pids


def test_version_mismatch_warns_with_one_table_and_can_refuse(k8s: K8sStack, notebook: Platform,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask's convention by default: a warning with client, scheduler and worker versions, and the fix."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = dask_kubeflow.connect(cluster_name="skewed", timeout=STARTUP)
    client.close()  # (no workers: the skewed cluster has no autoscaler)
    [warning] = [w for w in caught if "package versions differ" in str(w.message)]  # one, not Dask's too
    message = str(warning.message)
    assert f"dask {dask.__version__} here vs 2099.1.0 on the scheduler" in message
    assert "| package" in message and "| client" in message and "| scheduler" in message and "| workers" in message
    for package in ("python", "dask", "distributed", "numpy", "pandas", "cloudpickle", "msgpack"):
        assert f"| {package}" in message
    assert "| dask ✗" in message and "pip install dask==2099.1.0 distributed==2099.1.0" in message

    monkeypatch.setenv("DASK_KUBEFLOW_VERSION_CHECK", "error")
    with pytest.raises(VersionMismatchError) as info:
        dask_kubeflow.connect(cluster_name="skewed", timeout=STARTUP)
    assert "pip install dask==2099.1.0 distributed==2099.1.0" in info.value.fix
    assert "| dask ✗" in info.value.table
    assert k8s.emulator.get("daskclusters", "skewed", notebook.namespace) is not None


def test_status_and_doctor_in_a_healthy_namespace(k8s: K8sStack, notebook: Platform,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ns = notebook.namespace
    wait_for(lambda: k8s.cluster_pids(ns, "dask-cluster", "worker"), timeout=STARTUP, what="the minimum worker")
    doctor = invoke(monkeypatch, "doctor")
    assert doctor.exit_code == 0, doctor.stdout + doctor.stderr
    rows = table(doctor.stdout)
    assert "✓ pass" in rows["inside a pod?"] and "✓ pass" in rows["namespace?"] and ns in rows["namespace?"]
    assert "✓ pass" in rows["can reach the scheduler?"] and f"tcp://dask-cluster-scheduler.{ns}:8786" in rows["can reach the scheduler?"]
    assert "✓ pass" in rows["same versions as the cluster"]
    assert "✓ pass" in rows["dashboard link reachable?"] and "HTTP 200" in rows["dashboard link reachable?"]
    assert "all checks passed" in doctor.stdout

    status = invoke(monkeypatch, "status")
    assert status.exit_code == 0, status.stderr
    rows = table(status.stdout)
    assert _phase(k8s, "dask-cluster", ns) in rows["phase"]
    assert f"tcp://dask-cluster-scheduler.{ns}:8786" in rows["scheduler"]
    assert "/ 1 / 2" in rows["workers now / min / max"]
    assert "threads" in rows["cores and memory"] and "live" in rows["cores and memory"]
    assert "default" in rows["tier"]
    assert f"/dask/{ns}/dask-cluster/status" in rows["dashboard"]


def test_connect_command(notebook: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, "connect")
    assert result.exit_code == 0, result.stderr
    ns = notebook.namespace
    assert f"connected to {ns}/dask-cluster at tcp://dask-cluster-scheduler.{ns}:8786" in result.stdout
    assert f"dashboard /dask/{ns}/dask-cluster/status" in result.stdout

    missing = invoke(monkeypatch, "connect", "--cluster", "nope", "--timeout", "5")
    assert missing.exit_code == 1 and "no Dask cluster named 'nope'" in missing.stderr and "fix:" in missing.stderr


def test_doctor_reports_a_version_mismatch(notebook: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    doctor = invoke(monkeypatch, "doctor", "--cluster", "skewed", "--timeout", str(STARTUP))
    assert doctor.exit_code == 1
    row = table(doctor.stdout)["same versions as the cluster"]
    assert "✗ fail" in row and "2099.1.0 on the scheduler" in row


def test_connect_in_a_pod_is_one_api_request_and_the_cluster_object_is_lazy(k8s: K8sStack, notebook: Platform) -> None:
    """The direct way: the Service address from the PodDefault, one LIST of the scheduler pods beside
    the Dask handshake (and one of the usage record); no DaskCluster, Service or discovery reads;
    from_name only when asked for."""
    from dask_kubernetes.operator import KubeCluster

    from dask_kubeflow.client.cluster import NamespaceCluster

    ns = notebook.namespace
    dask_kubeflow.connect(timeout=STARTUP).close()  # warm: the shared kr8s client exists
    kinds = ("pods", "daskclusters", "services", "configmaps")
    before = {r: k8s.emulator.request_count(resource=r, namespace=ns) for r in kinds}
    client = dask_kubeflow.connect(timeout=STARTUP)
    try:
        after = {r: k8s.emulator.request_count(resource=r, namespace=ns) for r in kinds}
        assert after["pods"] - before["pods"] == 1
        assert after["configmaps"] - before["configmaps"] == 1  # the usage record (budget.py), sent alongside
        assert after["daskclusters"] == before["daskclusters"] and after["services"] == before["services"]
        cluster = client.cluster
        assert isinstance(cluster, NamespaceCluster) and cluster._kube is None
        assert (cluster.name, cluster.namespace) == ("dask-cluster", ns)
        assert client.dashboard_link == f"/dask/{ns}/dask-cluster/status"
        assert client.scheduler.address == notebook.poddefault_env["DASK_KUBEFLOW_SCHEDULER_ADDRESS"]
        assert client.submit(sum, [2, 3]).result() == 5
        # The seed's methods build KubeCluster.from_name(..., shutdown_on_close=False) on first use.
        assert len(cluster.scheduler_info["workers"]) >= 1
        assert isinstance(cluster.kube_cluster, KubeCluster) and cluster.kube_cluster.shutdown_on_close is False
    finally:
        client.close()
    assert k8s.emulator.get("daskclusters", "dask-cluster", ns) is not None
    assert k8s.emulator.request_count(verb="delete", resource="daskclusters", namespace=ns) == 0


def test_a_fresh_notebook_without_the_platform_packages_passes_doctor(k8s: K8sStack, platform: Platform) -> None:
    """The light install in a notebook kernel: kopf, aiohttp, prometheus-client and jinja2 cannot be
    imported, yet ``dask-kubeflow doctor`` and ``connect()`` pass on the running cluster."""
    from tests.client.platform_blocker import blocked_python

    wait_for(lambda: k8s.cluster_pids(platform.namespace, "dask-cluster", "worker"), timeout=STARTUP,
             what="the minimum worker")
    code = ("import sys\nfrom dask_kubeflow.cli import main\nimport dask_kubeflow\n"
            "client = dask_kubeflow.connect(timeout=120)\nprint('RESULT', client.submit(sum, [1, 2]).result())\n"
            "client.close()\nsys.argv = ['dask-kubeflow', 'doctor', '--timeout', '120']\nmain()\n")
    run = blocked_python(code, env=notebook_process_env(k8s, platform), timeout=STARTUP + 120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "RESULT 3" in run.stdout and "all checks passed" in run.stdout
    assert "versions (client = this process)" in run.stdout and "| distributed" in run.stdout


# -- the namespace's budget, as the controller's usage record says (the clamp itself: tests/controller) --

def _usage_record(ns: str, core_hours: float, state: str) -> dict[str, Any]:
    terms = BudgetTerms(500, tier="team", contact="platform-team@example.com", clamp_to=0)
    data = ledger_data("2026-12", {"dask-cluster/worker": (core_hours * 3600, core_hours * 3600)}, {}, state)
    return record_body(ns, data | budget_data(terms, budget_message(state, core_hours, "2026-12", terms)))


@pytest.fixture
def spent_budget(k8s: K8sStack, notebook: Platform) -> Iterator[Platform]:
    """The usage record of a namespace past its budget, as the controller writes it (removed afterwards)."""
    record = k8s.create(_usage_record(notebook.namespace, 512.3, "exceeded"), notebook.namespace)
    try:
        yield notebook
    finally:
        record.delete()


def test_a_spent_budget_fails_wait_for_workers_at_once_and_is_said_on_connect(
        k8s: K8sStack, spent_budget: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    ns = spent_budget.namespace
    pods_before = k8s.emulator.request_count(resource="pods", namespace=ns)
    with pytest.raises(BudgetSpentError) as info:
        dask_kubeflow.connect(timeout=STARTUP, wait_for_workers=1)
    assert "budget spent: 512.30 of 500 core-hours used in 2026-12 (tier 'team')" in info.value.problem
    assert "platform-team@example.com" in info.value.fix
    assert k8s.emulator.request_count(resource="pods", namespace=ns) == pods_before  # refused before looking for workers
    client = dask_kubeflow.connect(timeout=STARTUP)  # the scheduler is still there to use
    try:
        assert client.submit(sum, [1, 2]).result() == 3
    finally:
        client.close()
    said = [line for line in capsys.readouterr().err.splitlines() if "budget" in line]
    assert said == ["dask-kubeflow: budget spent: 512.30 of 500 core-hours used in 2026-12 (tier 'team'); the "
                    "autoscaler is held at 0 worker(s) until the month ends or the budget is raised — ask "
                    "platform-team@example.com"]


def test_status_and_doctor_show_a_spent_budget(spent_budget: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    status = invoke(monkeypatch, "status", "-o", "json")
    assert status.exit_code == 0, status.stderr
    usage = json.loads(status.stdout)["usage"]
    assert (usage["state"], usage["budgetCoreHours"], usage["contact"]) == ("exceeded", 500, "platform-team@example.com")
    assert usage["coreHours"] == 512.3 and usage["percent"] == 102.5
    shown = table(invoke(monkeypatch, "status").stdout)
    assert "exceeded, 102%: budget spent: 512.30 of 500" in shown["budget"]
    doctor = invoke(monkeypatch, "doctor")
    assert doctor.exit_code == 1
    rows = table(doctor.stdout)
    assert "✗ fail" in rows["budget"] and "platform-team@example.com" in rows["budget"]
    assert "✓ pass" in rows["usage this month"] and "512.30 core-hours" in rows["usage this month"]


def test_a_nearly_spent_budget_is_one_warning_line(k8s: K8sStack, notebook: Platform,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    record = k8s.create(_usage_record(notebook.namespace, 410, "warning"), notebook.namespace)
    try:
        client = dask_kubeflow.connect(timeout=STARTUP, wait_for_workers=1)
        client.close()
    finally:
        record.delete()
    said = [line for line in capsys.readouterr().err.splitlines() if "budget" in line]
    assert said == ["dask-kubeflow: budget nearly spent: 410.00 of 500 core-hours used in 2026-12 (tier 'team'); "
                    "past 500 the autoscaler is held at 0 worker(s) — ask platform-team@example.com for more"]
