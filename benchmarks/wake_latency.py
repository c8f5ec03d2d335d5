"""Wake latency: a hibernated cluster -> the first result through connect(), on the harness.

Starts the harness stack (API emulator, local pod runner, the real upstream operator), the real
controller with a settable clock, one profile namespace whose tier hibernates after 1 h; then, per
round: make the cluster hibernate (jump the clock), call ``dask_kubeflow.connect()`` as a notebook
would, submit one task and time (a) connect() returning, (b) the first result, (c) the scheduler's
own start (scheduler pod created -> Ready, from the pod's status, 1 s resolution) and (d) scheduler
Ready -> first result (a thread polls the API every 50 ms for the scheduler's and the first worker's
Ready), plus when the wake's first worker was Ready. The operator runs with the upstream's own 15 s
autoscaler cooldown (DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN=upstream), as on a real cluster.

    .venv/bin/python benchmarks/wake_latency.py [--rounds 3] [--json benchmarks/results/wake_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

POLICY = """
defaults:
  worker: {threads: 1, resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {cpu: "1", memory: 1Gi}}}
  scaling: {minimum: 0, maximum: 1, idleAfter: 2s}
  lifecycle: {hibernateAfter: 1h}
"""


def _wait(check, what: str, timeout: float = 180.0):
    end = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


class _Readiness(threading.Thread):
    """Wall-clock moments the scheduler pod and a worker pod are first seen Ready (50 ms polls)."""

    def __init__(self, emu, namespace: str) -> None:
        super().__init__(daemon=True)
        self.emu, self.namespace = emu, namespace
        self.seen: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        from dask_kubeflow.client.diagnose import pod_is_ready

        while not self.done.is_set() and len(self.seen) < 2:
            for component in ("scheduler", "worker"):
                if component not in self.seen:
                    pods = self.emu.objects("pods", self.namespace, label_selector=f"dask.org/component={component}")
                    if any(pod_is_ready(p) for p in pods):
                        self.seen[component] = time.time()
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 (a script: one straight line of steps)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import dask.config
    import kr8s

    import dask_kubeflow
    from dask_kubeflow.client.diagnose import pod_is_ready
    from dask_kubeflow.client.environment import NAMESPACE_FILE_ENV
    from tests.controller.conftest import controller_starter
    from tests.harness.emulator import Emulator
    from tests.harness.operator import UpstreamOperator
    from tests.harness.podrunner import PodRunner
    from tests.harness.podrunner import podnet

    os.environ.setdefault("DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN", "upstream")  # the real operator's 15 s
    work = Path(tempfile.mkdtemp(prefix="wake-latency-"))
    emu = Emulator().start()
    runner = PodRunner(emu.kubeconfig, work / "pods").start()
    dns = podnet.install(str(runner.dns_table_path))
    operator = UpstreamOperator(emu.kubeconfig, work / "operator.log", runner.dns_environment()).start()
    os.environ["KUBECONFIG"] = str(emu.kubeconfig)
    os.environ.update(runner.dns_environment())
    starter = controller_starter(Path(emu.kubeconfig), work)
    rows = []
    try:
        api = kr8s.api(kubeconfig=str(emu.kubeconfig))
        kr8s.objects.Namespace({"metadata": {"name": "dask-kubeflow"}}, api=api).create()
        kr8s.objects.ConfigMap({"metadata": {"name": "dask-kubeflow-policy", "namespace": "dask-kubeflow"},
                                "data": {"policy.yaml": POLICY}}, api=api).create()
        ns = "bench-wake"
        kr8s.objects.Namespace({"metadata": {"name": ns, "labels": {"app.kubernetes.io/part-of": "kubeflow-profile"}}},
                               api=api).create()
        profile = kr8s.objects.new_class("Profile", "kubeflow.org/v1", asyncio=False, namespaced=False)
        profile({"metadata": {"name": ns}, "spec": {"owner": {"kind": "User", "name": "a@example.com"}}}, api=api).create()
        clock = work / "clock"
        clock.write_text("0")
        start = next(starter)
        start("--clock-file", str(clock), "--lifecycle-interval", "1")
        poddefault = _wait(lambda: emu.get("poddefaults", "access-dask-cluster", ns), "the PodDefault")
        (work / "namespace").write_text(ns)
        os.environ[NAMESPACE_FILE_ENV] = str(work / "namespace")
        for e in poddefault["spec"]["env"]:
            os.environ[e["name"]] = e["value"]
        dask.config.refresh()
        sel = "dask.org/cluster-name=dask-cluster,dask.org/component=scheduler"

        def hibernated() -> bool:
            data = (emu.get("configmaps", "dask-kubeflow-status", ns) or {}).get("data") or {}
            return data.get("lifecycle") == "Hibernated" and not emu.objects("pods", ns, label_selector=sel)

        for _ in range(args.rounds):
            _wait(lambda: not emu.objects("pods", ns, label_selector="dask.org/component=worker"), "no workers")
            _wait(lambda: any(pod_is_ready(p) for p in emu.objects("pods", ns, label_selector=sel)), "a scheduler")
            while not hibernated():
                clock.write_text(str(float(clock.read_text()) + 7200))
                time.sleep(2)
            load = os.getloadavg()[0]
            watch = _Readiness(emu, ns)
            watch.start()
            t0 = time.time()
            client = dask_kubeflow.connect(timeout=180)
            t1 = time.time()
            assert client.submit(sum, [1, 2]).result(timeout=180) == 3
            t2 = time.time()
            client.close()
            watch.done.set()
            watch.join(5)
            pod = emu.objects("pods", ns, label_selector=sel)[0]
            ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            from dask_kubeflow.controller.clock import parse_rfc3339
            scheduler_start = (parse_rfc3339(ready["lastTransitionTime"]) or 0) - (
                parse_rfc3339(pod["metadata"]["creationTimestamp"]) or 0)
            ready = watch.seen.get("scheduler")
            worker = watch.seen.get("worker")
            rows.append({"connect_s": round(t1 - t0, 2), "first_result_s": round(t2 - t0, 2),
                         "scheduler_pod_created_to_ready_s": scheduler_start,
                         "scheduler_ready_to_first_result_s": round(t2 - ready, 2) if ready else None,
                         "first_worker_ready_after_scheduler_s": round(worker - ready, 2) if ready and worker else None,
                         "load_average_1m": round(load, 2)})
            print(rows[-1], flush=True)
    finally:
        next(starter, None)
        operator.stop()
        dns.uninstall()
        runner.stop()
        emu.stop()
    after_ready = [r["scheduler_ready_to_first_result_s"] for r in rows if r["scheduler_ready_to_first_result_s"]]
    summary = {"rounds": rows, "median_connect_s": statistics.median(r["connect_s"] for r in rows),
               "median_first_result_s": statistics.median(r["first_result_s"] for r in rows),
               "median_scheduler_ready_to_first_result_s": statistics.median(after_ready) if after_ready else None,
               "autoscaler_cooldown": os.environ.get("DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN"),
               "load_average": os.getloadavg()}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
