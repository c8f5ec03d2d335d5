"""The real upstream dask-kubernetes operator on the emulator with local pods: the DaskCluster life
cycle a notebook user sees, end to end with real Dask processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import dask.array as da
import pytest
from dask_kubernetes.operator import KubeCluster, make_cluster_spec
from distributed import Client
from kr8s.objects import APIObject

from tests.harness.operator import COOLDOWN_MODULE
from tests.harness.stack import K8sStack, alive, wait_for

STARTUP = 120  # generous deadlines: the machine is small and shared
# This module keeps the upstream operator's own 15 s autoscaler cooldown (no harness shortening; see
# tests/harness/operator_cooldown.py): the one place the suite runs the autoscaler exactly as released.
AUTOSCALER_COOLDOWN_SECONDS = None
pytestmark = pytest.mark.timeout(600)


def daskcluster_phase(k8s: K8sStack, name: str, namespace: str) -> str | None:
    found = list(k8s.api().get("daskclusters.kubernetes.dask.org", name, namespace=namespace))
    return found[0].raw.get("status", {}).get("phase") if found else None


def start_cluster(k8s: K8sStack, namespace: str, name: str, n_workers: int, env: dict[str, str] | None = None) -> APIObject:
    cluster = k8s.create(make_cluster_spec(name, n_workers=n_workers, env=env), namespace)
    wait_for(lambda: daskcluster_phase(k8s, name, namespace) == "Running", timeout=STARTUP, what=f"DaskCluster {namespace}/{name} phase Running")
    return cluster


def worker_pod_ips(k8s: K8sStack, namespace: str, name: str) -> set[str]:
    return {p.pod_ip for p in k8s.runner.processes(namespace, {"dask.org/cluster-name": name, "dask.org/component": "worker"})}


def scheduler_worker_hosts(client: Client) -> set[str]:
    return {addr.split("://")[1].rsplit(":", 1)[0] for addr in client.scheduler_info(n_workers=-1)["workers"]}


@pytest.fixture(scope="module")
def demo(k8s: K8sStack) -> Iterator[tuple[str, KubeCluster, Client]]:
    """One cluster for the compute and scaling tests, connected the way a notebook connects."""
    ns = k8s.namespace("demo")
    start_cluster(k8s, ns, "demo", n_workers=2)
    cluster = KubeCluster.from_name("demo", namespace=ns)
    client = Client(cluster)
    try:
        yield ns, cluster, client
    finally:
        client.close()
        cluster.close()


def test_daskcluster_from_make_cluster_spec_runs_local_scheduler_and_workers(k8s: K8sStack, demo: Any) -> None:
    ns, cluster, client = demo
    scheduler = k8s.runner.processes(ns, {"dask.org/component": "scheduler"})
    workers = wait_for(
        lambda: len(k8s.runner.processes(ns, {"dask.org/component": "worker"})) == 2 and k8s.runner.processes(ns, {"dask.org/component": "worker"}),
        timeout=STARTUP, what="2 worker processes",
    )
    assert len(scheduler) == 1 and scheduler[0].argv[1] == "scheduler"  # upstream said dask-scheduler
    assert all(w.argv[1] == "worker" for w in workers)
    assert alive({scheduler[0].pid, *(w.pid for w in workers)}) == {scheduler[0].pid, *(w.pid for w in workers)}
    # Reached through the Service's cluster DNS name, not a port-forward.
    assert cluster.scheduler_address == f"tcp://demo-scheduler.{ns}:8786"
    client.wait_for_workers(2, timeout=STARTUP)
    assert scheduler_worker_hosts(client) == worker_pod_ips(k8s, ns, "demo")


def test_client_computes_on_the_cluster(demo: Any) -> None:
    _, _, client = demo
    client.wait_for_workers(1, timeout=STARTUP)
    assert client.compute(da.ones((4000, 4000), chunks=1000).sum()).result() == 16_000_000


def test_scaling_adds_and_removes_worker_processes(k8s: K8sStack, demo: Any) -> None:
    ns, cluster, client = demo
    workers = {"dask.org/cluster-name": "demo", "dask.org/component": "worker"}
    before = {p.pid for p in k8s.runner.processes(ns, workers)}

    cluster.scale(3)
    wait_for(lambda: len(k8s.runner.processes(ns, workers)) == 3, timeout=STARTUP, what="a third worker process")
    client.wait_for_workers(3, timeout=STARTUP)
    assert before < {p.pid for p in k8s.runner.processes(ns, workers)}

    trees = {p.pid: set(p.tree()) for p in k8s.runner.processes(ns, workers)}
    cluster.scale(1)
    wait_for(lambda: len(k8s.runner.processes(ns, workers)) == 1, timeout=STARTUP, what="scale-down to 1 worker process")
    [kept] = k8s.runner.processes(ns, workers)
    removed = set().union(*(tree for pid, tree in trees.items() if pid != kept.pid))
    wait_for(lambda: not alive(removed), timeout=60, what=f"retired worker processes {sorted(removed)} to exit")
    wait_for(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 1, timeout=60, what="the scheduler to see 1 worker")
    assert client.submit(sum, [1, 2, 3]).result() == 6


def test_autoscaler_scales_from_zero_under_load_and_back_when_idle(k8s: K8sStack) -> None:
    ns = k8s.namespace("auto")
    # With no workers, 40 queued tasks of unknown duration (0.5 s by default) are 20 s of work; the
    # scheduler's 5 s target duration asks for 4 workers, which the autoscaler caps at its maximum of 2.
    start_cluster(k8s, ns, "auto", n_workers=0)
    k8s.create(
        {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskAutoscaler",
            "metadata": {"name": "auto"},
            "spec": {"cluster": "auto", "minimum": 0, "maximum": 2},
        },
        ns,
    )
    workers = {"dask.org/cluster-name": "auto", "dask.org/component": "worker"}
    assert COOLDOWN_MODULE not in k8s.operator.command()  # the upstream's cooldown, as released
    with KubeCluster.from_name("auto", namespace=ns) as cluster, Client(cluster) as client:
        assert k8s.runner.processes(ns, workers) == []
        futures = client.map(lambda i: (time.sleep(0.3), i)[1], range(40), pure=False)
        wait_for(lambda: len(k8s.runner.processes(ns, workers)) == 2, timeout=STARTUP, what="the autoscaler to start 2 workers under load")
        assert sorted(client.gather(futures)) == list(range(40))
        del futures
        peak = set().union(*(set(p.tree()) for p in k8s.runner.processes(ns, workers)))
        wait_for(lambda: k8s.runner.processes(ns, workers) == [], timeout=STARTUP, what="the autoscaler to remove idle workers")
        wait_for(lambda: not alive(peak), timeout=60, what="the removed workers' processes to exit")


def test_two_namespaces_run_clusters_side_by_side_without_crossing(k8s: K8sStack) -> None:
    first, second = k8s.namespace("team-a"), k8s.namespace("team-b")
    for ns in (first, second):
        k8s.create(make_cluster_spec("dask-cluster", n_workers=1), ns)
    for ns in (first, second):
        wait_for(lambda: daskcluster_phase(k8s, "dask-cluster", ns) == "Running", timeout=STARTUP, what=f"{ns} Running")

    seen = {}
    for ns in (first, second):
        with KubeCluster.from_name("dask-cluster", namespace=ns) as cluster, Client(cluster) as client:
            client.wait_for_workers(1, timeout=STARTUP)
            assert cluster.scheduler_address == f"tcp://dask-cluster-scheduler.{ns}:8786"
            assert scheduler_worker_hosts(client) == worker_pod_ips(k8s, ns, "dask-cluster")
            [worker_name] = [w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
            assert worker_name.startswith("dask-cluster-default-worker-")
            seen[ns] = (client.scheduler_info()["address"], worker_name)
            assert client.submit(lambda x: x + 1, 41).result() == 42
    assert seen[first] != seen[second]
    assert k8s.runner.pids(first).isdisjoint(k8s.runner.pids(second))


def test_deleting_the_daskcluster_leaves_no_process(k8s: K8sStack) -> None:
    ns = k8s.namespace("delete")
    cluster = start_cluster(k8s, ns, "doomed", n_workers=2)
    # scheduler, and for each worker pod its nanny and the worker process the nanny spawns
    pids = wait_for(lambda: len(k8s.runner.pids(ns)) >= 5 and k8s.runner.pids(ns), timeout=STARTUP, what="scheduler, 2 nannies and 2 workers")
    cluster.delete()
    wait_for(lambda: not alive(pids), timeout=STARTUP, what=f"every process of the deleted cluster to exit: {sorted(alive(pids))}")
    wait_for(lambda: not list(k8s.api().get("pods", namespace=ns)), timeout=60, what="the cluster's pods to be garbage-collected")
    assert not list(k8s.api().get("deployments", namespace=ns))
