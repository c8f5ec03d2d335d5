"""Benchmark: ``dask_kubeflow.connect()`` vs the seed's bare ``from_name`` vs Dask Gateway's ``connect``.

    .venv/bin/python benchmarks/connect_overhead.py [--rounds 20] [--warmup 3] [--gateway-venv DIR]

One run of this script measures, on the same 2-core machine and interleaved round by round:

- ``connect``: ``dask_kubeflow.connect()`` from a simulated notebook pod (service-account namespace
  file + the PodDefault's environment) to the running ``dask-cluster`` of the harness (API emulator,
  the real upstream dask-kubernetes operator, Dask pods as local processes, cluster DNS);
- ``from_name``: the seed's snippet on the same cluster, ``KubeCluster.from_name("dask-cluster",
  shutdown_on_close=False)`` + ``Client(cluster)``;
- ``gateway``: Dask Gateway 2026.3 with its local backend (a separate venv, ``--gateway-venv``,
  made with pip from PyPI on first use), ``Gateway().connect(name)`` + ``cluster.get_client()`` to a
  running cluster with one worker, timed inside that venv's Python (its client cannot share our
  process), driven line by line from here so the rounds interleave.

Each is timed from the call to a usable ``Client`` ("to a Client"), and separately including one
first task (``submit(sum, [1, 2]).result()``); closing is not timed. Medians over rounds are
reported with min-max, plus the per-round ratio connect/gateway. Targets: connect() <= 25 ms to a
Client and <= 1.3x Gateway.connect. Results: ``benchmarks/results/connect_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dask.config  # noqa: E402
import kr8s  # noqa: E402
from dask_kubernetes.operator import KubeCluster  # noqa: E402
from distributed import Client  # noqa: E402
from kr8s.objects import Namespace, object_from_spec  # noqa: E402

import dask_kubeflow  # noqa: E402
from dask_kubeflow.client.diagnose import pod_is_ready  # noqa: E402
from dask_kubeflow.client.environment import NAMESPACE_FILE_ENV  # noqa: E402
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve  # noqa: E402
from dask_kubeflow.render import render_namespace  # noqa: E402
from tests.harness.emulator import Emulator  # noqa: E402
from tests.harness.operator import UpstreamOperator  # noqa: E402
from tests.harness.podrunner import PodRunner, podnet  # noqa: E402  (podnet: cluster DNS for this process)

NAMESPACE = "kf-bench"
POLICY = parse_policy({"defaults": {
    "worker": {"threads": 1, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    "scaling": {"minimum": 1, "maximum": 1},
}})
GATEWAY_PACKAGES = ["dask-gateway==2026.3.*", "dask-gateway-server[local]==2026.3.*",
                    f"dask=={dask.__version__}", f"distributed=={dask.__version__}"]

GATEWAY_CONFIG = """
c.DaskGateway.address = "127.0.0.1:{private_port}"   # the API, behind the proxy
c.Proxy.address = "127.0.0.1:{api_port}"              # public: the API and the schedulers (TLS, by SNI)
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.LocalBackend.cluster_start_timeout = 120
c.ClusterConfig.scheduler_cmd = ["{bin}/dask", "scheduler"]   # 2026.3 defaults to the removed dask-scheduler
c.ClusterConfig.worker_cmd = ["{bin}/dask", "worker"]
c.ClusterConfig.worker_threads = 1
c.ClusterConfig.idle_timeout = 0
"""

# Runs in the gateway venv: makes one cluster with one worker, then times one connect per input line.
GATEWAY_CLIENT = r"""
import json, sys, time
from dask_gateway import Gateway
gateway = Gateway(sys.argv[1], auth="basic")
cluster = gateway.new_cluster()
cluster.scale(1)
client = cluster.get_client()
client.wait_for_workers(1, timeout=120)
client.close()
name = cluster.name
print(json.dumps({"ready": name}), flush=True)
kept = []
for line in sys.stdin:
    if line.strip() == "stop":
        break
    start = time.perf_counter()
    again = gateway.connect(name)
    client = again.get_client()
    to_client = time.perf_counter() - start
    assert client.submit(sum, [1, 2]).result() == 3
    first_task = time.perf_counter() - start
    client.close()
    # Kept alive on purpose: a collected Gateway's __del__ runs close() -> sync() on its own event
    # loop thread and deadlocks (dask-gateway 2026.3; seen after ~10 rounds here).
    kept.append(again)
    print(json.dumps({"client": to_client, "task": first_task}), flush=True)
