"""Benchmark: the profile controller converging N Kubeflow profile namespaces on the API emulator.

    .venv/bin/python benchmarks/controller_converge.py [--namespaces 1000] [--workers 8] [--output FILE] [--webhooks]

Measures, with the real ``dask-kubeflow controller`` process against the emulator:
  * time to converge: controller start → every namespace has its 4 managed objects and a Ready status
  * API writes per managed object on the first pass (target 1)
  * writes on an unchanged resync (a restarted controller re-reconciling everything; target 0)
  * the controller's peak RSS (VmHWM; target <= 200 MB)
Profiles and Namespaces exist before the controller starts (a platform with N users installing
dask-kubeflow), so the first pass is the worst case: everything is to be created.

``--webhooks``: the controller serves its admission webhooks (test-CA certificate) and runs as its
ServiceAccount with deploy/'s RBAC; deploy/base/webhooks' configurations are stored with that CA as
caBundle, so every write of a Dask object (the controller's own included) goes through admission,
as on a cluster.

``--profile FILE``: record the controller's first pass with py-spy (``pip install py-spy``; the
``py-spy`` command on PATH or next to the interpreter) as collapsed stacks, for flame graphs or
``sort | uniq``. py-spy samples without pausing the process (``--nonblocking``), but the figures of
a profiled run are not the benchmark's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kr8s.asyncio  # noqa: E402
from kr8s.asyncio.objects import Namespace, new_class  # noqa: E402

from tests.harness.emulator import Emulator  # noqa: E402
from tests.harness.emulator.certs import CertificateAuthority  # noqa: E402

Profile = new_class("Profile", "kubeflow.org/v1", namespaced=False)
MANAGED = ("daskclusters", "daskautoscalers", "poddefaults", "networkpolicies")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_profiles(kubeconfig: Path, count: int) -> None:
    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    limit = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        name = f"user-{i:04d}"
        owner = f"user{i}@example.com"
        async with limit:
            await Namespace({"metadata": {"name": name, "annotations": {"owner": owner},
                                          "labels": {"app.kubernetes.io/part-of": "kubeflow-profile"}}},
                            api=api).create()
            await Profile({"metadata": {"name": name}, "spec": {"owner": {"kind": "User", "name": owner}}},
                          api=api).create()

    await asyncio.gather(*(one(i) for i in range(count)))


INSTALL = "dask-kubeflow"
SERVICE = f"dask-kubeflow-webhook.{INSTALL}"
DEPLOY = ROOT / "deploy" / "base"


def install_webhooks(emu: Emulator, tmp: Path) -> tuple[Path, dict[str, str]]:
    """deploy/'s controller RBAC, a serving certificate, the two webhook configurations (caBundle =
    the test CA) routed to the controller; returns the controller's ServiceAccount kubeconfig and env."""
    import yaml

    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INSTALL}})
    for obj in yaml.safe_load_all((DEPLOY / "controller" / "rbac.yaml").read_text()):
        if obj:
            emu.create(obj)
    ca, port = CertificateAuthority("bench-ca"), free_port()
    ca.issue([f"{SERVICE}.svc"], ips=["127.0.0.1"]).write(tmp / "cert")
    for path in (DEPLOY / "webhooks" / "mutating.yaml", DEPLOY / "webhooks" / "validating.yaml"):
        obj = yaml.safe_load(path.read_text())
        for hook in obj["webhooks"]:
            hook["clientConfig"]["caBundle"] = ca.bundle
        emu.create(obj)
    emu.webhook_route(f"{SERVICE}:443", f"127.0.0.1:{port}")
    env = {"DASK_KUBEFLOW_WEBHOOK_CERT_DIR": str(tmp / "cert"), "DASK_KUBEFLOW_WEBHOOK_PORT": str(port),
           "DASK_KUBEFLOW_WEBHOOK_ADDRESS": "127.0.0.1", "DASK_KUBEFLOW_INSTALL_NAMESPACE": INSTALL}
    return emu.service_account(INSTALL, "dask-kubeflow-controller").kubeconfig, env


def start_controller(kubeconfig: Path, workers: int, log: Path,
                     extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "dask-kubeflow"), "controller", "--metrics-port", str(port),
               "--liveness", f"http://127.0.0.1:{free_port()}/healthz", "--workers", str(workers),
               "--resync", "0"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), **(extra_env or {})}
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT), port


