"""NetworkPolicy enforced on the real pod runner (issue 11): server pods started by the runner, clients
that are pods (runner-started Pods, or processes given a pod identity with `pod_environment`),
connections allowed or refused as `tests.harness.netpol` says, and the rendered policy's gateway,
operator and cross-namespace cases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kr8s
import pytest
from kr8s.objects import Namespace

from dask_kubeflow.kube.names import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    GATEWAY_POD_LABELS,
    INSTALL_NAMESPACE,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_COMPONENT_LABEL,
    OPERATOR_NAMESPACE,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
)
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import render_namespace
from tests.harness.podrunner import PodRunner, podnet
from tests.harness.stack import OPERATOR_POD_LABELS, create, new_namespace, wait_for

ENFORCE_NETWORK_POLICY = True  # read by the pod_runner fixture: this module's runner enforces
pytestmark = pytest.mark.timeout(300)
STARTUP = 90

# A client: connect, print the outcome, exit 0 (connected) or 3 (refused/blocked).
CLIENT = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=10).close()
    print("connected")
except OSError as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(3)
"""
# A server: HTTP on every port given, on the pod's address (a wildcard bind lands there).
SERVER = """
import http.server, sys, threading
for port in sys.argv[1:]:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", int(port)), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever).start()
"""


@pytest.fixture(scope="module")
def api(emulator_server: Any, pod_runner: PodRunner) -> kr8s.Api:
    assert pod_runner.enforce_network_policy
    return kr8s.api(kubeconfig=str(emulator_server.kubeconfig))


def server_pod(name: str, labels: Mapping[str, str], ports: Mapping[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"containers": [{
            "name": "server", "image": "python:3.11",
            "args": ["python", "-c", SERVER, *map(str, ports.values())],
            "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
            "readinessProbe": {"tcpSocket": {"port": next(iter(ports))}, "periodSeconds": 1},
        }]},
    }


def start_server(api: kr8s.Api, namespace: str, name: str, labels: Mapping[str, str], ports: Mapping[str, int]) -> str:
    """Run a server pod; return its address once it is Ready."""
    create(api, server_pod(name, labels, ports), namespace)

    def ready_ip() -> str | None:
        [pod] = api.get("pods", name, namespace=namespace)
        return pod.raw.get("status", {}).get("podIP") if pod.ready() else None

    return wait_for(ready_ip, timeout=STARTUP, what=f"server pod {namespace}/{name} to be Ready")


def service(api: kr8s.Api, namespace: str, name: str, selector: Mapping[str, str], port: int) -> None:
    create(api, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                 "spec": {"selector": dict(selector), "ports": [{"port": port, "targetPort": port}]}}, namespace)


def netpol(api: kr8s.Api, namespace: str, name: str, spec: Mapping[str, Any]) -> None:
    create(api, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
                 "spec": dict(spec)}, namespace)


def published(runner: PodRunner, namespace: str, name: str) -> bool:
    return any(p.ref == f"{namespace}/{name}" for p in runner.network().policies)


def as_pod(runner: PodRunner, namespace: str, labels: Mapping[str, str], host: str, port: int) -> tuple[bool, str]:
    """Connect from a process that is a pod of `namespace` with `labels` (not a runner-started Pod:
    an identity in the runner's table, released afterwards). Asserts that what happened is what the
    evaluator says about the same connection."""
    env = runner.pod_environment(namespace, "client", labels)
    try:
        table = podnet.TableFile(str(runner.dns_table_path)).table()
        dst = (runner.resolve(host) or (host,))[0]
        expected = table.blocked(env[podnet.ENV_POD_IP], dst, port, "TCP") is None
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, host, str(port)],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **env},
            capture_output=True, text=True, timeout=60,
        )
    finally:
        runner.release_pod_environment(env)
    assert done.returncode in (0, 3), f"client failed: {done.stdout}{done.stderr}"
    assert (done.returncode == 0) is expected, f"the evaluator says allowed={expected}, the connection: {done.stdout}"
    return done.returncode == 0, done.stdout.strip()


