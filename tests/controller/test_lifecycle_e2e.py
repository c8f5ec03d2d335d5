"""Hibernation and wake on use, end to end: the real controller (its clock settable, so hours take
seconds), the upstream operator, local pods running real Dask, and the doors users come through —
a notebook pod starting, the seed's snippet, connect(), ``dask-kubeflow cluster wake`` — plus a
stranger who tries the same and wakes nothing; a wake starts the first worker with the scheduler and
the autoscaler still scales it away when idle; the idle timer survives a controller restart.

One stack and one controller for the module; the tests run in order on one namespace, each starting
from a hibernated cluster (the clock jumps two hours past ``lifecycle.hibernateAfter: 1h``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.config
import httpx
import kr8s
import pytest
import yaml

import dask_kubeflow
from dask_kubeflow.client.diagnose import pod_is_ready
from dask_kubeflow.client.environment import NAMESPACE_FILE_ENV
from dask_kubeflow.kube.names import (
    FIRST_WORKER_SINCE_ANNOTATION,
    HIBERNATED_ANNOTATION,
    IDLE_SINCE_ANNOTATION,
    OPERATOR_COOLDOWN_ANNOTATION,
    WAKE_REQUESTED_ANNOTATION,
)
from tests.client.test_kubernetes_connect import SEED_SNIPPET
from tests.harness.stack import K8sStack

from .conftest import ControllerProcess, Profile, controller_starter, wait_for

pytestmark = pytest.mark.timeout(900)
# The upstream autoscaler's own 15 s cooldown (no harness shortening): a wake writes that annotation
# to hold the autoscaler for the first worker, as on a real cluster.
AUTOSCALER_COOLDOWN_SECONDS = None
STARTUP = 180.0
REPO = Path(__file__).resolve().parents[2]
POLICY = """
defaults:
  scheduler:
    resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 1Gi}}
  worker:
    threads: 1
    resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {cpu: "1", memory: 1Gi}}
  scaling: {minimum: 0, maximum: 1, idleAfter: 2s}
  lifecycle: {hibernateAfter: 1h}
"""
SCHEDULER = "dask.org/cluster-name=dask-cluster,dask.org/component=scheduler"


@dataclass
class Stack:
    k8s: K8sStack
    controller: ControllerProcess
    clock: Path
    namespace: str
    poddefault_env: dict[str, str]
    namespace_file: Path
    start: Callable[..., ControllerProcess]

    def restart(self) -> None:
        """Stop the controller and start a new one (same clock file, same flags)."""
        self.controller.stop()
        with pytest.MonkeyPatch.context() as mp:  # it reaches schedulers by cluster DNS, as in a pod
            for key, value in self.k8s.runner.dns_environment().items():
                mp.setenv(key, value)
            self.controller = self.start("--clock-file", str(self.clock), "--lifecycle-interval", "1", "-v")

    def jump(self, hours: float = 2.0) -> None:
        """Move the controller's clock ``hours`` ahead (it re-reads the file when it changes)."""
        offset = float(self.clock.read_text() or 0) + hours * 3600
        self.clock.write_text(str(offset))

    def scheduler_pods(self) -> list[dict[str, Any]]:
        return self.k8s.emulator.objects("pods", self.namespace, label_selector=SCHEDULER)

    def scheduler_ready(self) -> bool:
        return any(pod_is_ready(p) for p in self.scheduler_pods())

    def lifecycle(self) -> str:
        return ((self.k8s.emulator.get("configmaps", "dask-kubeflow-status", self.namespace) or {})
                .get("data") or {}).get("lifecycle", "")

    def annotations(self) -> dict[str, str]:
        cluster = self.k8s.emulator.get("daskclusters", "dask-cluster", self.namespace) or {}
        return cluster.get("metadata", {}).get("annotations") or {}

    def hibernated(self) -> bool:
        deployment = self.k8s.emulator.get("deployments", "dask-cluster-scheduler", self.namespace) or {}
        return (self.lifecycle() == "Hibernated" and HIBERNATED_ANNOTATION in self.annotations()
                and deployment.get("spec", {}).get("replicas") == 0 and not self.scheduler_pods())

    def hibernate(self) -> None:
        """Wait until nothing keeps the cluster awake, jump the clock, wait for the hibernation."""
        wait_for(lambda: not self.k8s.emulator.objects("pods", self.namespace, label_selector="dask.org/component=worker"),
                 "the workers to be scaled away", timeout=STARTUP, controller=self.controller)
        wait_for(self.scheduler_ready, "a ready scheduler", timeout=STARTUP, controller=self.controller)
        last_jump = [0.0]

        def jumped_and_hibernated() -> bool:
            # The controller may still be seeing the scheduler start (busy) when the clock first jumps:
            # jump again until the idle timer, counted from what the controller saw, has passed.
            if self.hibernated():
                return True
            if time.monotonic() - last_jump[0] > 3:
                self.jump()
                last_jump[0] = time.monotonic()
            return False

        wait_for(jumped_and_hibernated, "the idle cluster to hibernate", timeout=STARTUP, controller=self.controller)

    def notebook_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "PYTHONPATH"))}
        env.update(self.k8s.runner.dns_environment())
        env.update(KUBECONFIG=str(self.k8s.kubeconfig), COLUMNS="250", **{NAMESPACE_FILE_ENV: str(self.namespace_file)})
        env.update(self.poddefault_env)
        return env


