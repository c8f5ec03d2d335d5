"""Benchmark: ``dask_kubeflow.connect()`` against the seed's bare ``KubeCluster.from_name`` + ``Client``.

    .venv/bin/python benchmarks/connect_overhead.py [--rounds 15] [--warmup 2]

Both connect, in one run of this script, to the same running ``dask-cluster`` (rendered by
dask-kubeflow, made by the real upstream operator, Dask pods run by the harness's local pod runner,
API served by the harness emulator) from a simulated notebook pod (service-account namespace file and
the PodDefault's environment). Each round times both, in alternating order, from the call to a usable
``Client`` (closing is not timed); the ratio connect/bare is taken within a round and the median over
rounds is reported. connect() does more on purpose: it lists the scheduler pods first (to wait with
a spinner and explain failures) and checks Dask versions with one scheduler RPC; those two calls are
also timed on their own each round, which is far less sensitive to machine noise than the ratio.
Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dask.config  # noqa: E402
import kr8s  # noqa: E402
from dask_kubernetes.operator import KubeCluster  # noqa: E402
from distributed import Client  # noqa: E402
from kr8s.objects import Namespace, object_from_spec  # noqa: E402

import dask_kubeflow  # noqa: E402
from dask_kubeflow.client.cluster_api import scheduler_pods  # noqa: E402
from dask_kubeflow.client.diagnose import pod_is_ready  # noqa: E402
from dask_kubeflow.client.environment import NAMESPACE_FILE_ENV  # noqa: E402
from dask_kubeflow.kube.sync import run  # noqa: E402
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


def bare() -> tuple[Client, KubeCluster]:
    """The seed's snippet (namespace from the PodDefault's DASK_KUBERNETES__NAMESPACE)."""
    cluster = KubeCluster.from_name("dask-cluster", shutdown_on_close=False)
    return Client(cluster), cluster


def ours() -> tuple[Client, KubeCluster]:
    client = dask_kubeflow.connect()
    return client, client.cluster


def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(time to a usable Client, time of connect()'s own extra calls measured on that client)."""
    start = time.perf_counter()
    client, cluster = fn()
    elapsed = time.perf_counter() - start
    assert client.submit(sum, [1, 2]).result() == 3  # usable, not timed
    start = time.perf_counter()  # what connect() adds to from_name: one pods LIST and one versions RPC
    run(scheduler_pods("dask-cluster", NAMESPACE))
    client.sync(client.scheduler.versions, packages=[])
    extra = time.perf_counter() - start
    client.close()
    cluster.close()
    return elapsed, extra


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "connect_overhead.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="connect-bench-") as tmp, \
            Emulator(kubeconfig=Path(tmp) / "kubeconfig") as emulator:
        runner = PodRunner(emulator.kubeconfig, Path(tmp) / "runner").start()
        operator = UpstreamOperator(emulator.kubeconfig, Path(tmp) / "operator.log", runner.dns_environment()).start()
        dns = podnet.install(str(runner.dns_table_path))
        try:
            api = kr8s.api(kubeconfig=str(emulator.kubeconfig))
            Namespace({"metadata": {"name": NAMESPACE}}, api=api).create()
            facts = NamespaceFacts(NAMESPACE)
            objects = render_namespace(facts, resolve(POLICY, facts))
            for obj in objects:
                if obj["kind"] in ("DaskCluster", "DaskAutoscaler"):
                    object_from_spec(obj, api=api, allow_unknown_type=True).create()
            poddefault = next(o for o in objects if o["kind"] == "PodDefault")
            sa_file = Path(tmp) / "namespace"
            sa_file.write_text(NAMESPACE)
            os.environ.update({e["name"]: e["value"] for e in poddefault["spec"]["env"]})
            os.environ.update({"KUBECONFIG": str(emulator.kubeconfig), NAMESPACE_FILE_ENV: str(sa_file)})
            dask.config.refresh()
            wait_ready(api)

            rows = []
            for i in range(args.warmup + args.rounds):
                order = [("bare", bare), ("connect", ours)]
                if i % 2:
                    order.reverse()
                measured = {name: timed(fn) for name, fn in order}
                times = {name: t for name, (t, _) in measured.items()}
                times["extra_calls"] = measured["bare"][1]
                if i >= args.warmup:
                    rows.append(times)
                    print(f"round {i - args.warmup + 1:2d}: bare {times['bare'] * 1e3:7.1f} ms   "
                          f"connect {times['connect'] * 1e3:7.1f} ms   ratio {times['connect'] / times['bare']:.3f}   "
                          f"connect's extra calls {times['extra_calls'] * 1e3:5.1f} ms", flush=True)
        finally:
            dns.uninstall()
            operator.stop()
            runner.stop()

    ratios = [r["connect"] / r["bare"] for r in rows]
    result = {
        "rounds": args.rounds,
        "bare_median_ms": statistics.median(r["bare"] for r in rows) * 1e3,
        "connect_median_ms": statistics.median(r["connect"] for r in rows) * 1e3,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "extra_calls_median_ms": statistics.median(r["extra_calls"] for r in rows) * 1e3,
        "extra_over_bare_median": statistics.median(r["extra_calls"] / r["bare"] for r in rows),
        "target": 1.10,
    }
    print(json.dumps(result, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**result, "per_round": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