def as_client_pod(api: kr8s.Api, runner: PodRunner, namespace: str, name: str, labels: Mapping[str, str],
                  host: str, port: int) -> tuple[bool, str]:
    """Connect from a Pod the runner starts (restartPolicy Never): its phase and log say what happened."""
    create(api, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": dict(labels)},
                 "spec": {"restartPolicy": "Never", "containers": [
                     {"name": "client", "image": "python:3.11", "args": ["python", "-c", CLIENT, host, str(port)]}]}},
           namespace)

    def phase() -> str | None:
        [pod] = api.get("pods", name, namespace=namespace)
        found = pod.raw.get("status", {}).get("phase")
        return found if found in ("Succeeded", "Failed") else None

    outcome = wait_for(phase, timeout=STARTUP, what=f"client pod {namespace}/{name} to finish")
    log = Path(runner.workdir, "pods", namespace, name, "client.log").read_text()
    return outcome == "Succeeded", log


def node_connects(ip: str, port: int) -> bool:
    """From the test process: the node, never subject to NetworkPolicy."""
    with socket.create_connection((ip, port), timeout=10):
        return True


# --------------------------------------------------------------------------- same-namespace isolation


@pytest.fixture(scope="module")
def two_namespaces(api: kr8s.Api, pod_runner: PodRunner) -> Iterator[dict[str, Any]]:
    """Namespace a: web server, default-deny ingress + allow from the same namespace; b: web server, no policy."""
    a, b = new_namespace(api, "np-a"), new_namespace(api, "np-b")
    netpol(api, a, "default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
    netpol(api, a, "allow-same-namespace", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})
    ips = {ns: start_server(api, ns, "web", {"app": "web"}, {"http": 8080}) for ns in (a, b)}
    for ns in (a, b):
        service(api, ns, "web", {"app": "web"}, 8080)
    wait_for(lambda: published(pod_runner, a, "allow-same-namespace"), timeout=30, what="the policies in the table")
    wait_for(lambda: all(pod_runner.resolve(f"web.{ns}") == (ips[ns],) for ns in (a, b)), timeout=30,
             what="the web Services to resolve to their pods")
    yield {"a": a, "b": b, "ips": ips}


@pytest.mark.parametrize(("client_ns", "server_ns", "allowed"), [
    ("a", "a", True),    # allow-same-namespace
    ("b", "a", False),   # default-deny-ingress; no rule admits namespace b
    ("b", "b", True),    # b has no policy
    ("a", "b", True),    # a's pods are not isolated for egress
])
def test_namespace_matrix_as_the_evaluator_says(
    pod_runner: PodRunner, two_namespaces: dict[str, Any], client_ns: str, server_ns: str, allowed: bool
) -> None:
    ns, server_ip = two_namespaces[client_ns], two_namespaces["ips"][two_namespaces[server_ns]]
    ok, said = as_pod(pod_runner, ns, {"app": "client"}, server_ip, 8080)
    assert ok is allowed, said
    if not allowed:
        assert "ConnectionRefusedError" in said and "blocked by NetworkPolicy" in said
        assert f"{two_namespaces['a']}/default-deny-ingress" in said


def test_service_names_resolve_to_pods_and_are_checked_as_those_pods(
    api: kr8s.Api, pod_runner: PodRunner, two_namespaces: dict[str, Any]
) -> None:
    a, b = two_namespaces["a"], two_namespaces["b"]
    ok, said = as_pod(pod_runner, b, {"app": "client"}, f"web.{a}.svc.cluster.local", 8080)
    assert not ok and "blocked by NetworkPolicy" in said
    ok, said = as_pod(pod_runner, a, {"app": "client"}, f"web.{a}", 8080)
    assert ok, said


def test_runner_started_client_pods_are_subject_to_policy(
    api: kr8s.Api, pod_runner: PodRunner, two_namespaces: dict[str, Any]
) -> None:
    a, b = two_namespaces["a"], two_namespaces["b"]
    ok, log = as_client_pod(api, pod_runner, a, "client-a", {"app": "client"}, f"web.{a}", 8080)
    assert ok, log
    ok, log = as_client_pod(api, pod_runner, b, "client-b", {"app": "client"}, f"web.{a}", 8080)
    assert not ok and "blocked by NetworkPolicy" in log and f"{a}/default-deny-ingress" in log
    # The evaluator on the published table gives the same answers for these two pods.
    net = pod_runner.network()
    src_a = next(p for p in net.pods.values() if (p.namespace, p.name) == (a, "client-a"))
    src_b = next(p for p in net.pods.values() if (p.namespace, p.name) == (b, "client-b"))
    server = net.pod_at(two_namespaces["ips"][a])
    assert net.check(src_a, server, 8080) and not net.check(src_b, server, 8080)


