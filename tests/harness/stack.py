"""The Kubernetes stack for end-to-end tests: API emulator + local pod runner + the real upstream
dask-kubernetes operator + cluster DNS in the test process, as pytest fixtures.

Fixtures (module scope: one stack per test module; tests keep apart by using their own namespaces,
made with `k8s.namespace(prefix)`):

- `pod_runner`  -- a running `PodRunner` on the session's emulator server, reset first (whatever an
                   earlier module left is gone before any pod or operator starts). Its teardown stops every
                   pod process, fails if any process it ever started is still alive, and resets the
                   emulator so the next module starts from an empty cluster. It enforces
                   NetworkPolicy, unless the test module sets `ENFORCE_NETWORK_POLICY = False` (a module
                   that does not set it follows DASK_KUBEFLOW_HARNESS_ENFORCE_NETWORK_POLICY, default 1).
- `cluster_dns` -- the pod runner's cluster DNS installed in the test process (`.resolve(host)`),
                   so `KubeCluster.from_name` connects to `tcp://<c>-scheduler.<ns>:8786` directly.
- `dask_operator` -- the upstream operator (`kopf run -m dask_kubernetes.operator.controller`); when
                   the runner enforces NetworkPolicy it runs as a pod of `OPERATOR_NAMESPACE` with the
                   upstream Helm chart's labels (`OPERATOR_POD_LABELS`). Its autoscaler cooldown is the
                   harness's (operator_cooldown.py) unless the module sets
                   `AUTOSCALER_COOLDOWN_SECONDS = None` (upstream's 15 s) or another number.
- `k8s`         -- all of the above plus KUBECONFIG pointing at the emulator for the module.

When a test using them fails, the pod runner's log, pod logs and the operator log are added to
the report (see `pytest_runtest_makereport`).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import kr8s
import pytest
from kr8s.objects import APIObject, Namespace, object_from_spec

from dask_kubeflow.kube.names import OPERATOR_NAMESPACE

from .operator import UpstreamOperator
from .podrunner import PodRunner, podnet
from .podrunner.processes import is_alive

T = TypeVar("T")

ENFORCE_NETWORK_POLICY_ENV = "DASK_KUBEFLOW_HARNESS_ENFORCE_NETWORK_POLICY"
OPERATOR_POD_NAME = "dask-kubernetes-operator-0"
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "dask-kubernetes-operator", "app.kubernetes.io/instance": "dask-kubernetes-operator"}


def wait_for(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


@dataclass
class K8sStack:
    """Handles on the running stack, plus small helpers tests share."""

    emulator: Any
    runner: PodRunner
    operator: UpstreamOperator
    dns: podnet.Installed
    namespaces: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return Path(self.emulator.kubeconfig)

    def api(self) -> kr8s.Api:
        return kr8s.api(kubeconfig=str(self.kubeconfig))

    def namespace(self, prefix: str = "test") -> str:
        """Create a fresh namespace (unique name) and return its name."""
        name = new_namespace(self.api(), prefix)
        self.namespaces.append(name)
        return name

    def create(self, manifest: Mapping[str, Any], namespace: str) -> APIObject:
        return create(self.api(), manifest, namespace)

    def cluster_pids(self, namespace: str, cluster: str | None = None, component: str | None = None) -> set[int]:
        """PIDs (with descendants) of the Dask pods of `cluster` in `namespace`."""
        labels = {}
        if cluster:
            labels["dask.org/cluster-name"] = cluster
        if component:
            labels["dask.org/component"] = component
        return self.runner.pids(namespace, labels)

    def describe(self) -> str:
        return "\n\n".join([self.runner.describe(), f"--- upstream operator log {self.operator.log_path}\n{self.operator.log_tail(80)}"])


def alive(pids: set[int]) -> set[int]:
    """The PIDs among `pids` still running."""
    return {pid for pid in pids if is_alive(pid)}


def new_namespace(api: kr8s.Api, prefix: str = "test") -> str:
    """Create a namespace with a fresh name (tests sharing a module-scoped stack keep apart by namespace)."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    Namespace({"metadata": {"name": name}}, api=api).create()
    return name


