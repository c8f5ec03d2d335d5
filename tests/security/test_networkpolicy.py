"""Issue 11 item 3 — only the policy's own cluster was fenced, and nothing stopped Dask pods going out.

The NetworkPolicy render produces for alice's namespace, evaluated by the harness' NetworkPolicy
evaluator (``tests.harness.netpol``, the spec's rules; the same code the pod runner enforces at
connect time, see tests/harness/test_netpol_enforced.py for the same cases on real pods) against
every kind of pod in a cluster: alice's managed cluster, a cluster alice made herself, a DaskJob's
runner, alice's notebook, mallory's pods (plain and Dask), the gateway, a look-alike of the gateway,
the operator, Prometheus. Got through: a connection the threat model forbids is allowed.

On the code before this change: mallory reached the user-made cluster's and the DaskJob's 8786
(code execution in alice's workers) and every Dask pod reached other namespaces and
169.254.169.254 (no egress rules).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from dask_kubeflow.kube.names import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    CONTROLLER_POD_LABELS,
    GATEWAY_POD_LABELS,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_COMPONENT_LABEL,
    OPERATOR_POD_LABELS,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
)
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import Platform, render_namespace
from tests.harness.netpol import ContainerPort, Network, Pod, policy_from_manifest, problems

PLATFORM = Platform(install_namespace="kubeflow", operator_namespace="dask-operator", metrics_namespace="monitoring")
WORKER_PORT = 40123  # a worker's random comm port
SCHEDULER_PORTS = (ContainerPort(SCHEDULER_PORT_NAME, SCHEDULER_PORT), ContainerPort(DASHBOARD_PORT_NAME, DASHBOARD_PORT))
_ips = iter(f"10.1.0.{i}" for i in range(2, 250))


def pod(namespace: str, name: str, labels: Mapping[str, str], ports: tuple[ContainerPort, ...] = ()) -> Pod:
    return Pod(namespace, name, next(_ips), dict(labels), ports)


def dask(namespace: str, cluster: str, component: str, name: str) -> Pod:
    ports = SCHEDULER_PORTS if component == "scheduler" else ()
    return pod(namespace, name, {OPERATOR_CLUSTER_LABEL: cluster, OPERATOR_COMPONENT_LABEL: component}, ports)


PODS = {
    "alice scheduler": dask("alice", "dask-cluster", "scheduler", "dask-cluster-scheduler"),
    "alice worker": dask("alice", "dask-cluster", "worker", "dask-cluster-default-worker-1"),
    "alice own scheduler": dask("alice", "my-own", "scheduler", "my-own-scheduler"),
    "alice own worker": dask("alice", "my-own", "worker", "my-own-default-worker-1"),
    "alice job runner": dask("alice", "nightly", "job-runner", "nightly-runner"),
    "alice job scheduler": dask("alice", "nightly", "scheduler", "nightly-scheduler"),
    "alice notebook": pod("alice", "notebook-0", {"notebook-name": "notebook"}),
    "mallory notebook": pod("mallory", "notebook-0", {"notebook-name": "notebook"}),
    "mallory dask worker": dask("mallory", "dask-cluster", "worker", "dask-cluster-default-worker-1"),
    "mallory db": pod("mallory", "db", {"app": "db"}, (ContainerPort("pg", 5432),)),
    "mallory fake gateway": pod("mallory", "gw", GATEWAY_POD_LABELS),
    "mallory fake operator": pod("mallory", "op", OPERATOR_POD_LABELS),
    "gateway": pod("kubeflow", "dask-kubeflow-gateway-1", GATEWAY_POD_LABELS),
    "controller": pod("kubeflow", "dask-kubeflow-controller-1", CONTROLLER_POD_LABELS),
    "mallory fake controller": pod("mallory", "ctl", CONTROLLER_POD_LABELS),
    "other kubeflow pod": pod("kubeflow", "ml-pipeline", {"app": "ml-pipeline"}),
    "operator": pod("dask-operator", "dask-kubernetes-operator-1", OPERATOR_POD_LABELS),
    "other pod in the operator namespace": pod("dask-operator", "x", {"app": "x"}),
    "prometheus": pod("monitoring", "prometheus-0", {"app.kubernetes.io/name": "prometheus"}),
    "other pod of the monitoring namespace": pod("monitoring", "grafana-0", {"app.kubernetes.io/name": "grafana"}),
    "kube-dns": pod("kube-system", "coredns-1", {"k8s-app": "kube-dns"}, (ContainerPort("dns", 53, "UDP"),
                                                                          ContainerPort("dns-tcp", 53))),
    "other kube-system pod": pod("kube-system", "kube-proxy", {"k8s-app": "kube-proxy"}),
}
ALICE_DASK = [k for k in PODS if k.startswith("alice") and k != "alice notebook"]
ALICE_SCHEDULERS = [k for k in ALICE_DASK if k.endswith("scheduler")]
ALICE_PORTS = {"alice scheduler": (SCHEDULER_PORT, DASHBOARD_PORT), "alice own scheduler": (SCHEDULER_PORT, DASHBOARD_PORT),
               "alice job scheduler": (SCHEDULER_PORT, DASHBOARD_PORT)}


def network(policy_document: dict | None = None) -> Network:
    policies = []
    for ns in ("alice", "mallory"):
        facts = NamespaceFacts(ns)
        shape = resolve(parse_policy(policy_document or {}), facts)
        policies += [o for o in render_namespace(facts, shape, PLATFORM) if o["kind"] == "NetworkPolicy"]
    for obj in policies:
        assert problems(obj) == [], obj  # what the API server would refuse
    return Network(PODS.values(), {}, [policy_from_manifest(o) for o in policies])


def expected_ingress(src: str, dst: str, port: int) -> bool:
    """The threat model for connections INTO alice's Dask pods."""
    if src.startswith("alice"):
        return True  # the namespace's own pods, any port (workers use random ports)
    scheduler = dst in ALICE_SCHEDULERS
    if src == "operator":
        return scheduler and port in (SCHEDULER_PORT, DASHBOARD_PORT)
    if src in ("gateway", "prometheus", "controller"):
        return scheduler and port == DASHBOARD_PORT
    return False


