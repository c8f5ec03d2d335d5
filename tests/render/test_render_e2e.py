"""End to end: the rendered objects of one namespace, applied to the harness (API emulator + local
pod runner + the real upstream operator), give a running cluster whose dashboard is served under the
prefix, which the autoscaler grows under load and shrinks to zero workers when idle, scheduler up.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from dask_kubernetes.operator import KubeCluster
from distributed import Client

from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.kube.names import gateway_prefix
from dask_kubeflow.render import render_namespace
from tests.harness.stack import K8sStack, alive, wait_for

pytestmark = pytest.mark.timeout(600)
STARTUP = 180  # generous: the machine is small and shared
POLICY = {"defaults": {
    # Two worker processes per pod: the operator counts pods, Dask counts processes.
    "worker": {"threads": 1, "processes": 2, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                           "limits": {"cpu": "1", "memory": "1Gi"}}},
    "scaling": {"minimum": 0, "maximum": 2, "idleAfter": "15s"},
}}
WORKERS = {"dask.org/cluster-name": "dask-cluster", "dask.org/component": "worker"}
SCHEDULER = {"dask.org/cluster-name": "dask-cluster", "dask.org/component": "scheduler"}


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # cluster DNS is installed in this process
        return response.status, response.read().decode()


def try_get(url: str) -> tuple[int, str] | None:
    """None while the scheduler is not listening yet."""
    try:
        return http_get(url)
    except OSError:
        return None


def phase(k8s: K8sStack, namespace: str) -> str | None:
    found = list(k8s.api().get("daskclusters.kubernetes.dask.org", "dask-cluster", namespace=namespace))
    return found[0].raw.get("status", {}).get("phase") if found else None


@pytest.fixture(scope="module")
def namespace(k8s: K8sStack) -> str:
    ns = k8s.namespace("render")
    facts = NamespaceFacts(ns, {}, "user@example.com")
    for manifest in render_namespace(facts, resolve(parse_policy(POLICY), facts)):
        k8s.create(manifest, ns)
    wait_for(lambda: phase(k8s, ns) == "Running", timeout=STARTUP, what=f"DaskCluster {ns}/dask-cluster Running")
    return ns


def test_all_rendered_objects_are_accepted(k8s: K8sStack, namespace: str) -> None:
    api = k8s.api()
    for resource, name in [("networkpolicies", "dask-cluster-ingress"), ("poddefaults.kubeflow.org", "access-dask-cluster"),
                           ("daskclusters.kubernetes.dask.org", "dask-cluster"),
                           ("daskautoscalers.kubernetes.dask.org", "dask-cluster")]:
        assert list(api.get(resource, name, namespace=namespace)), f"{resource}/{name} missing"


def test_dashboard_is_served_under_the_prefix(k8s: K8sStack, namespace: str) -> None:
    base = f"http://dask-cluster-scheduler.{namespace}:8787"
    prefix = gateway_prefix(namespace, "dask-cluster")
    status, body = wait_for(lambda: try_get(f"{base}{prefix}/status"), timeout=STARTUP, what="the dashboard")
    assert status == 200 and "Dask" in body
    assert http_get(f"{base}{prefix}/health") == (200, "ok")
    [scheduler] = k8s.runner.processes(namespace, SCHEDULER)
    assert scheduler.argv[1] == "scheduler" and prefix in scheduler.argv


def test_autoscaler_adds_workers_under_load_and_removes_them_when_idle(k8s: K8sStack, namespace: str) -> None:
    [scheduler] = k8s.runner.processes(namespace, SCHEDULER)
    api_url = f"http://dask-cluster-scheduler.{namespace}:8787/api/v1/adaptive_target"
    with KubeCluster.from_name("dask-cluster", namespace=namespace) as cluster, Client(cluster) as client:
        assert k8s.runner.processes(namespace, WORKERS) == []  # minimum 0: no worker until there is work
        futures = client.map(lambda i: (time.sleep(0.3), i)[1], range(40), pure=False)
        wait_for(lambda: len(k8s.runner.processes(namespace, WORKERS)) == 2, timeout=STARTUP,
                 what="the autoscaler to start the tier's maximum of 2 worker pods under load")
        client.wait_for_workers(4, timeout=STARTUP)  # 2 pods x 2 processes
        assert sorted(client.gather(futures)) == list(range(40))
        del futures
        wait_for(lambda: not client.who_has(), timeout=60, what="results released")
        # Idle for less than idleAfter (15 s): the scheduler still asks the operator to keep both
        # pods (upstream Dask would say 0 now). This is the HTTP route the operator calls.
        assert json.loads(http_get(api_url)[1]) == {"workers": 2}
        peak = set().union(*(set(p.tree()) for p in k8s.runner.processes(namespace, WORKERS)))
        wait_for(lambda: k8s.runner.processes(namespace, WORKERS) == [], timeout=STARTUP,
                 what="the autoscaler to remove every idle worker")
        wait_for(lambda: not alive(peak), timeout=60, what="the removed workers' processes to exit")
        # Scale to zero, scheduler up: same process, same cluster, still answering.
        assert k8s.runner.processes(namespace, SCHEDULER)[0].pid == scheduler.pid and alive({scheduler.pid})
        assert phase(k8s, namespace) == "Running"
        assert client.scheduler_info(n_workers=-1)["workers"] == {}
    # The operator retired whole pods through the scheduler's HTTP API (it logs only on that path)
    # and deleted exactly the Deployments it was told: no failed handler, nothing left behind.
    log = k8s.operator.log_text()
    assert "Retired workers" in log
    assert "dask-cluster-default-worker-" in log.split("Retired workers", 1)[1].splitlines()[0]
    assert "NotFoundError" not in log and "failed with an exception" not in log
    assert not list(k8s.api().get("deployments", namespace=namespace, label_selector=WORKERS))


def test_scheduler_survives_the_idle_period(k8s: K8sStack, namespace: str) -> None:
    """No idleTimeout: the scheduler is not shut down by the operator or by itself."""
    [scheduler] = k8s.runner.processes(namespace, SCHEDULER)
    assert alive({scheduler.pid})
    assert http_get(f"http://dask-cluster-scheduler.{namespace}:8787{gateway_prefix(namespace, 'dask-cluster')}/health")[0] == 200
    spec: dict[str, Any] = list(k8s.api().get("daskclusters.kubernetes.dask.org", "dask-cluster", namespace=namespace))[0].raw["spec"]
    assert spec.get("idleTimeout", 0) == 0
