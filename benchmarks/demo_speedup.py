"""Speed-up of the NLP demo over serial: threads vs processes vs the distributed embedded cluster.

Every configuration runs the same per-shard function on the same files, in one run of this script,
interleaved over several rounds so that machine noise hits them all alike. Ratios (serial time /
configuration time) are taken within a round, and the median over rounds is reported.

    .venv/bin/python benchmarks/demo_speedup.py [--documents 6400] [--shards 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from dask_kubeflow import connect
from dask_kubeflow.client.local import fit_layout, machine_cores
from dask_kubeflow.demo.corpus import write_synthetic_corpus
from dask_kubeflow.demo.run import (
    run_distributed,
    run_local_scheduler,
    run_serial_isolated,
    warm_up,
)
from dask_kubeflow.policy import Policy


def distributed(layout: str):
    def run(paths: list[str]):
        workers = fit_layout(Policy.builtin().default_shape(), layout).n_workers  # type: ignore[arg-type]
        with connect(local=True, layout=layout, wait_for_workers=workers) as client:  # type: ignore[arg-type]
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            shape = f"{len(workers)}×{next(iter(workers))['nthreads']}"
            warm_up(client)
            result = run_distributed(client, paths)
        return result, shape
    return run


def wait_for_quiet(deadline: float = 60.0) -> None:
    """Let the previous configuration's processes finish exiting before timing the next one."""
    me = psutil.Process()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        children = [c for c in me.children(recursive=True)
                    if "multiprocessing.resource_tracker" not in " ".join(c.cmdline())]
        if not children:
            return
        psutil.wait_procs(children, timeout=1)
    raise RuntimeError("processes of the previous configuration did not exit within a minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=6400)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "demo_speedup.json")
    args = parser.parse_args()
    cores = machine_cores()
    configs = {
        "serial (1 process, 1 thread)": lambda p: (run_serial_isolated(p), "1×1"),
        "dask threads scheduler": lambda p: (run_local_scheduler(p, "threads", cores), f"1×{cores}"),
        "dask processes scheduler": lambda p: (run_local_scheduler(p, "processes", cores), f"{cores}×1"),
        "distributed, layout=processes": distributed("processes"),
        "distributed, layout=threads": distributed("threads"),
        "distributed, layout=policy (seed default: 4 threads/worker)": distributed("policy"),
    }
    with tempfile.TemporaryDirectory() as scratch:
        paths = write_synthetic_corpus(Path(scratch), 2026, args.shards, args.documents // args.shards)
        seconds: dict[str, list[float]] = {name: [] for name in configs}
        shapes: dict[str, str] = {}
        summaries = set()
        for round_ in range(args.rounds):
            for name, run in configs.items():
                wait_for_quiet()
                result, shapes[name] = run(paths)
                seconds[name].append(result.seconds)
                summaries.add(repr(result.summary))
                print(f"round {round_ + 1}: {name:<60} {result.seconds:6.2f} s", flush=True)
    assert len(summaries) == 1, "configurations disagree on the result"
    serial = seconds["serial (1 process, 1 thread)"]
    rows = []
    for name, times in seconds.items():
        ratios = [s / t for s, t in zip(serial, times)]
        rows.append({"configuration": name, "workers×threads": shapes[name], "median_s": statistics.median(times),
                     "speedup_median": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios)})
    print(f"\n{args.documents} documents in {args.shards} shards, {cores} cores, {args.rounds} rounds\n")
    print("| configuration | workers × threads | median s | speed-up vs serial (median, min–max) |")
    print("|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['configuration']} | {r['workers×threads']} | {r['median_s']:.2f} | "
              f"{r['speedup_median']:.2f}× ({r['speedup_min']:.2f}–{r['speedup_max']:.2f}) |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"documents": args.documents, "shards": args.shards, "cores": cores,
                                     "rounds": args.rounds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
