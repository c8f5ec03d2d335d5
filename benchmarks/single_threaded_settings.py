"""What ``dask_kubeflow.single_threaded`` buys: the embedded cluster with distributed's defaults against
the same cluster with dask-kubeflow's settings for single-threaded workers, beside a plain process pool.

Two single-threaded workers on the machine's cores, as ``connect(local=True, layout="processes")``
starts them. Each round runs the three arms in a rotating order (so that a machine getting faster or
slower favours none of them) and measures, for the two clusters:

- CPU of the client process (it holds the scheduler and the two nannies) and of the worker processes
  over ``--idle`` seconds with no task. CPU seconds, unlike wall time, hardly depend on how fast this
  noisy machine happens to be at that moment;
- one run of the demo's GIL-bound workload: its wall time, and the client process's CPU during it;

and the plain process pool's wall time on the same files (``demo_speedup.py``'s ceiling). The wall
times are reported as ratios to the pool of the same round, median over rounds.

    .venv/bin/python benchmarks/single_threaded_settings.py [--rounds 10] [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from demo_speedup import process_pool, wait_for_quiet
from distributed import Client

from dask_kubeflow.client.local import LocalLayout, start_local
from dask_kubeflow.demo.corpus import write_synthetic_corpus
from dask_kubeflow.demo.run import run_distributed, warm_up
from dask_kubeflow.demo.workloads import TERMS

LAYOUT = LocalLayout(n_workers=2, threads_per_worker=1, memory_limit=2**31, why="benchmark")
POOL = "plain process pool"
DEFAULTS = "distributed defaults"
OURS = "dask-kubeflow single-threaded"


def defaults() -> Client:
    """The same cluster as ``start_local(LAYOUT)``, with distributed's own settings."""
    return Client(n_workers=LAYOUT.n_workers, threads_per_worker=1, memory_limit=LAYOUT.memory_limit,
                  processes=True, dashboard_address=":0")


CLUSTERS: dict[str, Callable[[], Client]] = {DEFAULTS: defaults, OURS: lambda: start_local(LAYOUT)}


def cpu_seconds() -> tuple[float, float]:
    """(this process: client, scheduler, nannies; its child processes: the workers)."""
    me = psutil.Process()
    workers = 0.0
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        workers += times.user + times.system
    return sum(me.cpu_times()[:2]), workers


def measure_cluster(start: Callable[[], Client], paths: list[str], idle: float) -> dict[str, float]:
    with start() as client:
        client.wait_for_workers(LAYOUT.n_workers)
        warm_up(client)
        time.sleep(2)  # let start-up work finish before counting
        a = cpu_seconds()
        time.sleep(idle)
        b = cpu_seconds()
        run = run_distributed(client, paths, TERMS)
        c = cpu_seconds()
    return {"idle_pct_of_a_core": 100 * (b[0] - a[0] + b[1] - a[1]) / idle, "run_s": run.seconds,
            "client_pct_during_run": 100 * (c[0] - b[0]) / run.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "single_threaded_settings.json")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    load_before = os.getloadavg()
    arms = [POOL, DEFAULTS, OURS]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    pool = process_pool(LAYOUT.n_workers)
    with tempfile.TemporaryDirectory() as scratch:
        paths = write_synthetic_corpus(Path(scratch), 2026, 16, 400)
        for round_ in range(args.rounds):
            for name in arms[round_ % 3:] + arms[:round_ % 3]:
                wait_for_quiet()
                m = {"run_s": pool(paths, TERMS)[0].seconds} if name == POOL else measure_cluster(CLUSTERS[name], paths, args.idle)
                results[name].append(m)
                print(f"round {round_ + 1}: {name:<30} " + ", ".join(f"{k} {v:.2f}" for k, v in m.items())
                      + f" (load {os.getloadavg()[0]:.1f})", flush=True)
    summary: dict[str, dict[str, float]] = {}
    for name in (DEFAULTS, OURS):
        ms = results[name]
        of_pool = [p["run_s"] / m["run_s"] for p, m in zip(results[POOL], ms)]
        summary[name] = {"idle_pct_of_a_core_median": statistics.median(m["idle_pct_of_a_core"] for m in ms),
                         "client_pct_during_run_median": statistics.median(m["client_pct_during_run"] for m in ms),
                         "ratio_to_pool_median": statistics.median(of_pool), "ratio_to_pool_per_round": of_pool}
    faster = sum(d["run_s"] > o["run_s"] for d, o in zip(results[DEFAULTS], results[OURS]))
    print(f"\nstarted {started} UTC, {args.rounds} rounds, load average before {load_before[0]:.2f} / after "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| settings | idle CPU (client + workers) | client process during a run | run time: ratio to the pool (median) |")
    print("|---|---:|---:|---:|")
    for name, s in summary.items():
        print(f"| {name} | {s['idle_pct_of_a_core_median']:.1f}% of a core | {s['client_pct_during_run_median']:.1f}% of a core "
              f"| {s['ratio_to_pool_median']:.3f} |")
    print(f"\ndask-kubeflow's settings ran faster than distributed's defaults in {faster} of {args.rounds} rounds")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"started_utc": started, "rounds": args.rounds, "idle_seconds": args.idle,
                                     "load_average_before": load_before, "load_average_after": os.getloadavg(),
                                     "summary": summary, "ours_faster_rounds": faster, "rounds_data": results}, indent=2))


if __name__ == "__main__":
    main()