def metric(port: int, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time the controller used so far: on a shared machine, the part of the wall time it worked."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def own_cpu_seconds() -> float:
    """CPU time of this process: the emulator (its thread) and the polling, which share the 2 cores."""
    times = os.times()
    return times.user + times.system


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--format", "raw",
                             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C: py-spy writes what it recorded and exits."""
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def converged(emu: Emulator, count: int) -> bool:
    if sum(len(emu.objects(p)) for p in MANAGED) < 4 * count:
        return False
    ready = [c for c in emu.objects("configmaps")
             if c["metadata"]["name"] == "dask-kubeflow-status" and (c.get("data") or {}).get("phase") == "Ready"]
    return len(ready) >= count


def writes(emu: Emulator) -> dict[str, int]:
    return {p: emu.write_count(resource=p) for p in (*MANAGED, "configmaps", "events")}


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "controller_converge.json",
                        help="where to write the JSON result")
    parser.add_argument("--webhooks", action="store_true",
                        help="admission webhooks on: every Dask write, the controller's too, goes through them")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record the first pass with py-spy into this file (collapsed stacks)")
    args = parser.parse_args()
    n = args.namespaces
    log = Path(tempfile.mkdtemp(prefix="controller-bench-")) / "controller.log"

    with Emulator() as emu:
        t = time.perf_counter()
        asyncio.run(create_profiles(emu.kubeconfig, n))
        print(f"created {n} Profiles + Namespaces in {time.perf_counter() - t:.1f}s", flush=True)
        kubeconfig, extra_env = emu.kubeconfig, None
        if args.webhooks:
            kubeconfig, extra_env = install_webhooks(emu, log.parent)
        before = writes(emu)
        calls_before = emu.webhook_calls

        proc, port = start_controller(kubeconfig, args.workers, log, extra_env)
        started, own_cpu = time.perf_counter(), own_cpu_seconds()
        profiler = start_profiler(proc.pid, args.profile) if args.profile else None
        try:
            # Poll the controller's own gauge (cheap), then check the emulator's objects (ground truth).
            while not (metric(port, "dask_kubeflow_controller_managed_namespaces") >= n and converged(emu, n)):
                if proc.poll() is not None or time.perf_counter() - started > args.timeout:
                    raise SystemExit(f"controller did not converge (exit {proc.poll()}); log: {log}")
                time.sleep(0.25)
            converge_s = time.perf_counter() - started
            converge_cpu = cpu_seconds(proc.pid)
            emulator_cpu = own_cpu_seconds() - own_cpu
            load = os.getloadavg()[0]
            if profiler is not None:
                stop_profiler(profiler)
            # let the echoes of our own writes come back and be reconciled (they must write nothing)
            while metric(port, "dask_kubeflow_controller_queue_depth") or not metric(
                    port, "dask_kubeflow_controller_reconciles_total"):
                time.sleep(0.5)
            time.sleep(2)
            first = {k: v - before[k] for k, v in writes(emu).items()}
            rss = peak_rss_mb(proc.pid)
            calls_first = emu.webhook_calls - calls_before
        finally:
            if profiler is not None and profiler.poll() is None:
                stop_profiler(profiler)
            stop(proc)

        # An unchanged resync: a fresh controller lists everything and reconciles every namespace.
        proc, port = start_controller(kubeconfig, args.workers, log, extra_env)
        resync_started = time.perf_counter()
        try:
            while metric(port, "dask_kubeflow_controller_reconciles_total") < n:
                if proc.poll() is not None or time.perf_counter() - resync_started > args.timeout:
                    raise SystemExit(f"resync did not finish (exit {proc.poll()}); log: {log}")
                time.sleep(0.5)
            resync_s = time.perf_counter() - resync_started
            resync_cpu = cpu_seconds(proc.pid)
            time.sleep(2)
            second = {k: v - before[k] - first[k] for k, v in writes(emu).items()}
            unchanged = metric(port, "dask_kubeflow_controller_reconciles_total", outcome="unchanged")
            rss2 = peak_rss_mb(proc.pid)
        finally:
            stop(proc)

    managed_objects = 4 * n
    managed_writes = sum(first[p] for p in MANAGED)
    result = {
        "namespaces": n,
        "webhooks": args.webhooks,
        "webhook_calls_first_pass": calls_first,
        "workers": args.workers,
        "converge_seconds": round(converge_s, 1),
        "converge_controller_cpu_seconds": round(converge_cpu, 1),
        "converge_emulator_cpu_seconds": round(emulator_cpu, 1),
        "load_average_1m_at_convergence": round(load, 1),
        "managed_objects": managed_objects,
        "writes_per_managed_object_first_pass": round(managed_writes / managed_objects, 3),
        "status_configmap_writes_first_pass": first["configmaps"],
        "events_first_pass": first["events"],
        "resync_seconds": round(resync_s, 1),
        "resync_controller_cpu_seconds": round(resync_cpu, 1),
        "resync_reconciles_unchanged": int(unchanged),
        "writes_on_unchanged_resync": sum(second.values()),
        "controller_peak_rss_mb": round(max(rss, rss2), 1),
        "controller_peak_rss_mb_first_pass": round(rss, 1),
        "controller_peak_rss_mb_resync": round(rss2, 1),
        "log": str(log),
    }
    print(json.dumps(result, indent=2))
    out = args.output
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
