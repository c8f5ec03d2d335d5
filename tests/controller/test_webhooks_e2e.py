"""The admission webhooks end to end (issue 12): the controller serves them over HTTPS with a test CA,
the emulator calls them as an API server does, and every writer is who it is on a cluster — the
controller and the upstream operator as their ServiceAccounts (with deploy/'s and the chart's RBAC),
alice as a Kubeflow profile owner (kubeflow-admin in her namespace, our aggregated rules).

Each bypass of issue 12's "Why" is refused with a message naming the limit; the operator still
autoscales the managed cluster 0 -> max -> 0; the webhook down is the documented failure policy
(Fail: writes refused); certificates rotate (leaf and CA) without a failed request.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import kr8s
import pytest
import yaml

from dask_kubeflow.controller.webhooks import (
    ENV_WEBHOOK_ADDRESS,
    ENV_WEBHOOK_CERT_CHECK_SECONDS,
    ENV_WEBHOOK_CERT_DIR,
    ENV_WEBHOOK_PORT,
)
from dask_kubeflow.kube.names import ENV_INSTALL_NAMESPACE, ENV_OPERATOR_NAMESPACE
from tests.harness.emulator import Emulator, Identity
from tests.harness.emulator.certs import CertificateAuthority
from tests.harness.operator import UpstreamOperator

from .conftest import ControllerProcess, controller_starter, wait_for

pytestmark = pytest.mark.timeout(900)
ENFORCE_NETWORK_POLICY = False  # not what this module tests; the pods of several clusters stay light

REPO = Path(__file__).resolve().parents[2]
WEBHOOKS = REPO / "deploy" / "base" / "webhooks"
KUBECTL = Path(sys.executable).parent / "kubectl"
INSTALL, OPERATOR_NS, NS = "dask-kubeflow", "dask-operator", "alice"
SERVICE = f"dask-kubeflow-webhook.{INSTALL}"
DASK = "kubernetes.dask.org"
STARTUP = 180.0
POLICY = """\
defaults:
  scheduler:
    resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {cpu: "1", memory: 1Gi}}
  worker:
    threads: 1
    resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {cpu: "1", memory: 1Gi}}
  scaling: {minimum: 0, maximum: 2, idleAfter: 3s}
  userClusters: {maximum: 1, totalWorkers: 1}