cluster.shutdown()
"""


def ensure_gateway_venv(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        print(f"creating {path} with {' '.join(GATEWAY_PACKAGES)} (pip, PyPI)", flush=True)
        venv.create(path, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *GATEWAY_PACKAGES], check=True)
    return python


def timed(make) -> dict[str, float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    client, closer = make()
    to_client = time.perf_counter() - start
    assert client.submit(sum, [1, 2]).result() == 3
    first_task = time.perf_counter() - start
    client.close()
    closer()
    return {"client": to_client, "task": first_task}


def bare():  # type: ignore[no-untyped-def]
    """The seed's snippet (namespace from the PodDefault's DASK_KUBERNETES__NAMESPACE)."""
    cluster = KubeCluster.from_name("dask-cluster", shutdown_on_close=False)
    return Client(cluster), cluster.close


def ours():  # type: ignore[no-untyped-def]
    return dask_kubeflow.connect(), lambda: None


def wait_ready(api: kr8s.Api, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    selector = "dask.org/cluster-name=dask-cluster,dask.org/component="
    while time.monotonic() < deadline:
        scheduler = [p.raw for p in api.get("pods", namespace=NAMESPACE, label_selector=selector + "scheduler")]
        workers = [p.raw for p in api.get("pods", namespace=NAMESPACE, label_selector=selector + "worker")]
        if any(map(pod_is_ready, scheduler)) and any(map(pod_is_ready, workers)):
            return
        time.sleep(0.5)
    raise SystemExit(f"the cluster did not become ready within {timeout:.0f} s")


def start_gateway(python: Path, tmp: Path) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """The gateway server and the timing client (both in the gateway venv); waits for its cluster."""
    from tests.gateway.dask_processes import free_port

    api_port, private_port = free_port(), free_port()
    config = tmp / "gateway_config.py"
    config.write_text(GATEWAY_CONFIG.format(api_port=api_port, private_port=private_port, bin=python.parent))
    log = (tmp / "gateway.log").open("w")
    server = subprocess.Popen([str(python.parent / "dask-gateway-server"), "-f", str(config)], cwd=tmp,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/health", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"dask-gateway-server did not start; see {tmp / 'gateway.log'}") from None
            time.sleep(0.3)
    client = subprocess.Popen([str(python), "-c", GATEWAY_CLIENT, f"http://127.0.0.1:{api_port}"], cwd=tmp,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(tmp / "gw-client.log").open("w"),
                              text=True, env={**os.environ, "JUPYTERHUB_USER": "bench"})
    try:
        ready = json.loads(_readline(client, 240) or "{}")
        if "ready" not in ready:
            raise SystemExit(f"the Dask Gateway cluster did not start; see {tmp}/gw-client.log and gateway.log")
    except BaseException:
        stop_processes([client, server])
        raise
    return server, client


def stop_processes(procs: list[subprocess.Popen[str] | None]) -> None:
    """Stop what this script started, by PID: the timing client first (it shuts its cluster down)."""
    for proc in procs:
        if proc is None or proc.poll() is not None:
            continue
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.write("stop\n")
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(20 if proc.stdin is not None else 0.1)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """One line of the child's output, or SystemExit after ``timeout`` seconds (a hung round)."""
    import select

    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise SystemExit(f"the Dask Gateway client did not answer within {timeout:.0f} s")
    return proc.stdout.readline()