def create(api: kr8s.Api, manifest: Mapping[str, Any], namespace: str) -> APIObject:
    """Create `manifest` in `namespace` with kr8s; return the object."""
    body = {**manifest, "metadata": {**manifest.get("metadata", {}), "namespace": namespace}}
    obj = object_from_spec(body, api=api, allow_unknown_type=True)
    obj.create()
    return obj


def autoscaler_cooldown(module: Any) -> float | None | str:
    """A module's own `AUTOSCALER_COOLDOWN_SECONDS = <seconds> | None` (None: the upstream's 15 s) decides;
    otherwise the harness default (operator.HARNESS_AUTOSCALER_COOLDOWN, or COOLDOWN_ENV for the run)."""
    return getattr(module, "AUTOSCALER_COOLDOWN_SECONDS", "default")


def enforces_network_policy(module: Any) -> bool:
    """A module's own `ENFORCE_NETWORK_POLICY = True/False` decides; otherwise on, unless the
    environment sets DASK_KUBEFLOW_HARNESS_ENFORCE_NETWORK_POLICY=0."""
    chosen = getattr(module, "ENFORCE_NETWORK_POLICY", None)
    if chosen is not None:
        return bool(chosen)
    return os.environ.get(ENFORCE_NETWORK_POLICY_ENV, "1") != "0"


@pytest.fixture(scope="module")
def pod_runner(
    request: pytest.FixtureRequest, emulator_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PodRunner]:
    # Start from an empty cluster: tests on the plain `emulator` fixture reset it when they start, not
    # when they end, so a module run before this one (in any order: under xdist it is not the files')
    # may have left DaskClusters behind that this stack's operator and runner would turn into pods.
    emulator_server.reset()
    runner = PodRunner(
        emulator_server.kubeconfig, tmp_path_factory.mktemp("pod-runner"),
        enforce_network_policy=enforces_network_policy(request.module),
    ).start()
    try:
        yield runner
    finally:
        runner.stop()
        emulator_server.reset()
        leftovers = runner.leftover_pids()
        if leftovers:
            for pid in leftovers:  # our own children, by PID; then report them
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            pytest.fail(f"the pod runner left processes running after stop: PIDs {sorted(leftovers)}; see {runner.log_path}")


@pytest.fixture(scope="module")
def cluster_dns(pod_runner: PodRunner) -> Iterator[podnet.Installed]:
    installed = podnet.install(str(pod_runner.dns_table_path))
    try:
        yield installed
    finally:
        installed.uninstall()


@pytest.fixture(scope="module")
def dask_operator(
    request: pytest.FixtureRequest, emulator_server: Any, pod_runner: PodRunner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UpstreamOperator]:
    log_path = tmp_path_factory.mktemp("dask-operator") / "operator.log"
    env = (
        pod_runner.pod_environment(OPERATOR_NAMESPACE, OPERATOR_POD_NAME, OPERATOR_POD_LABELS)
        if pod_runner.enforce_network_policy else pod_runner.dns_environment()
    )
    operator = UpstreamOperator(
        emulator_server.kubeconfig, log_path, env, autoscaler_cooldown=autoscaler_cooldown(request.module)
    ).start()
    try:
        yield operator
    finally:
        operator.stop()
        if is_alive(operator.pid):
            pytest.fail(f"the upstream operator (PID {operator.pid}) still runs after stop; see {operator.log_path}")


@pytest.fixture(scope="module")
def k8s(
    emulator_server: Any, pod_runner: PodRunner, cluster_dns: podnet.Installed, dask_operator: UpstreamOperator
) -> Iterator[K8sStack]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(emulator_server.kubeconfig))
        for var in [v for v in os.environ if v.startswith("DASK_KUBERNETES__")]:
            mp.delenv(var)
        yield K8sStack(emulator_server, pod_runner, dask_operator, cluster_dns)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, show what the stack saw: runner log, pod logs, operator log."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    stack = funcargs.get("k8s")
    if isinstance(stack, K8sStack):
        report.sections.append(("kubernetes stack", stack.describe()))
        return
    runner = funcargs.get("pod_runner")
    if isinstance(runner, PodRunner):
        report.sections.append(("local pod runner", runner.describe()))
    operator = funcargs.get("dask_operator")
    if isinstance(operator, UpstreamOperator):
        report.sections.append(("upstream operator log", operator.log_tail(80)))
