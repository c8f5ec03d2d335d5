"""Usage accounting and budgets, end to end: the real controller, the API emulator and the local pod
runner (no operator needed: the pods are made here, with known requests, as Dask pods are labelled).

- a known run (N pods × T seconds × CPU requested) is accounted up to each pod's deletion (not only
  to the last look before it), and a controller restart in the middle of it neither loses nor
  double-counts any of it;
- a namespace past its tier's ``budget.coreHours`` gets its autoscaler clamped, one Event per
  crossing, the figures in ``dask-kubeflow usage``; the next month (the controller's clock moved to
  it) lifts the clamp.
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

import kr8s
import pytest

from dask_kubeflow.controller.clock import month_start, parse_rfc3339
from tests.harness.stack import new_namespace

from .conftest import ControllerProcess, Profile, controller_starter, wait_for

pytestmark = pytest.mark.timeout(600)
ENFORCE_NETWORK_POLICY = False  # no Dask traffic here
INTERVAL = 1.0  # the controller's accounting interval: the sampling resolution
CPU, MEMORY_GIB = 0.5, 0.5
POLICY = """
defaults:
  scaling: {minimum: 0, maximum: 3}
tiers:
  - name: tight
    match: {labels: {budget: tight}}
    budget: {coreHours: 0.004, clampTo: 0, warnAt: 0.5, contact: platform-team@example.com}
