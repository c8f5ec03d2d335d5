"""The rendered scheduler and worker commands run with the real ``dask`` CLI and do what they say.

The containers' args and env are run as local processes (ports moved to free ones, as the only
change), so a flag ``dask scheduler``/``dask worker`` does not know, or a Dask config value in the
env it cannot parse, fails here rather than in a user's namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from distributed import Client, Scheduler, Worker
from distributed.core import rpc

from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import render_namespace
from dask_kubeflow.render.scheduler_preload import PodScaling, pod_of

DASK = Path(sys.executable).parent / "dask"
NAMESPACE = "kubeflow-user-example-com"
PREFIX = f"/dask/{NAMESPACE}/dask-cluster"
POLICY = {"defaults": {
    "worker": {"threads": 1, "processes": 2,
               "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    "scaling": {"idleAfter": "1h"},
}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replace_arg(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in args."""
    for name, value in env.items():
        arg = arg.replace(f"$({name})", value)
    return arg


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def wait_for(condition, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def rendered_cluster():
    """A scheduler and one worker pod (2 processes) started from the rendered DaskCluster."""
    facts = NamespaceFacts(NAMESPACE)
    cluster = next(m for m in render_namespace(facts, resolve(parse_policy(POLICY), facts)) if m["kind"] == "DaskCluster")
    scheduler = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    port, dashboard = free_port(), free_port()
    sched_args = replace_arg(replace_arg(replace_arg(scheduler["args"], "--port", str(port)),
                                         "--dashboard-address", f"127.0.0.1:{dashboard}"), "--host", "127.0.0.1")
    sched_env = {**os.environ, **{e["name"]: e["value"] for e in scheduler["env"]}}
    # What the operator injects into worker pods.
    injected = {"DASK_WORKER_NAME": "dask-cluster-default-worker-0123456789",
                "DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{port}"}
    worker_env = {**os.environ, **{e["name"]: e["value"] for e in worker["env"]}, **injected}
    worker_args = [expand(a, injected) for a in worker["args"]]
    assert sched_args[0] == worker_args[0] == "dask"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen([str(DASK), *sched_args[1:]], env=sched_env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        base = f"http://127.0.0.1:{dashboard}"
        wait_for(lambda: http_get(f"{base}{PREFIX}/health")[0] == 200, "the scheduler's health page")
        procs.append(subprocess.Popen([str(DASK), *worker_args[1:]], env=worker_env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield {"address": f"tcp://127.0.0.1:{port}", "http": base, "worker_name": injected["DASK_WORKER_NAME"]}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_dashboard_and_health_are_served_under_the_prefix(rendered_cluster):
    base = rendered_cluster["http"]
    status, body = http_get(f"{base}{PREFIX}/status")
    assert status == 200 and "Dask" in body
    assert http_get(f"{base}{PREFIX}/health") == (200, "ok")
    assert http_get(f"{base}/status")[0] == 404  # nothing leaks outside the prefix but the API below


def test_operator_http_api_answers_at_the_root(rendered_cluster):
    """The operator calls /api/v1/adaptive_target and /api/v1/retire_workers without the prefix."""
    status, body = http_get(f"{rendered_cluster['http']}/api/v1/adaptive_target")
    assert status == 200 and "workers" in json.loads(body)
    assert http_get(f"{rendered_cluster['http']}{PREFIX}/api/v1/adaptive_target")[0] == 200


def test_worker_processes_match_the_shape(rendered_cluster):
    with Client(rendered_cluster["address"], timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert sorted(w["name"] for w in workers) == [f"{rendered_cluster['worker_name']}-{i}" for i in (0, 1)]
        assert {w["nthreads"] for w in workers} == {1}
        assert {w["memory_limit"] for w in workers} == {512 * 2**20}  # 1Gi limit / 2 processes
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6


def test_idle_pods_are_kept_until_idle_after_and_counted_as_pods(rendered_cluster):
    """idleAfter is 1h: the HTTP API and the RPC the operator falls back to both keep the one pod
    (two worker processes) the operator started, and count it as one."""
    with Client(rendered_cluster["address"], timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    _, body = http_get(f"{rendered_cluster['http']}/api/v1/adaptive_target")
    assert json.loads(body)["workers"] == 1

    async def ask() -> int:
        async with rpc(rendered_cluster["address"]) as scheduler:
            return await scheduler.adaptive_target()

    assert asyncio.run(ask()) == 1


def test_retire_without_a_pod_count_is_refused_with_the_reason(rendered_cluster):
    request = urllib.request.Request(f"{rendered_cluster['http']}/api/v1/retire_workers", data=b'{"n": 0}', method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("retire_workers with n=0 should fail")
    except urllib.error.HTTPError as err:
        assert err.code == 500
        assert "expected a positive number of pods" in json.loads(err.read())["Error"]


async def until_released(scheduler: Scheduler, timeout: float = 30.0) -> None:
    """Wait until the scheduler holds no task (results dropped), so a worker is idle and empty."""
    deadline = time.monotonic() + timeout
    while scheduler.tasks:
        assert time.monotonic() < deadline, f"tasks still held after {timeout} s: {list(scheduler.tasks)}"
        await asyncio.sleep(0.05)


async def test_pod_scaling_holds_workers_for_idle_after_then_releases():
    """With a real scheduler and worker: upstream would drop the idle worker at once; we wait."""
    now = [0.0]
    async with Scheduler(port=0, dashboard_address=":0") as scheduler, \
            Worker(scheduler.address, nthreads=1, name="dask-cluster-default-worker-a") as _, \
            Client(scheduler.address, asynchronous=True) as client:
        target = PodScaling(scheduler, idle_after=60, processes=1, clock=lambda: now[0])
        assert await client.submit(sum, [1, 2]) == 3
        await until_released(scheduler)
        now[0] = 10.0
        assert target.original() == 0  # upstream: the idle worker may go now
        assert target() == 1  # work happened since the last look: keep it
        now[0] = 69.0
        assert target() == 1  # idle for 59 s only
        now[0] = 70.0
        assert target() == 0  # idle for 60 s: let the operator retire it
        assert await client.submit(sum, [3, 4]) == 7
        await until_released(scheduler)
        now[0] = 71.0
        assert target() == 1  # busy again: the clock restarts


async def test_pods_of_several_processes_are_counted_and_retired_whole():
    async with Scheduler(port=0, dashboard_address=":0") as scheduler, \
            Worker(scheduler.address, nthreads=1, name="pod-a-0"), Worker(scheduler.address, nthreads=1, name="pod-a-1"), \
            Worker(scheduler.address, nthreads=1, name="pod-b-0"), Worker(scheduler.address, nthreads=1, name="pod-b-1"):
        scaling = PodScaling(scheduler, idle_after=0, processes=2)
        assert scaling.pods() == {"pod-a", "pod-b"}
        assert scaling() == 0  # idle, no data: both pods may go
        retired = await scaling.retire_pods(1)
        [pod] = retired
        assert retired == {pod: {"name": pod}} and pod in {"pod-a", "pod-b"}
        remaining = sorted(ws.name for ws in scheduler.workers.values())
        assert remaining == [f"{({'pod-a', 'pod-b'} - {pod}).pop()}-{i}" for i in (0, 1)]


def test_worker_process_names_map_to_their_pod():
    assert pod_of("dask-cluster-default-worker-0a1b2c3d4e-1", 2) == "dask-cluster-default-worker-0a1b2c3d4e"
    assert pod_of("dask-cluster-default-worker-0a1b2c3d4e", 1) == "dask-cluster-default-worker-0a1b2c3d4e"
    assert pod_of("no-index-x", 2) == "no-index-x"