def test_the_node_is_not_subject_to_policy(two_namespaces: dict[str, Any]) -> None:
    assert node_connects(two_namespaces["ips"][two_namespaces["a"]], 8080)


def test_a_new_policy_applies_to_new_connections(
    api: kr8s.Api, pod_runner: PodRunner, two_namespaces: dict[str, Any]
) -> None:
    a, b = two_namespaces["a"], two_namespaces["b"]
    ip = two_namespaces["ips"][a]
    assert not as_pod(pod_runner, b, {"role": "auditor"}, ip, 8080)[0]
    netpol(api, a, "allow-auditors", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": b}},
        "podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["auditor"]}]},
    }], "ports": [{"port": "http"}]}]})
    wait_for(lambda: published(pod_runner, a, "allow-auditors"), timeout=30, what="the new policy in the table")
    ok, said = as_pod(pod_runner, b, {"role": "auditor"}, ip, 8080)
    assert ok, said
    assert not as_pod(pod_runner, b, {"role": "intern"}, ip, 8080)[0]   # the AND: namespace b *and* role


def test_egress_isolation_of_the_source_pod(
    api: kr8s.Api, pod_runner: PodRunner, two_namespaces: dict[str, Any]
) -> None:
    b = two_namespaces["b"]
    netpol(api, b, "locked-egress", {"podSelector": {"matchLabels": {"role": "locked"}}, "policyTypes": ["Egress"],
                                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "nothing"}}}]}]})
    wait_for(lambda: published(pod_runner, b, "locked-egress"), timeout=30, what="the egress policy in the table")
    ok, said = as_pod(pod_runner, b, {"role": "locked"}, two_namespaces["ips"][b], 8080)
    assert not ok and "egress of pod" in said and f"{b}/locked-egress" in said
    with socket.socket() as node_server:  # traffic to the node is always allowed
        node_server.bind(("127.0.0.1", 0))
        node_server.listen()
        ok, said = as_pod(pod_runner, b, {"role": "locked"}, "127.0.0.1", node_server.getsockname()[1])
        assert ok, said


def test_the_table_follows_label_changes_and_reports_invalid_policies(
    api: kr8s.Api, pod_runner: PodRunner, two_namespaces: dict[str, Any]
) -> None:
    a, ip = two_namespaces["a"], two_namespaces["ips"][two_namespaces["a"]]
    [web] = api.get("pods", "web", namespace=a)
    web.patch({"metadata": {"labels": {"tier": "relabelled"}}})
    wait_for(lambda: (pod_runner.network().pod_at(ip).labels or {}).get("tier") == "relabelled", timeout=30,
             what="the new label in the runner's table")
    netpol(api, a, "invalid", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]})
    wait_for(lambda: any(f"NetworkPolicy {a}/invalid: spec.ingress[0].from[0]: Forbidden" in e for e in pod_runner.errors),
             timeout=30, what="the runner to report the invalid policy")


# --------------------------------------------------------------------------- the rendered policy


