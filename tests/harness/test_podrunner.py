"""The local pod runner against the API emulator, without the operator: Deployments become Pods,
Pods become local processes, probes decide readiness, Services resolve, deletion stops processes."""

from __future__ import annotations

import socket
import sys
import urllib.request
from typing import Any

import kr8s
import pytest
from kr8s.objects import Deployment, Pod

from tests.harness.podrunner import PodRunner
from tests.harness.stack import alive, create, new_namespace, wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture(scope="module")
def api(emulator_server: Any, pod_runner: PodRunner, cluster_dns: Any) -> kr8s.Api:
    return kr8s.api(kubeconfig=str(emulator_server.kubeconfig))


def deployment(name: str, containers: list[dict[str, Any]], replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    }


def pods_of(api: kr8s.Api, namespace: str, app: str) -> list[Pod]:
    return list(api.get("pods", namespace=namespace, label_selector={"app": app}))


def test_scheduler_deployment_becomes_ready_through_its_probe_and_service_name(api: kr8s.Api, pod_runner: PodRunner) -> None:
    ns = new_namespace(api, "probe")
    prefix = f"/dask/{ns}/c"
    scheduler = {
        "name": "scheduler",
        "image": "ghcr.io/dask/dask:latest",
        "args": ["dask-scheduler", "--host", "0.0.0.0", "--dashboard-prefix", prefix],
        "ports": [
            {"name": "tcp-comm", "containerPort": 8786},
            {"name": "http-dashboard", "containerPort": 8787},
        ],
        "readinessProbe": {"httpGet": {"port": "http-dashboard", "path": f"{prefix}/health"}, "periodSeconds": 1},
    }
    create(api, deployment("c-scheduler", [scheduler]), ns)
    create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "c-scheduler"},
            "spec": {
                "selector": {"app": "c-scheduler"},
                "ports": [
                    {"name": "tcp-comm", "port": 8786, "targetPort": "tcp-comm"},
                    {"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"},
                ],
            },
        },
        ns,
    )

    pod = wait_for(
        lambda: next((p for p in pods_of(api, ns, "c-scheduler") if p.ready()), None),
        timeout=60, what="the scheduler pod to pass its readiness probe",
    )
    dep = Deployment.get("c-scheduler", namespace=ns, api=api)
    wait_for(lambda: dep.ready(), timeout=30, what="the Deployment to report 1 ready replica")
    assert dep.raw["status"]["readyReplicas"] == 1

    pod_ip = pod.status.podIP
    assert pod_ip.startswith("127.") and pod_ip != "127.0.0.1"
    [proc] = pod_runner.processes(ns)
    assert proc.argv[1:4] == ("scheduler", "--host", pod_ip)

    # The Service name reaches the pod from the test process, the way a notebook reaches it.
    wait_for(lambda: pod_runner.resolve(f"c-scheduler.{ns}") == (pod_ip,), timeout=30, what="the Service to list the pod")
    assert socket.getaddrinfo(f"c-scheduler.{ns}.svc.cluster.local", 8786)[0][4][0] == pod_ip
    with urllib.request.urlopen(f"http://c-scheduler.{ns}:8787{prefix}/health", timeout=10) as resp:
        assert resp.read() == b"ok"
    [service] = api.get("services", "c-scheduler", namespace=ns)
    assert "loadBalancer" in service.raw["status"]


def test_a_probe_that_misses_the_dashboard_prefix_keeps_the_pod_out_of_its_service(api: kr8s.Api, pod_runner: PodRunner) -> None:
    """The mistake FACTS.md warns about: with --dashboard-prefix, /health answers 404."""
    ns = new_namespace(api, "badprobe")
    scheduler = {
        "name": "scheduler",
        "args": ["dask", "scheduler", "--dashboard-prefix", f"/dask/{ns}/c"],
        "ports": [{"name": "http-dashboard", "containerPort": 8787}],
        "readinessProbe": {"httpGet": {"port": "http-dashboard", "path": "/health"}, "periodSeconds": 1},
    }
    create(api, deployment("c-scheduler", [scheduler]), ns)
    create(
        api,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c-scheduler"},
         "spec": {"selector": {"app": "c-scheduler"}, "ports": [{"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"}]}},
        ns,
    )

    def probe_got_404() -> list[Any]:
        return [e for e in api.get("events", namespace=ns) if e.raw.get("reason") == "Unhealthy" and "-> 404" in e.raw.get("message", "")]

    [event] = wait_for(probe_got_404, timeout=60, what="a readiness-probe failure event saying the scheduler answered 404")
    assert event.raw["involvedObject"]["fieldPath"] == "spec.containers{scheduler}"
    [pod] = pods_of(api, ns, "c-scheduler")
    assert pod.status.phase == "Running" and not pod.ready()
    assert pod_runner.resolve(f"c-scheduler.{ns}") != (pod.status.podIP,)  # not an endpoint while unready


