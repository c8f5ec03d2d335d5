"""User clusters end to end (issue 12 item 4): created with ``dask_kubeflow.create_cluster`` and with
``dask-kubeflow cluster create`` as alice (a profile owner), rendered from the tier by the
controller's mutating webhook, computing through ``connect(cluster_name=...)``, counted against
``userClusters`` (maximum 1 in this tier: the second is refused with the webhook's words, printed
cleanly), listed with their owner, deleted; the shared cluster cannot be deleted. The webhook's
refusals are Events that ``status`` and ``doctor`` show.

One stack for the module: tests/controller/test_webhooks_e2e.py's (emulator with RBAC, controller
serving the webhooks, the upstream operator, the pod runner).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubeflow.kube.names import (DASHBOARD_PREFIX_ANNOTATION, OWNER_ANNOTATION, TIER_REFUSED_REASON,
                                      USER_CLUSTER_LABEL)
from tests.controller.conftest import wait_for
from tests.controller.test_webhooks_e2e import NS, STARTUP, Hooks, hooks, managed  # noqa: F401  (the stack)

pytestmark = pytest.mark.timeout(900)
ENFORCE_NETWORK_POLICY = False
CLI = Path(sys.executable).parent / "dask-kubeflow"


def _cli(stack: Hooks, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(stack.alice.kubeconfig), "COLUMNS": "200"}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=timeout)


def _refusal_events(stack: Hooks) -> list[dict]:
    return [e for e in stack.emulator.objects("events", NS) if e.get("reason") == TIER_REFUSED_REASON]


@pytest.fixture
def as_alice(managed: Hooks, monkeypatch: pytest.MonkeyPatch) -> Hooks:  # noqa: F811
    monkeypatch.setenv("KUBECONFIG", str(managed.alice.kubeconfig))
    return managed


def test_python_create_computes_counts_and_deletes(as_alice: Hooks) -> None:
    import dask_kubeflow
    from dask_kubeflow.client.clusters import ClusterRefusedError

    emu = as_alice.emulator
    info = dask_kubeflow.create_cluster("py-one", workers=1, worker_cpu="500m", namespace=NS, timeout=STARTUP)
    try:
        stored = emu.get("daskclusters", "py-one", NS)
        meta = stored["metadata"]
        assert meta["labels"][USER_CLUSTER_LABEL] == "true"
        assert meta["annotations"][OWNER_ANNOTATION] == "alice@example.com"  # from userInfo, not the client
        assert meta["annotations"][DASHBOARD_PREFIX_ANNOTATION] == f"/dask/{NS}/py-one"
        worker = stored["spec"]["worker"]["spec"]["containers"][0]
        assert worker["resources"]["limits"]["cpu"] == "500m"
        assert "--dashboard-prefix" in stored["spec"]["scheduler"]["spec"]["containers"][0]["args"]
        assert emu.get("daskautoscalers", "py-one", NS)["spec"] == {"cluster": "py-one", "minimum": 0, "maximum": 1}
        assert info.snippet.endswith('connect(cluster_name="py-one")')

        client = dask_kubeflow.connect(cluster_name="py-one", namespace=NS, timeout=STARTUP)
        try:
            assert client.submit(lambda x: x + 1, 41).result(timeout=STARTUP) == 42
        finally:
            client.close()

        with pytest.raises(ClusterRefusedError) as refused:
            dask_kubeflow.create_cluster("py-two", namespace=NS, wait=False)
        assert "already runs 1 cluster(s) of its own (py-one)" in refused.value.problem
        assert "userClusters.maximum" in refused.value.problem
        assert "denied the request" not in refused.value.problem  # the webhook's words, not the API's wrapping
        assert emu.get("daskclusters", "py-two", NS) is None
        wait_for(lambda: any(e["involvedObject"]["name"] == "py-two" for e in _refusal_events(as_alice)),
                 "the refusal recorded as an Event", timeout=30)

        names = {i.name: i for i in dask_kubeflow.list_clusters(namespace=NS)}
        assert names["py-one"].owner == "alice@example.com" and names["dask-cluster"].managed
    finally:
        dask_kubeflow.delete_cluster("py-one", namespace=NS)
    wait_for(lambda: emu.get("daskclusters", "py-one", NS) is None and emu.get("daskautoscalers", "py-one", NS)
             is None, "py-one and its autoscaler deleted", timeout=60)  # the operator's finalizers first


def test_cli_create_list_delete_and_refusals(as_alice: Hooks) -> None:
    emu = as_alice.emulator
    wait_for(lambda: emu.get("daskclusters", "py-one", NS) is None, "no user cluster left", timeout=60)
    created = _cli(as_alice, "cluster", "create", "cli-one", "--workers", "1", "-n", NS, "--timeout", str(STARTUP))
    assert created.returncode == 0, created.stderr
    assert f"Dask cluster {NS}/cli-one ready; dashboard: /dask/{NS}/cli-one/status" in created.stdout
    assert 'client = dask_kubeflow.connect(cluster_name="cli-one")' in created.stdout
    try:
        second = _cli(as_alice, "cluster", "create", "cli-two", "-n", NS, "--no-wait")
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        assert "error: cannot create Dask cluster 'cli-two'" in second.stderr
        assert "userClusters.maximum" in second.stderr and "fix:" in second.stderr

        over = _cli(as_alice, "cluster", "create", "cli-big", "--worker-cpu", "8", "-n", NS, "--no-wait")
        assert over.returncode == 1 and "Traceback" not in over.stderr

        listed = _cli(as_alice, "cluster", "list", "-n", NS, "-o", "json")
        assert listed.returncode == 0, listed.stderr
        assert '"owner": "alice@example.com"' in listed.stdout and '"kind": "platform"' in listed.stdout

        shared = _cli(as_alice, "cluster", "delete", "dask-cluster", "-n", NS)
        assert shared.returncode == 1 and "Traceback" not in shared.stderr
        assert "it is the namespace's shared cluster" in shared.stderr
        assert emu.get("daskclusters", "dask-cluster", NS) is not None

        status = _cli(as_alice, "status", "-n", NS)
        assert "refused by the tier" in status.stdout, status.stdout
        assert "DaskCluster cli-two" in status.stdout, status.stdout
        # once each, though kr8s sends a refused (403) request four times
        assert sorted(e["involvedObject"]["name"] for e in _refusal_events(as_alice)) == [
            "cli-big", "cli-two", "dask-cluster", "py-two"]
        doctor = _cli(as_alice, "doctor", "-n", NS)
        assert "refused by the tier?" in doctor.stdout and "userClusters.maximum" in doctor.stdout, doctor.stdout
    finally:
        deleted = _cli(as_alice, "cluster", "delete", "cli-one", "-n", NS)
    assert deleted.returncode == 0, deleted.stderr
    assert "Dask cluster cli-one deleted" in deleted.stdout