"""
HELM_TEMPLATES = (Path(__import__("dask_kubernetes").__file__).parent / "operator" / "deployment" / "helm"
                  / "dask-kubernetes-operator" / "templates")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _yaml_objects(*paths: Path) -> list[dict[str, Any]]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]


def _operator_role() -> dict[str, Any]:
    """The upstream chart's ClusterRole, its template lines resolved (as tests/harness does)."""
    text = (HELM_TEMPLATES / "clusterrole.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("{{-")]
    return yaml.safe_load("\n".join(lines).replace(
        '{{ include "dask_kubernetes_operator.serviceAccountName" . }}', "dask-kubernetes-operator"))


def _binding(kind: str, name: str, role: str, subject: dict[str, str], namespace: str | None = None) -> dict:
    meta: dict[str, str] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [subject]}


@dataclass
class Hooks:
    emulator: Emulator
    ca: CertificateAuthority
    cert_dir: Path
    port: int
    alice: Identity
    controller: ControllerProcess
    operator: UpstreamOperator
    pod_runner: Any
    configs: list[tuple[str, str]] = field(default_factory=list)  # (plural, name) of our configurations

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
             who: Identity | None = None) -> httpx.Response:
        who = who or self.alice
        return httpx.request(method, self.emulator.url + path, content=None if body is None else json.dumps(body),
                             headers={"Authorization": f"Bearer {who.token}", "Content-Type": content_type},
                             timeout=60)

    def set_bundle(self, bundle: str) -> None:
        for plural, name in self.configs:
            config = self.emulator.get(plural, name)
            for hook in config["webhooks"]:
                hook["clientConfig"]["caBundle"] = bundle
            resp = httpx.put(f"{self.emulator.url}/apis/admissionregistration.k8s.io/v1/{plural}/{name}",
                             json=config, timeout=30)
            assert resp.status_code == 200, resp.text

    def served_serial(self) -> int:
        """Serial number of the certificate the webhook server presents to a new connection."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=f"{SERVICE}.svc") as tls:
                der = tls.getpeercert(binary_form=True)
        from cryptography import x509
        return x509.load_der_x509_certificate(der).serial_number


def _seed(emu: Emulator) -> None:
    for name in (INSTALL, OPERATOR_NS):
        emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    emu.create({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": NS, "labels": {"app.kubernetes.io/part-of": "kubeflow-profile"},
                             "annotations": {"owner": "alice@example.com"}}})
    emu.create({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "dask-kubeflow-policy", "namespace": INSTALL}, "data": {"policy.yaml": POLICY}})
    rbac = _yaml_objects(REPO / "deploy" / "base" / "controller" / "rbac.yaml",
                         REPO / "deploy" / "base" / "rbac" / "aggregate-to-kubeflow.yaml",
                         REPO / "reference" / "kubeflow" / "examples" / "kubeflow-roles-cluster-roles.yaml")
    for obj in [*rbac, _operator_role()]:
        emu.create(obj)
    emu.create(_binding("ClusterRoleBinding", "dask-kubernetes-operator-rolebinding-cluster",
                        _operator_role()["metadata"]["name"],
                        {"kind": "ServiceAccount", "name": "dask-kubernetes-operator", "namespace": OPERATOR_NS}))
    emu.create(_binding("RoleBinding", "namespaceAdmin", "kubeflow-admin",
                        {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}, NS))


def _configure(emu: Emulator, ca: CertificateAuthority) -> list[tuple[str, str]]:
    """deploy/base/webhooks' configurations, with the caBundle cert-manager would inject."""
    configs = []
    for obj in _yaml_objects(WEBHOOKS / "mutating.yaml", WEBHOOKS / "validating.yaml"):
        for hook in obj["webhooks"]:
            hook["clientConfig"]["caBundle"] = ca.bundle
        emu.create(obj)
        configs.append((obj["kind"].lower() + "s", obj["metadata"]["name"]))
    return configs


@pytest.fixture(scope="module")
def hooks(emulator_server: Emulator, pod_runner: Any, cluster_dns: Any, certificate_authority: CertificateAuthority,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooks]:
    emu, ca = emulator_server, certificate_authority
    emu.reset()
    _seed(emu)
    tmp = tmp_path_factory.mktemp("webhooks")
    cert_dir, port = tmp / "cert", _free_port()
    ca.issue([f"{SERVICE}.svc"]).write(cert_dir)
    operator_sa = emu.service_account(OPERATOR_NS, "dask-kubernetes-operator")
    controller_sa = emu.service_account(INSTALL, "dask-kubeflow-controller")
    operator = UpstreamOperator(operator_sa.kubeconfig, tmp / "operator.log", pod_runner.dns_environment()).start()
    env = {ENV_WEBHOOK_CERT_DIR: str(cert_dir), ENV_WEBHOOK_PORT: str(port), ENV_WEBHOOK_ADDRESS: "127.0.0.1",
           ENV_WEBHOOK_CERT_CHECK_SECONDS: "0.2", ENV_INSTALL_NAMESPACE: INSTALL, ENV_OPERATOR_NAMESPACE: OPERATOR_NS}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(emu.kubeconfig))
        for name, value in env.items():
            mp.setenv(name, value)
        starter = controller_starter(controller_sa.kubeconfig, tmp)
        start = next(starter)
        try:
            controller = start()
            emu.webhook_route(f"{SERVICE}:443", f"127.0.0.1:{port}")
            stack = Hooks(emu, ca, cert_dir, port, emu.identity("alice@example.com", groups=["kubeflow-users"]),
                          controller, operator, pod_runner)
            wait_for(lambda: _listening(port), "the controller's webhook server", controller=controller)
            stack.configs = _configure(emu, ca)
            emu.create({"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": NS},
                        "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}})
            yield stack
        finally:
            next(starter, None)
            operator.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _phase(emu: Emulator, name: str = "dask-cluster") -> str:
    return ((emu.get("daskclusters", name, NS) or {}).get("status") or {}).get("phase", "")


def _group_replicas(emu: Emulator, name: str = "dask-cluster-default") -> int | None:
    group = emu.get("daskworkergroups", name, NS)
    return None if group is None else group["spec"]["worker"]["replicas"]


def _cluster(name: str, replicas: int = 1, resources: dict | None = None) -> dict[str, Any]:
    from dask_kubernetes.operator import make_cluster_spec
    spec = make_cluster_spec(name, n_workers=replicas, resources=resources)
    spec["metadata"]["namespace"] = NS
    return spec


def _denied(resp: httpx.Response) -> str:
    assert resp.status_code == 403, (resp.status_code, resp.text)
    message = resp.json()["message"]
    assert message.startswith('admission webhook "validate.dask.kubeflow.org" denied the request: '), message
    return message


@pytest.fixture(scope="module")
def managed(hooks: Hooks) -> Hooks:
    """The managed cluster, made by the controller and the operator through the webhooks."""
    wait_for(lambda: _phase(hooks.emulator) == "Running" and _group_replicas(hooks.emulator) is not None,
             "dask-cluster Running with its worker group", timeout=STARTUP, controller=hooks.controller)
    return hooks


# ----------------------------------------------------------------------------------------- tests

def test_the_controllers_and_the_operators_writes_pass(managed: Hooks) -> None:
    emu = managed.emulator
    assert emu.webhook_calls > 0
    assert emu.get("daskautoscalers", "dask-cluster", NS)["spec"]["maximum"] == 2
    assert "denied the request" not in managed.controller.logs()
    assert "denied the request" not in managed.operator.log_tail(400)


def test_fifty_replicas_are_refused_and_kubectl_prints_why(managed: Hooks, tmp_path: Path) -> None:
    message = _denied(managed.call("POST", f"/apis/{DASK}/v1/namespaces/{NS}/daskclusters", _cluster("big", 50)))
    assert "spec.worker.replicas is 50, more than tier 'default' allows (2 workers per cluster)" in message
    manifest = tmp_path / "big.yaml"
    manifest.write_text(yaml.safe_dump(_cluster("big", 50)))
    result = subprocess.run([str(KUBECTL), "apply", "-f", str(manifest)], capture_output=True, text=True,
                            env={**os.environ, "KUBECONFIG": str(managed.alice.kubeconfig)})
    assert result.returncode != 0
    assert ('admission webhook "validate.dask.kubeflow.org" denied the request: DaskCluster \'big\' in namespace '
            "'alice' is outside tier 'default': spec.worker.replicas is 50") in result.stderr
    assert managed.emulator.get("daskclusters", "big", NS) is None


def test_64_cpu_workers_in_the_operators_worker_group_are_refused(managed: Hooks) -> None:
    group = managed.emulator.get("daskworkergroups", "dask-cluster-default", NS)
    containers = group["spec"]["worker"]["spec"]["containers"]
    containers[0]["resources"]["limits"]["cpu"] = "64"
    message = _denied(managed.call("PATCH", f"/apis/{DASK}/v1/namespaces/{NS}/daskworkergroups/dask-cluster-default",
                                   {"spec": {"worker": {"spec": {"containers": containers}}}},
                                   "application/merge-patch+json"))
    assert "workers cannot be re-shaped" in message and "between 0 and 2 workers" in message
    stored = managed.emulator.get("daskworkergroups", "dask-cluster-default", NS)
    assert stored["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"


def test_escapes_from_the_pod_sandbox_are_refused(managed: Hooks) -> None:
    cluster = _cluster("escape", 1)
    pod = cluster["spec"]["worker"]["spec"]
    pod.update(hostNetwork=True, hostPID=True, volumes=[{"name": "root", "hostPath": {"path": "/"}}])
    pod["containers"][0]["securityContext"] = {"privileged": True}
    message = _denied(managed.call("POST", f"/apis/{DASK}/v1/namespaces/{NS}/daskclusters", cluster))
    for expected in ("securityContext.privileged: true is not allowed", "hostPath (/) mounts the node's files",
                     "hostNetwork: true", "hostPID: true"):
        assert expected in message


def test_kubecluster_scale_and_shutdown_on_close_are_refused(managed: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    from dask_kubernetes.operator import KubeCluster

    monkeypatch.setenv("KUBECONFIG", str(managed.alice.kubeconfig))
    cluster = KubeCluster.from_name("dask-cluster", namespace=NS)
    try:
        with pytest.raises(Exception) as refused:
            cluster.scale(5)
        text = str(refused.value)
        assert "DaskAutoscaler 'dask-cluster' cannot be deleted (KubeCluster.scale() deletes it" in text
        assert "this cluster autoscales between 0 and 2 workers" in text
        assert "use dask_kubeflow.connect(wait_for_workers=n) with n up to 2" in text
        assert managed.emulator.get("daskautoscalers", "dask-cluster", NS) is not None
        assert (_group_replicas(managed.emulator) or 0) <= 2
    finally:
        cluster.close()  # from_name: never deletes
    owner = KubeCluster(name="dask-cluster", namespace=NS, shutdown_on_close=True)
    with pytest.raises(Exception) as refused:
        owner.close(timeout=30)
    assert "DaskCluster 'dask-cluster' cannot be deleted: it is the namespace's shared cluster" in str(refused.value)
    assert managed.emulator.get("daskclusters", "dask-cluster", NS) is not None


def test_scaling_the_shared_worker_group_within_the_maximum_is_allowed(managed: Hooks) -> None:
    path = f"/apis/{DASK}/v1/namespaces/{NS}/daskworkergroups/dask-cluster-default"
    resp = managed.call("PATCH", path, {"spec": {"worker": {"replicas": 2}}}, "application/merge-patch+json")
    assert resp.status_code == 200, resp.text
    message = _denied(managed.call("PATCH", path, {"spec": {"worker": {"replicas": 3}}},
                                   "application/merge-patch+json"))
    assert "spec.worker.replicas is 3, more than tier 'default' allows (2 workers per cluster)" in message


def test_the_operator_still_autoscales_the_managed_cluster_to_max_and_back_to_zero(managed: Hooks) -> None:
    from distributed import Client

    emu = managed.emulator
    wait_for(lambda: _group_replicas(emu) == 0, "the shared cluster idle at 0 workers", timeout=STARTUP,
             controller=managed.controller)
    client = Client(f"tcp://dask-cluster-scheduler.{NS}:8786", timeout=STARTUP)
    try:
        futures = client.map(lambda i: time.sleep(0.5) or i, range(400))
        wait_for(lambda: _group_replicas(emu) == 2, "the operator scaling the worker group to the maximum (2)",
                 timeout=STARTUP, controller=managed.controller)
        wait_for(lambda: len(managed.pod_runner.processes(NS, {"dask.org/component": "worker"})) >= 2,
                 "two worker processes", timeout=STARTUP)
        client.cancel(futures)
    finally:
        client.close()
    wait_for(lambda: _group_replicas(emu) == 0, "the operator scaling back to 0 when idle", timeout=STARTUP,
             controller=managed.controller)
    assert "denied the request" not in managed.operator.log_tail(2000)


def test_user_clusters_are_filled_from_the_tier_and_counted(managed: Hooks) -> None:
    clusters = f"/apis/{DASK}/v1/namespaces/{NS}/daskclusters"
    mine = _cluster("mine", 1)  # no resources at all: the mutating webhook fills them from the tier
    resp = managed.call("POST", clusters, mine)
    assert resp.status_code == 201, resp.text
    assert "filled missing resource requests/limits from tier 'default'" in resp.headers.get("Warning", "")
    stored = managed.emulator.get("daskclusters", "mine", NS)
    assert stored["spec"]["worker"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    try:
        # The webhook counts from the controller's watch cache, behind by the watch's lag: wait until
        # it has seen "mine" (dry-run creates change nothing), then the real create is refused.
        wait_for(lambda: managed.call("POST", clusters + "?dryRun=All", _cluster("second", 0)).status_code == 403,
                 "the webhook counting cluster 'mine'", timeout=60)
        message = _denied(managed.call("POST", clusters, _cluster("second", 0)))
        assert "already runs 1 cluster(s) of its own (mine) and tier 'default' allows 1 (userClusters.maximum)" \
            in message
        message = _denied(managed.call("PATCH", f"{clusters}/mine", {"spec": {"worker": {"replicas": 2}}},
                                       "application/merge-patch+json"))
        assert "allows 1 in total (userClusters.totalWorkers; 1 in use, 0 left)" in message
    finally:
        assert managed.call("DELETE", f"{clusters}/mine").status_code == 200  # one's own cluster: allowed
    wait_for(lambda: managed.emulator.get("daskclusters", "mine", NS) is None, "mine deleted", timeout=60)


def test_webhook_down_fails_closed(managed: Hooks) -> None:
    clusters = f"/apis/{DASK}/v1/namespaces/{NS}/daskclusters"
    managed.emulator.webhook_route(f"{SERVICE}:443", f"127.0.0.1:{_free_port()}")  # nothing listens there
    try:
        resp = managed.call("POST", clusters, _cluster("while-down", 0))
        assert resp.status_code == 500
        assert 'failed calling webhook "mutate.dask.kubeflow.org"' in resp.json()["message"]
        assert managed.emulator.get("daskclusters", "while-down", NS) is None
    finally:
        managed.emulator.webhook_route(f"{SERVICE}:443", f"127.0.0.1:{managed.port}")
    assert managed.call("POST", clusters + "?dryRun=All", _cluster("after", 0)).status_code == 201


def _keep_asking(hooks: Hooks, stop: threading.Event, outcomes: list[int]) -> None:
    clusters = f"/apis/{DASK}/v1/namespaces/{NS}/daskclusters?dryRun=All"
    while not stop.is_set():
        outcomes.append(hooks.call("POST", clusters, _cluster("probe", 0)).status_code)


def test_certificates_rotate_without_a_failed_request(managed: Hooks) -> None:
    stop, outcomes = threading.Event(), []
    asker = threading.Thread(target=_keep_asking, args=(managed, stop, outcomes), daemon=True)
    asker.start()
    try:
        wait_for(lambda: len(outcomes) >= 5, "requests before the rotation", timeout=60)
        # 1. cert-manager renews the leaf (same CA): the server loads it, nothing else changes.
        before = managed.served_serial()
        managed.ca.issue([f"{SERVICE}.svc"]).write(managed.cert_dir)
        wait_for(lambda: managed.served_serial() != before, "the renewed certificate served", timeout=60)
        seen = len(outcomes)
        wait_for(lambda: len(outcomes) >= seen + 5, "requests after the renewal", timeout=60)
        # 2. A new CA: both CAs in the caBundle, then the new CA's certificate, then only the new CA.
        rotated = CertificateAuthority("rotated-webhook-ca")
        managed.set_bundle(base64.b64encode(managed.ca.pem + rotated.pem).decode())
        before = managed.served_serial()
        rotated.issue([f"{SERVICE}.svc"]).write(managed.cert_dir)
        wait_for(lambda: managed.served_serial() != before, "the new CA's certificate served", timeout=60)
        managed.set_bundle(rotated.bundle)
        seen = len(outcomes)
        wait_for(lambda: len(outcomes) >= seen + 5, "requests after the CA rotation", timeout=60)
    finally:
        stop.set()
        asker.join(60)
    assert outcomes and set(outcomes) == {201}, f"{len(outcomes)} requests, statuses {sorted(set(outcomes))}"
