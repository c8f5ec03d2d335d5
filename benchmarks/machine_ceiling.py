"""How much faster two busy processes finish than one, on this machine, for plain Python with no Dask.

A pure-Python loop (no allocation, no I/O, a few KiB of memory) runs once in one process, then at the
same time in one process per core, in the same warmed-up spawned pool, interleaved over several
rounds. Its speed-up is the most any process-parallel layout can give GIL-bound Python here: on
dedicated cores it is ~2.0x; on the shared vCPUs of a VM it is less, and it varies from second to
second. ``demo_speedup.py`` measures the same ceiling for the demo's own work (a plain process pool).

    .venv/bin/python benchmarks/machine_ceiling.py [--rounds 10] [--iterations 15000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from pathlib import Path

from dask_kubeflow.client.local import machine_cores


def spin(iterations: int) -> float:
    start = time.perf_counter()
    x = 0
    for i in range(iterations):
        x += i * i % 7
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=15_000_000)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "machine_ceiling.json")
    args = parser.parse_args()
    cores = machine_cores()
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    load_before = os.getloadavg()
    speedups = []
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        pool.map(spin, [1000] * cores)  # every process up
        for round_ in range(args.rounds):
            one = pool.apply(spin, (args.iterations,))
            start = time.perf_counter()
            pool.map(spin, [args.iterations] * cores, chunksize=1)
            together = time.perf_counter() - start
            speedups.append(cores * one / together)
            print(f"round {round_ + 1}: 1 process {one:.2f} s; {cores} at once {together:.2f} s -> "
                  f"{speedups[-1]:.2f}x (load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"\n{cores} cores, {args.rounds} rounds, started {started} UTC, load average before {load_before[0]:.2f}: "
          f"{cores} processes gave {statistics.median(speedups):.2f}x median ({min(speedups):.2f}-{max(speedups):.2f}) "
          f"of what {cores}x one would")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cores": cores, "rounds": args.rounds, "iterations": args.iterations,
                                     "started_utc": started, "load_average_before": load_before,
                                     "load_average_after": os.getloadavg(), "speedups": speedups,
                                     "speedup_median": statistics.median(speedups)}, indent=2))


if __name__ == "__main__":
    main()