def test_ingress_matrix_into_every_dask_pod_of_the_namespace(attack) -> None:
    net = network()
    wrong = []
    for dst in ALICE_DASK:
        for src in PODS:
            if src == dst:
                continue
            for port in (SCHEDULER_PORT, DASHBOARD_PORT, WORKER_PORT):
                allowed = bool(net.check(PODS[src], PODS[dst], port))
                expected = expected_ingress(src, dst, port)
                if not expected:
                    attack.attempt(f"{src} -> {dst}:{port}", allowed)
                elif not allowed:
                    wrong.append(f"{src} -> {dst}:{port} refused: {net.check(PODS[src], PODS[dst], port).reason}")
    attack.assert_none_got_through()
    assert not wrong, "legitimate traffic refused:\n" + "\n".join(wrong)


EXTERNAL = {
    "cloud metadata": ("169.254.169.254", 80),
    "internet https": ("93.184.216.34", 443),
    "kubernetes API (ClusterIP)": ("10.96.0.1", 443),
    "kubernetes API (endpoint)": ("192.168.1.10", 6443),
}


def test_egress_matrix_out_of_every_dask_pod(attack) -> None:
    net = network()
    wrong = []
    for src in ALICE_DASK:
        for dst in PODS:
            if dst == src:
                continue
            ports = [(53, "UDP"), (53, "TCP")] if dst == "kube-dns" else [(SCHEDULER_PORT, "TCP"), (5432, "TCP"),
                                                                          (WORKER_PORT, "TCP")]
            for port, protocol in ports:
                egress = net.check(PODS[src], PODS[dst], port, protocol).egress
                expected = dst.startswith("alice") or dst == "kube-dns"
                if not expected:
                    attack.attempt(f"{src} -> {dst}:{port}/{protocol}", egress.allowed)
                elif not egress.allowed:
                    wrong.append(f"{src} -> {dst}:{port}/{protocol}")
        for what, (ip, port) in EXTERNAL.items():
            attack.attempt(f"{src} -> {what} {ip}:{port}", bool(net.check(PODS[src], ip, port)))
        attack.attempt(f"{src} -> other kube-system pod:53", bool(net.check(PODS[src], PODS["other kube-system pod"], 53, "UDP")))
    attack.assert_none_got_through()
    assert not wrong, "legitimate egress refused: " + ", ".join(wrong)


def test_tier_egress_opens_only_what_it_names(attack) -> None:
    document = {"defaults": {"network": {"egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/8", "192.168.0.0/16"]}}],
         "ports": [{"port": 443}]},
        {"to": [{"namespace": "kubeflow", "podLabels": {"app": "ml-pipeline"}}], "ports": [{"port": 8888}]},
    ]}}}
    net = network(document)
    worker = PODS["alice worker"]
    assert net.check(worker, "93.184.216.34", 443), "the tier's HTTPS egress is not open"
    assert net.check(worker, PODS["other kubeflow pod"], 8888).egress.allowed
    for label, dst, port in [
        ("metadata on 443", "169.254.169.254", 443), ("metadata on 80", "169.254.169.254", 80),
        ("internet on 80", "93.184.216.34", 80), ("API ClusterIP", "10.96.0.1", 443),
        ("API endpoint", "192.168.1.10", 443), ("kubeflow pod, other port", PODS["other kubeflow pod"], 9000),
        ("gateway pod on the opened port", PODS["gateway"], 8888), ("mallory db", PODS["mallory db"], 5432),
    ]:
        verdict = net.check(worker, dst, port)
        attack.attempt(label, verdict.egress.allowed)
    attack.assert_none_got_through()


@pytest.mark.parametrize("cidr, excepted", [("0.0.0.0/0", []), ("169.254.0.0/16", []), ("169.254.169.254/32", []),
                                            ("::/0", []), ("0.0.0.0/0", ["169.254.0.0/24"])])
def test_egress_that_would_open_the_metadata_address_is_refused(cidr: str, excepted: list[str]) -> None:
    from dask_kubeflow.policy import PolicyError

    with pytest.raises(PolicyError) as caught:
        parse_policy({"defaults": {"network": {"egress": [{"to": [{"ipBlock": {"cidr": cidr, "except": excepted}}]}]}}})
    [problem] = caught.value.problems
    assert problem.path == "defaults.network.egress[0].to[0].ipBlock"
    assert "metadata address" in problem.message and "except" in problem.message