@pytest.fixture(scope="module")
def rendered(api: kr8s.Api, pod_runner: PodRunner) -> dict[str, Any]:
    """A profile namespace with the rendered NetworkPolicy and a pod labelled as its scheduler."""
    for ns in (INSTALL_NAMESPACE, OPERATOR_NAMESPACE):
        try:
            Namespace({"metadata": {"name": ns}}, api=api).create()
        except kr8s.ServerError:
            pass  # already there
    user = new_namespace(api, "np-user")
    facts = NamespaceFacts(user, {}, "user@example.com")
    [policy] = [o for o in render_namespace(facts, resolve(parse_policy({}), facts)) if o["kind"] == "NetworkPolicy"]
    create(api, policy, user)
    cluster = policy["spec"]["podSelector"].get("matchLabels", {}).get(OPERATOR_CLUSTER_LABEL, "dask-cluster")
    labels = {OPERATOR_CLUSTER_LABEL: cluster, OPERATOR_COMPONENT_LABEL: "scheduler"}
    ip = start_server(api, user, "scheduler", labels,
                      {SCHEDULER_PORT_NAME: SCHEDULER_PORT, DASHBOARD_PORT_NAME: DASHBOARD_PORT})
    wait_for(lambda: published(pod_runner, user, policy["metadata"]["name"]), timeout=30, what="the rendered policy")
    return {"namespace": user, "ip": ip, "cluster": cluster, "mallory": new_namespace(api, "np-mallory")}


@pytest.mark.parametrize(("who", "labels", "reaches"), [
    ("gateway", GATEWAY_POD_LABELS, {DASHBOARD_PORT}),
    ("install-namespace pod without the gateway's labels", {"app": "other"}, set()),
    ("gateway labels in another namespace", GATEWAY_POD_LABELS, set()),
    ("operator", OPERATOR_POD_LABELS, {SCHEDULER_PORT, DASHBOARD_PORT}),
    ("worker of the same cluster", None, {SCHEDULER_PORT, DASHBOARD_PORT}),
    ("pod of another profile", {"app": "x"}, set()),
])
def test_rendered_policy_on_the_runner(
    pod_runner: PodRunner, rendered: dict[str, Any], who: str, labels: Mapping[str, str] | None, reaches: set[int]
) -> None:
    namespace = {
        "gateway": INSTALL_NAMESPACE,
        "install-namespace pod without the gateway's labels": INSTALL_NAMESPACE,
        "gateway labels in another namespace": rendered["mallory"],
        "operator": OPERATOR_NAMESPACE,
        "worker of the same cluster": rendered["namespace"],
        "pod of another profile": rendered["mallory"],
    }[who]
    if labels is None:
        labels = {OPERATOR_CLUSTER_LABEL: rendered["cluster"], OPERATOR_COMPONENT_LABEL: "worker"}
    outcome = {port: as_pod(pod_runner, namespace, labels, rendered["ip"], port) for port in (SCHEDULER_PORT, DASHBOARD_PORT)}
    assert {port for port, (ok, _) in outcome.items() if ok} == reaches, f"{who}: {outcome}"


def test_rendered_policy_fences_clusters_users_make_themselves(
    api: kr8s.Api, pod_runner: PodRunner, rendered: dict[str, Any]
) -> None:
    ip = start_server(api, rendered["namespace"], "own-scheduler",
                      {OPERATOR_CLUSTER_LABEL: "my-own", OPERATOR_COMPONENT_LABEL: "scheduler"},
                      {SCHEDULER_PORT_NAME: SCHEDULER_PORT})
    ok, said = as_pod(pod_runner, rendered["mallory"], {"app": "x"}, ip, SCHEDULER_PORT)
    assert not ok, f"another profile's pod reaches a user-made scheduler's {SCHEDULER_PORT}: {said}"


def test_rendered_policy_keeps_dask_pods_from_the_metadata_address_and_other_namespaces(
    pod_runner: PodRunner, rendered: dict[str, Any]
) -> None:
    net = pod_runner.network()
    PolicyPod = podnet.load_netpol().Pod  # the evaluator's own class (the runner loads netpol.py by path)
    worker = PolicyPod(rendered["namespace"], "worker", "127.255.9.9",
                        {OPERATOR_CLUSTER_LABEL: rendered["cluster"], OPERATOR_COMPONENT_LABEL: "worker"})
    unprotected = PolicyPod(rendered["mallory"], "db", "127.255.9.10", {"app": "db"})
    assert not net.check(worker, "169.254.169.254", 80), "a Dask worker reaches the cloud metadata address"
    assert not net.check(worker, unprotected, 5432), "a Dask worker reaches another namespace's unprotected pod"


