"""Speed-up of the NLP demo's two workloads over serial: threads vs processes vs the distributed embedded cluster.

Both workloads run on the same files: ``terms`` (tokenize, Snowball-stem, count: pure Python, holds the
GIL) and ``sketch`` (MinHash signatures: NumPy, releases the GIL). Every configuration runs in one run of
this script, interleaved over several rounds so that machine noise hits them all alike; ratios (serial
time / configuration time) are taken within a round, and the median over rounds is reported.

For the GIL-bound workload the run also times a plain process pool (``concurrent.futures``, spawned and
warmed up, one process per core, results merged in the parent) on the same files: the machine's own
ceiling for this work, against which the distributed run's speed-up is reported as a ratio.

The distributed runs use what ``connect(local=True)`` starts, with ``dask_kubeflow.single_threaded``'s
settings for single-threaded workers; ``single_threaded_settings.py`` measures what those settings save.

    .venv/bin/python benchmarks/demo_speedup.py [--documents 6400] [--shards 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from dask_kubeflow import connect
from dask_kubeflow.client.local import machine_cores
from dask_kubeflow.demo.corpus import write_synthetic_corpus
from dask_kubeflow.demo.run import Timed, run_distributed, run_local_scheduler, run_serial_isolated, warm_up
from dask_kubeflow.demo.workloads import SKETCH, TERMS, Workload, prepare

Run = Callable[[list[str], Workload], tuple[Timed, str]]
SERIAL = "serial (1 process, 1 thread)"
POOL = "plain process pool (ceiling)"
DISTRIBUTED = "distributed, layout=processes"


def process_pool(cores: int) -> Run:
    def run(paths: list[str], workload: Workload) -> tuple[Timed, str]:
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(cores, mp_context=spawn) as pool:
            list(pool.map(time.sleep, [0.3] * cores))  # every process up
            list(pool.map(_prepared, range(cores * 2)))  # and warm, like the Dask workers after warm_up
            start = time.perf_counter()
            total = workload.merge(*pool.map(workload.count, paths))
            summary = workload.summarize(total, 10)
            return Timed(POOL, summary, time.perf_counter() - start), f"{cores}×1"
    return run


def _prepared(_: int) -> int:
    prepare()
    return os.getpid()


def distributed(layout: str, cores: int) -> Run:
    def run(paths: list[str], workload: Workload) -> tuple[Timed, str]:
        with connect(local=True, layout=layout, wait_for_workers=cores) as client:  # type: ignore[arg-type]
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            shape = f"{len(workers)}×{next(iter(workers))['nthreads']}"
            warm_up(client)
            return run_distributed(client, paths, workload), shape
    return run


def configurations(cores: int) -> dict[str, tuple[Run, tuple[Workload, ...]]]:
    both = (TERMS, SKETCH)
    return {
        SERIAL: (lambda p, w: (run_serial_isolated(p, w), "1×1"), both),
        "dask threads scheduler": (lambda p, w: (run_local_scheduler(p, "threads", cores, w), f"1×{cores}"), both),
        "dask processes scheduler": (lambda p, w: (run_local_scheduler(p, "processes", cores, w), f"{cores}×1"), both),
        POOL: (process_pool(cores), (TERMS,)),
        DISTRIBUTED: (distributed("processes", cores), both),
        "distributed, layout=threads": (distributed("threads", cores), both),
        "distributed, layout=policy (seed default: 4 threads/worker)": (distributed("policy", cores), (TERMS,)),
    }


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


def in_order(configs: dict[str, tuple[Run, tuple[Workload, ...]]], round_: int) -> list[tuple[str, tuple[Run, tuple[Workload, ...]]]]:
    """The configurations, with the ceiling and the distributed run swapped every other round (ABBA),
    so that a machine getting faster or slower over the run does not favour the one that runs second."""
    items = list(configs.items())
    if round_ % 2:
        names = [name for name, _ in items]
        i, j = names.index(POOL), names.index(DISTRIBUTED)
        items[i], items[j] = items[j], items[i]
    return items


def measure(paths: list[str], rounds: int, cores: int) -> tuple[dict[tuple[str, str], list[float]], dict[str, str]]:
    seconds: dict[tuple[str, str], list[float]] = {}
    shapes: dict[str, str] = {}
    summaries: dict[str, set[str]] = {TERMS.key: set(), SKETCH.key: set()}
    for round_ in range(rounds):
        for name, (run, workloads) in in_order(configurations(cores), round_):
            for workload in workloads:
                wait_for_quiet()
                result, shapes[name] = run(paths, workload)
                seconds.setdefault((workload.key, name), []).append(result.seconds)
                summaries[workload.key].add(repr(result.summary))
                print(f"round {round_ + 1}: {workload.key:<6} {name:<60} {result.seconds:6.2f} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for key, seen in summaries.items():
        assert len(seen) == 1, f"{key}: configurations disagree on the result"
    return seconds, shapes


def rows_of(seconds: dict[tuple[str, str], list[float]], shapes: dict[str, str], workload: str) -> list[dict[str, Any]]:
    serial = seconds[(workload, SERIAL)]
    rows = []
    for (key, name), times in seconds.items():
        if key != workload:
            continue
        ratios = [s / t for s, t in zip(serial, times)]
        rows.append({"configuration": name, "workers×threads": shapes[name], "median_s": statistics.median(times),
                     "seconds": times, "speedup_median": statistics.median(ratios),
                     "speedup_min": min(ratios), "speedup_max": max(ratios)})
    return rows


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}\n")
    print("| configuration | workers × threads | median s | speed-up vs serial (median, min–max) |")
    print("|---|---|---:|---:|")
    best = max(r["speedup_median"] for r in rows)
    for r in rows:
        mark = " ★" if r["speedup_median"] == best else ""
        print(f"| {r['configuration']} | {r['workers×threads']} | {r['median_s']:.2f} | "
              f"{r['speedup_median']:.2f}× ({r['speedup_min']:.2f}–{r['speedup_max']:.2f}){mark} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=6400)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "demo_speedup.json")
    args = parser.parse_args()
    cores = machine_cores()
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with tempfile.TemporaryDirectory() as scratch:
        paths = write_synthetic_corpus(Path(scratch), 2026, args.shards, args.documents // args.shards)
        seconds, shapes = measure(paths, args.rounds, cores)
    terms, sketch = rows_of(seconds, shapes, TERMS.key), rows_of(seconds, shapes, SKETCH.key)
    ceiling = [s / p for s, p in zip(seconds[(TERMS.key, SERIAL)], seconds[(TERMS.key, POOL)])]
    achieved = [s / d for s, d in zip(seconds[(TERMS.key, SERIAL)], seconds[(TERMS.key, DISTRIBUTED)])]
    of_ceiling = [a / c for a, c in zip(achieved, ceiling)]
    print(f"\n{args.documents} documents in {args.shards} shards, {cores} cores, {args.rounds} rounds, "
          f"started {started} UTC, load average before {load_before[0]:.2f} / after {os.getloadavg()[0]:.2f}")
    print_table("terms (GIL-bound: pure-Python tokenize, stem, count)", terms)
    print_table("sketch (GIL-releasing: NumPy MinHash)", sketch)
    print(f"\nGIL-bound, distributed layout=processes: {statistics.median(achieved):.2f}× median; process-pool "
          f"ceiling {statistics.median(ceiling):.2f}× median; ratio to the ceiling {statistics.median(of_ceiling):.3f} "
          f"median (per round: {', '.join(f'{r:.3f}' for r in of_ceiling)})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "documents": args.documents, "shards": args.shards, "cores": cores, "rounds": args.rounds,
        "started_utc": started, "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "terms": terms, "sketch": sketch,
        "gil_bound_speedup_median": statistics.median(achieved), "ceiling_speedup_median": statistics.median(ceiling),
        "ratio_to_ceiling_median": statistics.median(of_ceiling), "ratio_to_ceiling_per_round": of_ceiling,
    }, indent=2))


if __name__ == "__main__":
    main()