def _seed(api: kr8s.Api) -> None:
    """The install namespace, the policy, Kubeflow's roles and dask-kubeflow's aggregated ones."""
    kr8s.objects.Namespace({"metadata": {"name": "dask-kubeflow"}}, api=api).create()
    kr8s.objects.ConfigMap({"metadata": {"name": "dask-kubeflow-policy", "namespace": "dask-kubeflow"},
                            "data": {"policy.yaml": POLICY}}, api=api).create()
    for path in (REPO / "deploy/base/rbac/aggregate-to-kubeflow.yaml",
                 REPO / "reference/kubeflow/examples/kubeflow-roles-cluster-roles.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ClusterRole":
                kr8s.objects.ClusterRole(doc, api=api).create()


def _edit_binding(namespace: str, user: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "user-alice-example-com-clusterrole-edit", "namespace": namespace,
                         "annotations": {"user": user, "role": "edit"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}


@pytest.fixture(scope="module")
def stack(k8s: K8sStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    k8s.emulator.reset()
    api = k8s.api()
    _seed(api)
    work = tmp_path_factory.mktemp("lifecycle")
    clock = work / "clock"
    clock.write_text("0")
    namespace = k8s.namespace("sleepy")
    Profile({"metadata": {"name": namespace}, "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}},
            api=api).create()
    kr8s.objects.RoleBinding(_edit_binding(namespace, "alice@example.com"), api=api).create()
    with pytest.MonkeyPatch.context() as mp:  # the controller reaches schedulers by cluster DNS, as in a pod
        for key, value in k8s.runner.dns_environment().items():
            mp.setenv(key, value)
        starter: Iterator[Callable[..., ControllerProcess]] = controller_starter(k8s.kubeconfig, work)
        start = next(starter)
        controller = start("--clock-file", str(clock), "--lifecycle-interval", "1", "-v")
    poddefault = wait_for(lambda: k8s.emulator.get("poddefaults", "access-dask-cluster", namespace),
                          "the PodDefault", timeout=STARTUP, controller=controller)
    namespace_file = work / "namespace"
    namespace_file.write_text(namespace)
    env = {e["name"]: e["value"] for e in poddefault["spec"]["env"]}
    try:
        yield Stack(k8s, controller, clock, namespace, env, namespace_file, start)
    finally:
        next(starter, None)  # stops the controller


def _notebook_pod(name: str) -> dict[str, Any]:
    """A notebook pod as Kubeflow's notebook controller makes it; Ready only when a test says so
    (its readiness probe asks a port nothing listens on), like a Jupyter server still starting."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-0", "labels": {"notebook-name": name, "statefulset": name}},
            "spec": {"restartPolicy": "Always", "containers": [{
                "name": name, "image": "kubeflownotebookswg/jupyter-scipy:v1.10.0",
                "command": ["python", "-c", "import time; time.sleep(3600)"],
                "readinessProbe": {"tcpSocket": {"port": 8888}, "periodSeconds": 1}}]}}


def _start_notebook(stack: Stack, name: str) -> None:
    stack.k8s.create(_notebook_pod(name), stack.namespace)


def _stop_notebook(stack: Stack, name: str) -> None:
    kr8s.objects.Pod.get(f"{name}-0", namespace=stack.namespace, api=stack.k8s.api()).delete()
    wait_for(lambda: not stack.k8s.emulator.objects("pods", stack.namespace, label_selector=f"notebook-name={name}"),
             f"notebook pod {name} to go", timeout=STARTUP)


def _resource_versions(stack: Stack) -> dict[str, str]:
    emu, ns = stack.k8s.emulator, stack.namespace
    out = {}
    for plural, name in (("networkpolicies", "dask-cluster-ingress"), ("poddefaults", "access-dask-cluster"),
                         ("daskautoscalers", "dask-cluster"), ("services", "dask-cluster-scheduler"),
                         ("daskworkergroups", "dask-cluster-default")):
        out[plural] = (emu.get(plural, name, ns) or {}).get("metadata", {}).get("resourceVersion", "missing")
    return out


def test_an_idle_cluster_hibernates_and_nothing_else_is_touched(stack: Stack) -> None:
    wait_for(stack.scheduler_ready, "the scheduler of the new profile", timeout=STARTUP, controller=stack.controller)
    cluster = stack.k8s.emulator.get("daskclusters", "dask-cluster", stack.namespace)
    before = _resource_versions(stack)
    stack.hibernate()
    after = stack.k8s.emulator.get("daskclusters", "dask-cluster", stack.namespace)
    assert after["metadata"]["generation"] == cluster["metadata"]["generation"]  # spec untouched
    assert after["spec"] == cluster["spec"]
    assert _resource_versions(stack) == before  # Service, autoscaler, worker group, PodDefault, NetworkPolicy
    assert "missing" not in before.values()
    status = stack.k8s.emulator.get("configmaps", "dask-kubeflow-status", stack.namespace)["data"]
    # The sweep that hibernates records why ("idle for …"); the next one, which may already have run, says
    # what wakes it. Either way the record says Hibernated.
    assert status["phase"] == "Ready" and status["lifecycle"] == "Hibernated", status
    assert "idle for" in status["lifecycleMessage"] or status["lifecycleMessage"].startswith("hibernated;"), status
    events = [e for e in stack.k8s.emulator.objects("events", stack.namespace) if e.get("reason") == "Hibernated"]
    assert len(events) == 1 and "dask-kubeflow cluster wake" in events[0]["message"]
    assert stack.controller.metric("dask_kubeflow_controller_hibernated_clusters") == 1
    status = _cli(stack, stack.k8s.kubeconfig, "status", "-n", stack.namespace, "-o", "json")
    assert '"lifecycle": "Hibernated"' in status.stdout, status.stdout[-2000:] + status.stderr[-2000:]
    assert json.loads(status.stdout)["phase"].startswith("Hibernated since "), status.stdout[-2000:]
    doctor = _cli(stack, stack.k8s.kubeconfig, "doctor", "-n", stack.namespace).stdout
    line = next((row for row in doctor.splitlines() if "hibernation" in row), doctor[-3000:])
    assert "pass" in line and "hibernated since" in line, line
    assert "no scheduler while hibernated" in doctor, doctor[-3000:]


def test_a_notebook_starting_wakes_the_scheduler_before_the_notebook_is_ready(stack: Stack) -> None:
    if not stack.hibernated():
        stack.hibernate()
    _start_notebook(stack, "nb")
    try:
        wait_for(stack.scheduler_ready, "the scheduler to be back", timeout=STARTUP, controller=stack.controller)
        notebook = stack.k8s.emulator.get("pods", "nb-0", stack.namespace)
        assert not pod_is_ready(notebook)  # woken by the pod starting, not by it being ready
        wait_for(lambda: stack.lifecycle() == "Awake", "status to say Awake", timeout=STARTUP, controller=stack.controller)
        assert HIBERNATED_ANNOTATION not in stack.annotations()
        assert stack.controller.metric("dask_kubeflow_controller_lifecycle_actions_total", action="wake") >= 1
    finally:
        _stop_notebook(stack, "nb")


def test_the_seed_snippet_byte_for_byte_computes_after_hibernation(stack: Stack, tmp_path: Path) -> None:
    stack.hibernate()
    script = tmp_path / "seed_notebook.py"
    script.write_text(SEED_SNIPPET + "print('RESULT', client.submit(sum, [1, 2, 3]).result())\n"
                      "client.close()\ncluster.close()\n")
    _start_notebook(stack, "seed")  # the user opens a notebook: the cluster wakes before they type
    try:
        run = subprocess.run([sys.executable, str(script)], env=stack.notebook_env(), capture_output=True,
                             text=True, timeout=STARTUP + 120)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "RESULT 6" in run.stdout
    finally:
        _stop_notebook(stack, "seed")


def test_connect_on_a_hibernated_cluster_wakes_it_computes_and_reports_the_wait(
        stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.hibernate()
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NAMESPACE_FILE_ENV, str(stack.namespace_file))
        for name, value in stack.poddefault_env.items():
            mp.setenv(name, value)
        dask.config.refresh()
        try:
            client = dask_kubeflow.connect(timeout=STARTUP)
            try:
                assert client.submit(sum, [4, 5]).result(timeout=STARTUP) == 9
            finally:
                client.close()
        finally:
            mp.undo()
            dask.config.refresh()
    err = capsys.readouterr().err
    assert f"Dask cluster {stack.namespace}/dask-cluster is hibernated (idle); waking it" in err
    assert "woke up in" in err and "connected to" in err


def _cli(stack: Stack, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.notebook_env(), "KUBECONFIG": str(kubeconfig)}
    env.pop(NAMESPACE_FILE_ENV)
    return subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), *args], env=env, capture_output=True,
                          text=True, timeout=STARTUP)


def test_a_stranger_wakes_nothing_and_an_editor_wakes_it_with_the_cli(stack: Stack) -> None:
    stack.hibernate()
    bob = stack.k8s.emulator.identity("bob@example.com", groups=["kubeflow-users"])
    refused = _cli(stack, bob.kubeconfig, "cluster", "wake", "-n", stack.namespace, "--timeout", "30")
    assert refused.returncode == 1
    assert "bob@example.com may not" in refused.stderr and stack.namespace in refused.stderr, refused.stderr
    # The door itself: an annotation-only patch of the DaskCluster, refused by RBAC for a stranger.
    patch = httpx.patch(f"{stack.k8s.emulator.url}/apis/kubernetes.dask.org/v1/namespaces/{stack.namespace}"
                        f"/daskclusters/dask-cluster", timeout=30,
                        content=json.dumps({"metadata": {"annotations": {WAKE_REQUESTED_ANNOTATION: "now"}}}),
                        headers={"Authorization": f"Bearer {bob.token}", "Content-Type": "application/merge-patch+json"})
    assert patch.status_code == 403, patch.text
    assert WAKE_REQUESTED_ANNOTATION not in stack.annotations() and stack.hibernated()
    alice = stack.k8s.emulator.identity("alice@example.com", groups=["kubeflow-users"])
    woke = _cli(stack, alice.kubeconfig, "cluster", "wake", "-n", stack.namespace, "--timeout", str(STARTUP))
    assert woke.returncode == 0, woke.stderr
    assert "is awake (scheduler ready after" in woke.stdout
    assert stack.scheduler_ready() and not stack.hibernated()


def _worker_group(stack: Stack) -> dict[str, Any]:
    return stack.k8s.emulator.get("daskworkergroups", "dask-cluster-default", stack.namespace) or {}


def _replicas(stack: Stack) -> int | None:
    return _worker_group(stack).get("spec", {}).get("worker", {}).get("replicas")


def _workers(stack: Stack) -> list[dict[str, Any]]:
    return stack.k8s.emulator.objects("pods", stack.namespace, label_selector="dask.org/component=worker")


def test_a_wake_starts_the_first_worker_with_the_scheduler_and_the_autoscaler_still_scales_it_away(
        stack: Stack) -> None:
    stack.hibernate()
    assert _replicas(stack) == 0 and not _workers(stack)
    alice = stack.k8s.emulator.identity("alice@example.com", groups=["kubeflow-users"])
    woke = _cli(stack, alice.kubeconfig, "cluster", "wake", "-n", stack.namespace, "--no-wait")
    assert woke.returncode == 0, woke.stderr
    # No client, no task: the wake itself brings the default worker group to one worker.
    wait_for(lambda: _replicas(stack) == 1, "the wake to start the first worker", timeout=STARTUP,
             controller=stack.controller)
    held = stack.k8s.emulator.get("daskautoscalers", "dask-cluster", stack.namespace)["metadata"]["annotations"]
    assert float(held[OPERATOR_COOLDOWN_ANNOTATION]) > time.time()  # the autoscaler waits for it to connect
    assert FIRST_WORKER_SINCE_ANNOTATION in _cluster_annotations(stack)  # a restarted controller would go on
    wait_for(lambda: any(pod_is_ready(p) for p in _workers(stack)) and stack.scheduler_ready(),
             "the scheduler and its first worker to be Ready", timeout=STARTUP, controller=stack.controller)
    # Nobody uses it: once the hold is over, the upstream autoscaler scales it back to 0 (scaling.idleAfter 2s).
    wait_for(lambda: _replicas(stack) == 0 and not _workers(stack), "the autoscaler to scale the idle worker away",
             timeout=STARTUP, controller=stack.controller)
    assert stack.scheduler_ready() and not stack.hibernated()
    assert FIRST_WORKER_SINCE_ANNOTATION not in _cluster_annotations(stack)  # the hold ended and said so


def _cluster_annotations(stack: Stack) -> dict[str, str]:
    return stack.k8s.emulator.get("daskclusters", "dask-cluster", stack.namespace)["metadata"].get("annotations") or {}


def _hibernated_events(stack: Stack) -> list[dict[str, Any]]:
    return [e for e in stack.k8s.emulator.objects("events", stack.namespace) if e.get("reason") == "Hibernated"]


def test_the_idle_timer_survives_a_controller_restart(stack: Stack) -> None:
    """Idle 40 min (controller clock) before a restart and 40 min after: past hibernateAfter (1h) only if
    the new controller counts from the moment the old one first saw the cluster idle."""
    if stack.hibernated():
        alice = stack.k8s.emulator.identity("alice@example.com", groups=["kubeflow-users"])
        assert _cli(stack, alice.kubeconfig, "cluster", "wake", "-n", stack.namespace).returncode == 0
    wait_for(lambda: not _workers(stack), "no workers", timeout=STARTUP, controller=stack.controller)
    wait_for(stack.scheduler_ready, "a ready scheduler", timeout=STARTUP, controller=stack.controller)
    since = wait_for(lambda: stack.annotations().get(IDLE_SINCE_ANNOTATION), "the cluster to be seen idle",
                     timeout=STARTUP, controller=stack.controller)
    before = {e["metadata"]["name"] for e in _hibernated_events(stack)}
    stack.jump(hours=40 / 60)
    stack.restart()
    assert stack.annotations().get(IDLE_SINCE_ANNOTATION) == since and not stack.hibernated()
    stack.jump(hours=40 / 60)
    wait_for(stack.hibernated, "the cluster to hibernate, 80 min after it was first seen idle", timeout=STARTUP,
             controller=stack.controller)
    new = [e for e in _hibernated_events(stack) if e["metadata"]["name"] not in before]
    assert len(new) == 1, new
    idle = int(new[0]["message"].split("idle for ")[1].split("s")[0])
    assert 80 * 60 <= idle < 120 * 60, new[0]["message"]  # counted from before the restart (clock jumps: 2 x 40 min)
    assert IDLE_SINCE_ANNOTATION not in stack.annotations()  # the timer is done with