def test_hook_is_inert_when_the_table_does_not_enforce(tmp_path: Path) -> None:
    """The same hook with enforcement off (the default runner): no check at all, whatever the policies."""
    table = tmp_path / "table.json"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    deny_all = {"metadata": {"name": "deny", "namespace": "x"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    network = {"enforce": False, "pod_cidr": "127.255.0.0/16", "namespaces": {}, "policies": [deny_all],
               "pods": [{"namespace": "x", "name": "p", "ip": "127.255.0.9", "labels": {}, "ports": []}]}
    podnet.write_table(str(table), podnet.DnsTable({}, network))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(podnet.__file__).parent / "child_site"),
           podnet.ENV_TABLE: str(table), podnet.ENV_POD_IP: "127.255.0.9", podnet.ENV_NAMESPACE: "x"}
    with listener:
        # 192.0.2.1 (TEST-NET) would hang if it were tried; a deny-all egress must not be consulted either way.
        run = subprocess.run([sys.executable, "-c", CLIENT, "127.0.0.1", str(listener.getsockname()[1])],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        network["enforce"] = True
        podnet.write_table(str(table), podnet.DnsTable({}, network))
        blocked = subprocess.run([sys.executable, "-c", CLIENT, "192.0.2.1", "80"],
                                 env=env, capture_output=True, text=True, timeout=60)
        assert blocked.returncode == 3 and "blocked by NetworkPolicy" in blocked.stdout, blocked.stdout + blocked.stderr
        assert "x/deny" in blocked.stderr  # each distinct refusal is written once to the pod's log too


def test_udp_connect_is_not_checked(tmp_path: Path) -> None:
    """A UDP connect() sends nothing (distributed's get_ip "connects" to 8.8.8.8 to choose an interface):
    it must not fail under a deny-all egress policy."""
    table = tmp_path / "table.json"
    deny_all = {"metadata": {"name": "deny", "namespace": "x"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    network = {"enforce": True, "pod_cidr": "127.255.0.0/16", "namespaces": {}, "policies": [deny_all],
               "pods": [{"namespace": "x", "name": "p", "ip": "127.255.0.9", "labels": {}, "ports": []}]}
    podnet.write_table(str(table), podnet.DnsTable({}, network))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(podnet.__file__).parent / "child_site"),
           podnet.ENV_TABLE: str(table), podnet.ENV_POD_IP: "127.255.0.9", podnet.ENV_NAMESPACE: "x"}
    code = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('192.0.2.1', 53)); print('ok')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "ok", run.stdout + run.stderr


def test_table_decisions_for_unknown_sources_and_the_node() -> None:
    network = {"enforce": True, "pod_cidr": "127.255.0.0/16", "namespaces": {},
               "policies": [{"metadata": {"name": "deny", "namespace": "x"},
                             "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}],
               "pods": [{"namespace": "x", "name": "p", "ip": "127.255.0.9", "labels": {}, "ports": []}]}
    table = podnet.DnsTable({}, network)
    assert "no pod the runner knows" in (table.blocked("127.255.0.77", "127.255.0.9", 80, "TCP") or "")
    assert table.blocked("127.255.0.9", "127.0.0.1", 80, "TCP") is None        # the node: always allowed
    assert table.blocked("127.255.0.9", "127.255.0.9", 80, "TCP") is None      # itself
    assert "x/deny" in (table.blocked("127.255.0.9", "127.255.0.50", 80, "TCP") or "")  # a Service address, no pod
    assert "x/deny" in (table.blocked("127.255.0.9", "10.0.0.1", 80, "TCP") or "")      # cluster-external
    assert podnet.DnsTable({}, {**network, "enforce": False}).blocked("127.255.0.77", "10.0.0.1", 80, "TCP") is None


def test_table_versions_are_seen_even_within_one_clock_tick(tmp_path: Path) -> None:
    """Readers cache by (mtime, size): two same-sized versions written back to back must still differ."""
    path = str(tmp_path / "table.json")
    reader = podnet.TableFile(path)
    for i in range(20):
        podnet.write_table(path, podnet.DnsTable({"ns": {"svc": [f"127.255.0.{10 + i % 2}"]}}))
        assert reader.table().lookup("svc.ns") == (f"127.255.0.{10 + i % 2}",)
