"""Run the real controller (``dask-kubeflow controller`` subprocess) against the API emulator."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kr8s
import pytest
from kr8s.objects import new_class

Profile = new_class("Profile", "kubeflow.org/v1", asyncio=False, namespaced=False)
DaskCluster = new_class("DaskCluster", "kubernetes.dask.org/v1", asyncio=False, namespaced=True)
DaskAutoscaler = new_class("DaskAutoscaler", "kubernetes.dask.org/v1", asyncio=False, namespaced=True)
MANAGED_PLURALS = ("daskclusters", "daskautoscalers", "poddefaults", "networkpolicies")
DEADLINE = 60.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE,
              controller: ControllerProcess | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and the logs)."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            logs = controller.logs()[-4000:] if controller else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n--- controller log ---\n{logs}")
        time.sleep(0.1)


def _free_port() -> int:
    """A port free on every address: the controller binds its metrics on 0.0.0.0, which fails while any pod
    process of the harness holds that port on its own 127.x address."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


@dataclass
class ControllerProcess:
    proc: subprocess.Popen[bytes]
    metrics_port: int
    log_path: Path
    liveness_port: int = 0

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def alive(self) -> bool:
        """kopf's liveness endpoint (what the Deployment's livenessProbe asks)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_controller(emulator: Any, tmp_path: Path) -> Iterator[Callable[..., ControllerProcess]]:
    """Start ``dask-kubeflow controller`` processes on the emulator; all are stopped at teardown,
    and the emulator is emptied (the session shares it: no Profile of ours may outlive the test)."""
    yield from controller_starter(Path(emulator.kubeconfig), tmp_path)
    emulator.reset()


def controller_starter(kubeconfig: Path, tmp_path: Path) -> Iterator[Callable[..., ControllerProcess]]:
    started: list[ControllerProcess] = []

    def start(*args: str, wait_ready: bool = True) -> ControllerProcess:
        port, liveness = _free_port(), _free_port()
        log_path = tmp_path / f"controller-{len(started)}.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        command = [str(Path(sys.executable).parent / "dask-kubeflow"), "controller", "--metrics-port", str(port),
                   "--liveness", f"http://127.0.0.1:{liveness}/healthz", "--workers", "8", *args]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        controller = ControllerProcess(proc, port, log_path, liveness)
        started.append(controller)
        if wait_ready:
            wait_for(lambda: controller.ready() or proc.poll() is not None, "the controller to be ready",
                     controller=controller)
            assert proc.poll() is None, f"controller exited with {proc.returncode}:\n{controller.logs()}"
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def kube(emulator: Any) -> kr8s.Api:
    return kr8s.api(kubeconfig=str(emulator.kubeconfig))


def make_profile(api: kr8s.Api, name: str, owner: str = "alice@example.com",
                 labels: dict[str, str] | None = None) -> None:
    """What Kubeflow's profile-controller leaves behind: a Profile and its labelled Namespace."""
    kr8s.objects.Namespace({
        "metadata": {"name": name, "annotations": {"owner": owner},
                     "labels": {"app.kubernetes.io/part-of": "kubeflow-profile", "istio-injection": "enabled",
                                **(labels or {})}},
    }, api=api).create()
    Profile({"metadata": {"name": name}, "spec": {"owner": {"kind": "User", "name": owner}}}, api=api).create()


def managed(emulator: Any, namespace: str) -> dict[str, list[str]]:
    """Names of the objects of each managed kind in ``namespace`` (as stored by the emulator)."""
    return {plural: sorted(o["metadata"]["name"] for o in emulator.objects(plural, namespace))
            for plural in MANAGED_PLURALS}


def status_of(emulator: Any, namespace: str) -> dict[str, str]:
    body = emulator.get("configmaps", "dask-kubeflow-status", namespace)
    return (body or {}).get("data") or {}


def converged(emulator: Any, namespace: str, phase: str = "Ready", tier: str = "default") -> bool:
    data = status_of(emulator, namespace)
    if data.get("phase") != phase or data.get("tier") != tier:
        return False
    return all(managed(emulator, namespace).values()) if phase == "Ready" else True
