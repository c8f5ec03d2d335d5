"""The pod runner's pure parts and local mechanics, without an API server: commands, DNS, status,
addresses, process-tree stopping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dask_kubernetes.operator import make_cluster_spec

from tests.harness.podrunner import podnet
from tests.harness.podrunner.addresses import LoopbackBlock
from tests.harness.podrunner.commands import (
    UnsupportedContainer,
    container_env,
    expand_references,
    local_command,
)
from tests.harness.podrunner.processes import is_alive, process_tree, start_process, stop_process
from tests.harness.podrunner.runner import CHILD_SITE
from tests.harness.podrunner.status import ContainerView, deployment_status, pod_phase

BIN = Path(sys.executable).parent


def test_references_expand_like_kubernetes() -> None:
    env = {"NAME": "w-1", "ADDR": "tcp://x:8786"}
    assert expand_references("$(NAME)", env) == "w-1"
    assert expand_references("--name=$(NAME) $(ADDR)", env) == "--name=w-1 tcp://x:8786"
    assert expand_references("$(UNDEFINED)", env) == "$(UNDEFINED)"
    assert expand_references("$$(NAME)", env) == "$(NAME)"


def test_upstream_cluster_spec_runs_as_modern_dask_commands_bound_to_the_pod() -> None:
    spec = make_cluster_spec("demo", n_workers=1)
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    worker = spec["spec"]["worker"]["spec"]["containers"][0]
    assert scheduler["args"][0] == "dask-scheduler"  # what upstream emits, gone from distributed 2026.8

    cmd = local_command(scheduler, {}, "127.9.0.1", BIN)
    assert cmd.role == "scheduler"
    assert cmd.argv == (str(BIN / "dask"), "scheduler", "--host", "127.9.0.1")

    cmd = local_command(worker, {"DASK_WORKER_NAME": "demo-default-worker-abc"}, "127.9.0.2", BIN)
    assert cmd.role == "worker"
    assert cmd.argv[:4] == (str(BIN / "dask"), "worker", "--name", "demo-default-worker-abc")
    assert cmd.argv[-2:] == ("--host", "127.9.0.2")


def test_explicit_host_and_interface_are_kept() -> None:
    container = {"name": "w", "args": ["dask", "worker", "--host=10.1.1.1"]}
    assert local_command(container, {}, "127.9.0.3", BIN).argv[-1] == "--host=10.1.1.1"
    container = {"name": "w", "command": ["dask-worker"], "args": ["--interface", "lo"]}
    assert "--host" not in local_command(container, {}, "127.9.0.3", BIN).argv


def test_programs_outside_the_venv_are_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedContainer, match="'/bin/sh'.*not installed in the test venv"):
        local_command({"name": "c", "command": ["/bin/sh", "-c", "true"]}, {}, "127.9.0.4", BIN)
    with pytest.raises(UnsupportedContainer, match="neither command nor args"):
        local_command({"name": "c"}, {}, "127.9.0.4", BIN)


def test_container_env_resolves_field_refs_and_refuses_secrets_by_name() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"}}, "spec": {}}
    container = {
        "name": "c",
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a']"}}},
            {"name": "BOTH", "value": "$(POD)@$(IP)"},
        ],
    }
    assert container_env(container, pod, "127.9.0.5") == {
        "POD": "p", "IP": "127.9.0.5", "LABEL": "b", "BOTH": "p@127.9.0.5",
    }
    secret = {"name": "c", "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    with pytest.raises(UnsupportedContainer, match="'TOKEN' uses valueFrom.secretKeyRef"):
        container_env(secret, pod, "127.9.0.5")


def test_cluster_dns_names() -> None:
    table = podnet.DnsTable({"ns1": {"c-scheduler": ["127.9.0.7"]}, "ns2": {}})
    for name in ("c-scheduler.ns1", "c-scheduler.ns1.svc", "c-scheduler.ns1.svc.cluster.local", "C-Scheduler.ns1."):
        assert table.lookup(name) == ("127.9.0.7",)
    assert table.lookup("c-scheduler.ns2") == ()  # known namespace, no such Service: NXDOMAIN
    assert table.lookup("other.ns9.svc.cluster.local") == ()
    assert table.lookup("example.com") is None  # not a cluster name: resolved normally
    assert table.lookup("c-scheduler") is None
    assert table.lookup("c-scheduler", search_namespace="ns1") == ("127.9.0.7",)
    assert "MAP c-scheduler.ns1 127.9.0.7" in table.host_resolver_rules()


def test_pod_processes_resolve_cluster_names_and_bind_on_their_own_address(tmp_path: Path) -> None:
    """The sitecustomize every pod process gets: cluster DNS, and the pod's own address for wildcard binds
    and as the source of its loopback connections."""
    table = tmp_path / "dns.json"
    podnet.write_table(str(table), podnet.DnsTable({"ns1": {"c-scheduler": ["127.9.0.8"]}}))
    code = (
        "import socket, json;"
        "a = socket.getaddrinfo('c-scheduler.ns1.svc.cluster.local', 8786, type=socket.SOCK_STREAM)[0][4][0];"
        "b = socket.gethostbyname('c-scheduler');"
        "s = socket.socket(); s.bind(('0.0.0.0', 0)); c = s.getsockname()[0]; s.listen();"
        "o = socket.create_connection(s.getsockname()); peer = s.accept()[1][0];"
        "err = None\n"
        "try: socket.getaddrinfo('missing.ns1', 80)\n"
        "except socket.gaierror as e: err = str(e)\n"
        "print(json.dumps([a, b, c, peer, err]))"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(CHILD_SITE),
        podnet.ENV_TABLE: str(table),
        podnet.ENV_POD_IP: "127.9.0.9",
        podnet.ENV_NAMESPACE: "ns1",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    resolved, searched, bound, peer, error = json.loads(out.stdout)
    assert (resolved, searched, bound, peer) == ("127.9.0.8", "127.9.0.8", "127.9.0.9", "127.9.0.9")
    assert "missing.ns1" in error and "not a Service" in error


def test_pod_phase_and_deployment_status() -> None:
    running = ContainerView("c", "img", "running", True, 0, started_at=1.0)
    creating = ContainerView("c", "img", "waiting", False, 0)
    crashing = ContainerView("c", "img", "waiting", False, 2, reason="CrashLoopBackOff")
    failed = ContainerView("c", "img", "terminated", False, 0, exit_code=3)
    assert pod_phase([creating], "Always") == "Pending"
    assert pod_phase([running], "Always") == "Running"
    assert pod_phase([crashing], "Always") == "Running"
    assert pod_phase([failed], "Never") == "Failed"

    dep = {"metadata": {"generation": 4}, "spec": {"replicas": 2}}
    ready_pod = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    unready_pod = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    status = deployment_status(dep, [ready_pod, unready_pod])
    assert status["observedGeneration"] == 4
    assert (status["replicas"], status["readyReplicas"], status["unavailableReplicas"]) == (2, 1, 1)
    assert status["conditions"][0]["status"] == "False"


def test_runners_get_distinct_loopback_blocks(tmp_path: Path) -> None:
    first, second = LoopbackBlock(tmp_path), LoopbackBlock(tmp_path)
    try:
        assert first.octet != second.octet
        addresses = {first.allocate() for _ in range(600)}
        assert len(addresses) == 600
        assert all(a.startswith(f"127.{first.octet}.") for a in addresses)
    finally:
        first.close()
        second.close()


def test_stopping_a_container_stops_its_whole_process_tree(tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
        "time.sleep(120)"
    )
    popen = start_process([sys.executable, "-c", script], {"PATH": os.environ["PATH"]}, tmp_path, tmp_path / "c.log")
    deadline = time.monotonic() + 30
    while len(process_tree(popen.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = process_tree(popen.pid)
    assert len(tree) == 2
    stop_process(popen, grace_seconds=2.0)
    assert not any(is_alive(pid) for pid in tree)