def gateway_round(client: subprocess.Popen[str]) -> dict[str, float]:
    assert client.stdin is not None
    client.stdin.write("go\n")
    client.stdin.flush()
    return json.loads(_readline(client, 120))


def setup_namespace(api: kr8s.Api, tmp: Path) -> None:
    Namespace({"metadata": {"name": NAMESPACE}}, api=api).create()
    facts = NamespaceFacts(NAMESPACE)
    objects = render_namespace(facts, resolve(POLICY, facts))
    for obj in objects:
        if obj["kind"] in ("DaskCluster", "DaskAutoscaler"):
            object_from_spec(obj, api=api, allow_unknown_type=True).create()
    poddefault = next(o for o in objects if o["kind"] == "PodDefault")
    sa_file = tmp / "namespace"
    sa_file.write_text(NAMESPACE)
    os.environ.update({e["name"]: e["value"] for e in poddefault["spec"]["env"]})
    os.environ.update({NAMESPACE_FILE_ENV: str(sa_file)})
    dask.config.refresh()


def summarize(rows: list[dict[str, dict[str, float]]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in ("connect", "from_name", "gateway"):
        for what in ("client", "task"):
            values = [r[name][what] * 1e3 for r in rows]
            out[f"{name}_{what}_ms"] = {"median": round(statistics.median(values), 2),
                                        "min": round(min(values), 2), "max": round(max(values), 2)}
    ratios = [r["connect"]["client"] / r["gateway"]["client"] for r in rows]
    out["connect_over_gateway_client"] = {"median": round(statistics.median(ratios), 3),
                                          "min": round(min(ratios), 3), "max": round(max(ratios), 3)}
    out["targets"] = {"connect_client_ms": 25, "connect_over_gateway": 1.3}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--gateway-venv", type=Path, default=Path(tempfile.gettempdir()) / "dask-kubeflow-gateway-venv")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "connect_overhead.json")
    args = parser.parse_args()
    python = ensure_gateway_venv(args.gateway_venv)

    with tempfile.TemporaryDirectory(prefix="connect-bench-") as tmp_name, \
            Emulator(kubeconfig=Path(tmp_name) / "kubeconfig") as emulator:
        tmp = Path(tmp_name)
        os.environ["KUBECONFIG"] = str(emulator.kubeconfig)
        runner = PodRunner(emulator.kubeconfig, tmp / "runner").start()
        operator = UpstreamOperator(emulator.kubeconfig, tmp / "operator.log", runner.dns_environment()).start()
        dns = podnet.install(str(runner.dns_table_path))
        server = gw_client = None
        try:
            api = kr8s.api(kubeconfig=str(emulator.kubeconfig))
            setup_namespace(api, tmp)
            wait_ready(api)
            server, gw_client = start_gateway(python, tmp)
            rows = []
            for i in range(args.warmup + args.rounds):
                order = [("connect", lambda: timed(ours)), ("from_name", lambda: timed(bare)),
                         ("gateway", lambda: gateway_round(gw_client))]
                order = order[i % 3:] + order[:i % 3]  # rotate who goes first
                measured = {name: fn() for name, fn in order}
                if i >= args.warmup:
                    rows.append(measured)
                    print(f"round {i - args.warmup + 1:2d}: " + "   ".join(
                        f"{n} {measured[n]['client'] * 1e3:6.1f} ms ({measured[n]['task'] * 1e3:6.1f} with a task)"
                        for n in ("connect", "from_name", "gateway")), flush=True)
        finally:
            try:
                stop_processes([gw_client, server])
            finally:
                dns.uninstall()
                operator.stop()
                runner.stop()

    result = {"rounds": args.rounds, "load_average_1m_at_end": round(os.getloadavg()[0], 2),
              "cores": os.cpu_count(), **summarize(rows)}
    print(json.dumps(result, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**result, "per_round": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