def test_scaling_a_deployment_starts_and_stops_processes(api: kr8s.Api, pod_runner: PodRunner) -> None:
    ns = new_namespace(api, "scale")
    create(api, deployment("sleepers", [{"name": "sleep", "command": SLEEPER}], replicas=3), ns)
    wait_for(lambda: len(pod_runner.processes(ns)) == 3, timeout=60, what="3 sleeper processes")
    before = {p.pod: p.pid for p in pod_runner.processes(ns)}

    Deployment.get("sleepers", namespace=ns, api=api).scale(1)
    wait_for(lambda: len(pod_runner.processes(ns)) == 1, timeout=60, what="scale-down to 1 process")
    wait_for(lambda: len(pods_of(api, ns, "sleepers")) == 1, timeout=30, what="scale-down to 1 pod")
    [kept] = pod_runner.processes(ns)
    stopped = {pid for pod, pid in before.items() if pod != kept.pod}
    assert len(stopped) == 2 and not alive(stopped)


def test_a_deleted_pod_is_stopped_and_replaced(api: kr8s.Api, pod_runner: PodRunner) -> None:
    ns = new_namespace(api, "replace")
    create(api, deployment("one", [{"name": "sleep", "command": SLEEPER}]), ns)
    [first] = wait_for(lambda: pod_runner.processes(ns), timeout=60, what="the first process")
    Pod.get(first.pod, namespace=ns, api=api).delete()
    [second] = wait_for(
        lambda: [p for p in pod_runner.processes(ns) if p.pod != first.pod], timeout=60, what="a replacement pod process"
    )
    wait_for(lambda: not alive({first.pid}), timeout=30, what=f"PID {first.pid} of the deleted pod to exit")
    assert second.pid != first.pid and second.pod_ip != first.pod_ip


def test_a_crashing_container_is_restarted_with_back_off(api: kr8s.Api) -> None:
    ns = new_namespace(api, "crash")
    create(api, deployment("crasher", [{"name": "crash", "command": [sys.executable, "-c", "raise SystemExit(3)"]}]), ns)

    def crash_looping() -> dict[str, Any] | None:
        for pod in pods_of(api, ns, "crasher"):
            for status in pod.raw.get("status", {}).get("containerStatuses", []):
                waiting = status["state"].get("waiting", {})
                if status["restartCount"] >= 1 and waiting.get("reason") == "CrashLoopBackOff":
                    return status
        return None

    status = wait_for(crash_looping, timeout=60, what="the container to be restarted and back off")
    assert "exited with code 3" in status["state"]["waiting"]["message"]


def test_a_container_the_runner_cannot_run_says_why(api: kr8s.Api) -> None:
    ns = new_namespace(api, "unsupported")
    create(api, deployment("shell", [{"name": "sh", "image": "busybox", "command": ["/bin/sh", "-c", "true"]}]), ns)

    def waiting_reason() -> dict[str, Any] | None:
        for pod in pods_of(api, ns, "shell"):
            for status in pod.raw.get("status", {}).get("containerStatuses", []):
                if "waiting" in status["state"] and status["state"]["waiting"].get("reason") == "RunContainerError":
                    return status["state"]["waiting"]
        return None

    waiting = wait_for(waiting_reason, timeout=30, what="the container to report why it cannot run")
    assert "'/bin/sh'" in waiting["message"] and "not installed in the test venv" in waiting["message"]
    assert pods_of(api, ns, "shell")[0].status.phase == "Pending"


def test_a_run_to_completion_pod_succeeds(api: kr8s.Api) -> None:
    ns = new_namespace(api, "job")
    create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "once"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "command": [sys.executable, "-c", "print('done')"]}]},
        },
        ns,
    )
    wait_for(lambda: Pod.get("once", namespace=ns, api=api).status.get("phase") == "Succeeded", timeout=60, what="phase Succeeded")
