"""Request rate of the Kubernetes API emulator over 10,000 mixed requests, per 1,000-request window.

The emulator runs as its own process (`python -m tests.harness.emulator`), as it does for `kopf run`
and kubectl; the client is kr8s (async, a few concurrent workers). Each worker loops over
create, get, patch (merge), list (label selector) and delete, deleting only every other object, so
the store keeps growing while we measure: a flat rate means no slowdown as requests and objects
accumulate.

Two figures per 1,000-request window: the end-to-end rate the kr8s client sees (bounded by the
client's own CPU and by whatever else the machine runs), and the emulator's capacity = requests per
CPU-second of the emulator process (psutil), which is what "the emulator stays fast" means.

    .venv/bin/python benchmarks/emulator_rate.py [--requests 10000] [--workers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import kr8s.asyncio
import psutil
from kr8s.asyncio.objects import ConfigMap, Namespace

ROOT = Path(__file__).resolve().parents[1]
OPS_PER_ITERATION = 5


class Meter:
    """Counts finished requests; at every window boundary samples wall time and emulator CPU time."""

    def __init__(self, server: psutil.Process, window: int) -> None:
        self.server, self.window, self.done = server, window, 0
        self.samples: list[tuple[float, float]] = [self._sample()]

    def _sample(self) -> tuple[float, float]:
        cpu = self.server.cpu_times()
        return time.perf_counter(), cpu.user + cpu.system

    def tick(self) -> None:
        self.done += 1
        if self.done % self.window == 0:
            self.samples.append(self._sample())


async def worker(api: kr8s.asyncio.Api, wid: int, iterations: int, meter: Meter) -> None:
    ns = f"bench-{wid}"
    for i in range(iterations):
        cm = await ConfigMap({"metadata": {"name": f"cm-{i}", "namespace": ns, "labels": {"batch": str(i % 10)}},
                              "data": {"i": str(i)}}, api=api)
        await cm.create()
        meter.tick()
        await cm.refresh()
        meter.tick()
        await cm.patch({"data": {"patched": "yes"}})
        meter.tick()
        await api.async_get("configmaps", namespace=ns, label_selector={"batch": str(i % 10)}).__anext__()
        meter.tick()
        if i % 2:
            await cm.delete()
        else:
            await cm.refresh()
        meter.tick()


async def run(kubeconfig: Path, requests: int, workers: int, meter_factory: Any) -> Meter:
    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    for wid in range(workers):
        await (await Namespace({"metadata": {"name": f"bench-{wid}"}}, api=api)).create()
    iterations = requests // (OPS_PER_ITERATION * workers)
    meter = meter_factory()
    await asyncio.gather(*(worker(api, wid, iterations, meter) for wid in range(workers)))
    return meter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--window", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        server = subprocess.Popen([sys.executable, "-m", "tests.harness.emulator", "--kubeconfig", str(kubeconfig)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 60
            while not kubeconfig.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the emulator did not start (see its output above)")
                time.sleep(0.1)
            meter = asyncio.run(run(kubeconfig, args.requests, args.workers,
                                    lambda: Meter(psutil.Process(server.pid), args.window)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{meter.done} requests, {args.workers} concurrent kr8s workers, emulator in its own process; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'window':>14} {'client req/s':>13} {'emulator req per CPU-s':>23}")
    rates, capacities = [], []
    for w, ((t0, c0), (t1, c1)) in enumerate(zip(meter.samples, meter.samples[1:])):
        rates.append(args.window / (t1 - t0))
        capacities.append(args.window / max(c1 - c0, 1e-6))
        print(f"{w * args.window + 1:>6}-{(w + 1) * args.window:<7} {rates[-1]:13.0f} {capacities[-1]:23.0f}")
    (t0, c0), (t1, c1) = meter.samples[0], meter.samples[-1]
    n = args.window * (len(meter.samples) - 1)
    print(f"overall: client {n / (t1 - t0):.0f} req/s; emulator {n / (c1 - c0):.0f} req per CPU-second "
          f"(min window {min(capacities):.0f}, max {max(capacities):.0f}; "
          f"last two / first two windows = {statistics.mean(capacities[-2:]) / statistics.mean(capacities[:2]):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