"""


@dataclass
class Env:
    emulator: Any
    start: Callable[..., ControllerProcess]
    clock: Path
    controllers: list[ControllerProcess]

    def api(self) -> kr8s.Api:
        return kr8s.api(kubeconfig=str(self.emulator.kubeconfig))

    def controller(self) -> ControllerProcess:
        return self.controllers[-1]

    def restart(self) -> None:
        self.controller().stop()
        self.controllers.append(self.start("--clock-file", str(self.clock), "--lifecycle-interval", str(INTERVAL)))


@pytest.fixture(scope="module")
def env(emulator_server: Any, pod_runner: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    emulator_server.reset()
    api = kr8s.api(kubeconfig=str(emulator_server.kubeconfig))
    kr8s.objects.Namespace({"metadata": {"name": "dask-kubeflow"}}, api=api).create()
    kr8s.objects.ConfigMap({"metadata": {"name": "dask-kubeflow-policy", "namespace": "dask-kubeflow"},
                            "data": {"policy.yaml": POLICY}}, api=api).create()
    work = tmp_path_factory.mktemp("usage")
    clock = work / "clock"
    clock.write_text("0")
    starter = controller_starter(Path(emulator_server.kubeconfig), work)
    start = next(starter)
    first = start("--clock-file", str(clock), "--lifecycle-interval", str(INTERVAL))
    try:
        yield Env(emulator_server, start, clock, [first])
    finally:
        next(starter, None)


def _profile(env: Env, prefix: str, labels: dict[str, str] | None = None) -> str:
    api = env.api()
    name = new_namespace(api, prefix)
    ns = kr8s.objects.Namespace.get(name, api=api)
    ns.patch({"metadata": {"labels": {"app.kubernetes.io/part-of": "kubeflow-profile", **(labels or {})}}})
    Profile({"metadata": {"name": name}, "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}}, api=api).create()
    wait_for(lambda: env.emulator.get("daskautoscalers", "dask-cluster", name), "the managed autoscaler",
             controller=env.controller())
    return name


def _run_pods(env: Env, namespace: str, n: int, cpu: float = CPU) -> list[str]:
    names = []
    for i in range(n):
        name = f"run-worker-{i}"
        kr8s.objects.Pod({"metadata": {"name": name, "namespace": namespace,
                                       "labels": {"dask.org/cluster-name": "run", "dask.org/component": "worker"}},
                          "spec": {"restartPolicy": "Never", "containers": [{
                              "name": "worker", "image": "ghcr.io/dask/dask:2026.8.0-py3.12",
                              "command": ["python", "-c", "import time; time.sleep(600)"],
                              "resources": {"requests": {"cpu": str(cpu), "memory": f"{int(MEMORY_GIB * 1024)}Mi"}}}]}},
                         api=env.api()).create()
        names.append(name)
    return names


def _started(env: Env, namespace: str, names: list[str]) -> dict[str, float]:
    out = {}
    for name in names:
        pod = env.emulator.get("pods", name, namespace) or {}
        for cs in (pod.get("status") or {}).get("containerStatuses") or ():
            at = parse_rfc3339(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
            if at is not None:
                out[name] = at
    return out


def _record(env: Env, namespace: str) -> dict[str, str]:
    return (env.emulator.get("configmaps", "dask-kubeflow-usage", namespace) or {}).get("data") or {}


def _uids(env: Env, namespace: str, names: list[str]) -> set[str]:
    return {env.emulator.get("pods", n, namespace)["metadata"]["uid"] for n in names}


def _accounted(env: Env, namespace: str) -> set[str]:
    return set(json.loads(_record(env, namespace).get("pods") or "{}"))


def _usage(env: Env, namespace: str, key: str = "run/worker") -> tuple[float, float]:
    cores, gib = json.loads(_record(env, namespace).get("usage") or "{}").get(key, [0.0, 0.0])
    return float(cores), float(gib)


def _delete(env: Env, namespace: str, names: list[str]) -> dict[str, tuple[float, float]]:
    """Delete the pods; per pod, the wall clock just before its delete request and just after."""
    out = {}
    for name in names:
        pod = kr8s.objects.Pod.get(name, namespace=namespace, api=env.api())
        before = time.time()
        pod.delete()
        out[name] = (before, time.time())
    return out


def test_a_known_run_is_accounted_exactly_across_a_controller_restart(env: Env) -> None:
    ns = _profile(env, "metered")
    names = _run_pods(env, ns, 2)
    started = wait_for(lambda: (s := _started(env, ns, names)) and len(s) == 2 and s, "both pods running")
    uids = _uids(env, ns, names)
    wait_for(lambda: uids <= _accounted(env, ns), "the usage record to hold both pods", controller=env.controller())
    env.restart()  # mid-run: the new controller resumes from the record
    wait_for(lambda: time.time() - max(started.values()) > 12, "the run to last 12 s", timeout=60)
    deleted = _delete(env, ns, names)
    wait_for(lambda: not uids & _accounted(env, ns), "the record to close both pods", controller=env.controller())
    # Each pod counts from its start to its deletion: the emulator removes a pod at once (no final status),
    # so the controller takes the moment its watch saw the DELETED event — after the request was sent
    # (never short, not a look's interval short as before) and at most the watch's latency later.
    low = sum(deleted[n][0] - started[n] for n in names)
    high = sum(deleted[n][1] - started[n] for n in names)
    latency = 2 * 1.0  # generous: the watch event of each pod on a loaded machine
    cores, gib = _usage(env, ns)
    assert low * CPU - 0.01 <= cores <= (high + latency) * CPU, (cores, low * CPU, high * CPU)
    assert low * MEMORY_GIB - 0.01 <= gib <= (high + latency) * MEMORY_GIB
    assert env.controller().metric("dask_kubeflow_usage_core_seconds_total", namespace=ns, cluster="run",
                                   component="worker") > 0
    out = _cli(env, "usage", "-n", ns, "-o", "json")
    rows = {(r["cluster"], r["component"]): r for r in json.loads(out.stdout)["usage"]}
    assert abs(rows[("run", "worker")]["coreSeconds"] - cores) < 0.1


def _cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), *args], capture_output=True, text=True,
                         env={**os.environ, "KUBECONFIG": str(env.emulator.kubeconfig), "COLUMNS": "250"}, timeout=60)
    assert run.returncode == 0, run.stderr
    return run


def _maximum(env: Env, namespace: str) -> int | None:
    return ((env.emulator.get("daskautoscalers", "dask-cluster", namespace) or {}).get("spec") or {}).get("maximum")


def _events(env: Env, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in env.emulator.objects("events", namespace) if e.get("reason") == reason]


def test_a_budget_crossed_clamps_the_autoscaler_and_the_next_month_lifts_it(env: Env) -> None:
    ns = _profile(env, "tight", labels={"budget": "tight"})
    assert _maximum(env, ns) == 3
    names = _run_pods(env, ns, 2, cpu=1.0)  # 2 cores: 0.004 core-hours (14.4 core-s) in about 7 s
    wait_for(lambda: _record(env, ns).get("budget") == "exceeded", "the budget to be spent", controller=env.controller())
    wait_for(lambda: _maximum(env, ns) == 0, "the autoscaler to be clamped to budget.clampTo", controller=env.controller())
    _delete(env, ns, names)
    message = _record(env, ns)["budgetMessage"]
    assert "budget spent" in message and "of 0.004 core-hours used" in message and "platform-team@example.com" in message
    assert len(_events(env, ns, "BudgetWarning")) == 1 and len(_events(env, ns, "BudgetExceeded")) == 1
    out = json.loads(_cli(env, "usage", "-n", ns, "-o", "json").stdout)
    assert out["budgets"][0]["budget"] == "exceeded" and out["budgets"][0]["budgetCoreHours"] == "0.004"
    env.clock.write_text(str(month_start(time.time(), months_ahead=1) - time.time() + 2))  # 2 s into next month
    wait_for(lambda: _maximum(env, ns) == 3, "the new month to lift the clamp", controller=env.controller())
    record = _record(env, ns)
    assert record["budget"] == "ok" and record["period"] != out["budgets"][0]["period"]
    assert len(_events(env, ns, "BudgetExceeded")) == 1  # posted once


def _run_cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), *args], capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": str(env.emulator.kubeconfig), "COLUMNS": "250"}, timeout=60)


def test_a_spent_budget_is_what_connect_status_and_doctor_say(env: Env) -> None:
    """The record the real controller wrote is what the user's commands read (tests/client has the rest)."""
    ns = _profile(env, "spent", labels={"budget": "tight"})
    names = _run_pods(env, ns, 2, cpu=1.0)
    wait_for(lambda: _record(env, ns).get("budget") == "exceeded", "the budget to be spent", controller=env.controller())
    _delete(env, ns, names)
    connect = _run_cli(env, "connect", "-n", ns, "--wait-for-workers", "1", "--timeout", "300")
    assert connect.returncode == 1  # at once, not after --timeout: no scheduler here, nothing else to wait for
    assert "cannot wait for 1 Dask worker(s)" in connect.stderr and "budget spent: " in connect.stderr
    assert "core-hours used in" in connect.stderr and "platform-team@example.com" in connect.stderr
    status = _run_cli(env, "status", "-n", ns, "-o", "json")
    assert status.returncode == 0, status.stderr
    usage = json.loads(status.stdout)["usage"]
    assert (usage["state"], usage["budgetCoreHours"], usage["tier"]) == ("exceeded", 0.004, "tight")
    assert usage["contact"] == "platform-team@example.com" and usage["percent"] >= 100 and usage["clampTo"] == 0
    doctor = _run_cli(env, "doctor", "-n", ns)
    budget = next(line for line in doctor.stdout.splitlines() if "budget" in line and "fail" in line)
    assert "exceeded" in budget and "of 0.004 core-hours used" in budget
    assert doctor.returncode == 1
