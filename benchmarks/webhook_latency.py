"""What dask-kubeflow's admission webhooks add to each write of a Dask object (issue 12).

The API emulator runs in this process (own thread and loop); the real controller runs as a
subprocess (``dask-kubeflow controller``) with its webhooks on (test CA certificate), and the
configurations of deploy/base/webhooks are stored with that CA as caBundle. Every write is a
``dryRun=All`` request (both webhooks are called, nothing is stored), so each one sees the same
namespace. Reported: p50 and p95 wall time per request, for

- a DaskCluster create with no webhook configuration (the baseline),
- the same create through both webhooks (mutating fills nothing; validating counts the namespace's
  DaskClusters, DaskWorkerGroups and DaskAutoscalers against userClusters, from the controller's
  list-and-watch cache: no API read),
- a patch of the managed worker group's replicas through both webhooks (the operator's autoscaling
  write: no listing),
- one AdmissionReview POSTed straight to the controller's validating endpoint (the server's own share),

and the added latency (webhooks minus baseline). Target: p50 added latency <= 5 ms on the emulator.

    .venv/bin/python benchmarks/webhook_latency.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.emulator import Emulator  # noqa: E402
from tests.harness.emulator.certs import CertificateAuthority  # noqa: E402

DASK = "kubernetes.dask.org"
NS, INSTALL, SERVICE = "alice", "dask-kubeflow", "dask-kubeflow-webhook.dask-kubeflow"
WEBHOOKS = ROOT / "deploy" / "base" / "webhooks"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(label: str, n: int, one: Callable[[int], int]) -> float:
    for i in range(min(20, n)):  # warm connections and caches
        one(i)
    times = []
    for i in range(n):
        start = time.perf_counter()
        status = one(i)
        times.append(time.perf_counter() - start)
        assert status in (200, 201), f"{label}: request {i} answered {status}"
    times.sort()
    p50 = statistics.median(times) * 1000
    print(f"{label:<66} p50 {p50:6.2f} ms   p95 {times[int(0.95 * n)] * 1000:6.2f} ms")
    return p50


def cluster(name: str) -> dict:
    pod = {"containers": [{"name": "c", "image": "ghcr.io/dask/dask:2026.8.0-py3.12", "resources": {
        "requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}}]}
    return {"apiVersion": f"{DASK}/v1", "kind": "DaskCluster", "metadata": {"name": name, "namespace": NS},
            "spec": {"worker": {"replicas": 1, "spec": pod},
                     "scheduler": {"spec": pod, "service": {"ports": [{"name": "tcp-comm", "port": 8786}]}}}}


def seed(emu: Emulator) -> None:
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INSTALL}})
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": NS, "labels": {"app.kubernetes.io/part-of": "kubeflow-profile"}}})
    emu.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dask-kubeflow-policy",
                "namespace": INSTALL}, "data": {"policy.yaml": "defaults: {}\n"}})
    emu.create({"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": NS},
                "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}})
    group = {"apiVersion": f"{DASK}/v1", "kind": "DaskWorkerGroup", "metadata": {
        "name": "dask-cluster-default", "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "dask-kubeflow"}},
        "spec": {"cluster": "dask-cluster", "worker": cluster("x")["spec"]["worker"]}}
    emu.create(group)


def start_controller(emu: Emulator, cert_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": str(emu.kubeconfig), "DASK_KUBEFLOW_WEBHOOK_CERT_DIR": str(cert_dir),
           "DASK_KUBEFLOW_WEBHOOK_PORT": str(port), "DASK_KUBEFLOW_WEBHOOK_ADDRESS": "127.0.0.1"}
    metrics = free_port()
    command = [str(Path(sys.executable).parent / "dask-kubeflow"), "controller", "--metrics-port", str(metrics),
               "--liveness", f"http://127.0.0.1:{free_port()}/healthz"]
    proc = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/readyz", timeout=2):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the controller did not become ready; see {log}")


def configure(emu: Emulator, ca: CertificateAuthority) -> None:
    for path in (WEBHOOKS / "mutating.yaml", WEBHOOKS / "validating.yaml"):
        obj = yaml.safe_load(path.read_text())
        for hook in obj["webhooks"]:
            hook["clientConfig"]["caBundle"] = ca.bundle
        emu.create(obj)


def run(n: int) -> None:
    with Emulator() as emu, tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        seed(emu)
        ca, port = CertificateAuthority("bench-ca"), free_port()
        ca.issue([f"{SERVICE}.svc"], ips=["127.0.0.1"]).write(Path(tmp) / "cert")
        proc = start_controller(emu, Path(tmp) / "cert", port, Path(tmp) / "controller.log")
        try:
            emu.webhook_route(f"{SERVICE}:443", f"127.0.0.1:{port}")
            client = httpx.Client(base_url=emu.url, timeout=30)
            create = lambda i: client.post(f"/apis/{DASK}/v1/namespaces/{NS}/daskclusters?dryRun=All",
                                           json=cluster(f"c{i}")).status_code  # noqa: E731
            patch = lambda i: client.patch(  # noqa: E731
                f"/apis/{DASK}/v1/namespaces/{NS}/daskworkergroups/dask-cluster-default?dryRun=All",
                content=json.dumps({"spec": {"worker": {"replicas": i % 3}}}),
                headers={"Content-Type": "application/merge-patch+json"}).status_code
            base_create = measure("DaskCluster create, no webhooks (baseline)", n, create)
            base_patch = measure("worker group replicas patch, no webhooks (baseline)", n, patch)
            configure(emu, ca)
            calls = emu.webhook_calls
            hooked_create = measure("DaskCluster create, mutating + validating (count from cache)", n, create)
            hooked_patch = measure("worker group replicas patch, validating (mutating: creates only)", n, patch)
            assert emu.webhook_calls - calls >= 3 * n, "the webhooks were not called"  # create: 2, patch: 1
            review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "u", "kind": {"group": DASK, "version": "v1", "kind": "DaskWorkerGroup"},
                "resource": {"group": DASK, "version": "v1", "resource": "daskworkergroups"},
                "name": "dask-cluster-default", "namespace": NS, "operation": "UPDATE",
                "userInfo": {"username": "system:serviceaccount:dask-operator:dask-kubernetes-operator"},
                "object": yaml.safe_load(json.dumps(emu.get("daskworkergroups", "dask-cluster-default", NS))),
                "oldObject": emu.get("daskworkergroups", "dask-cluster-default", NS), "dryRun": False}}
            ca_file = Path(tmp) / "ca.pem"
            ca_file.write_bytes(ca.pem)
            direct = httpx.Client(verify=str(ca_file), timeout=30)
            measure("AdmissionReview POSTed to /validate-dask directly", n, lambda i: direct.post(
                f"https://127.0.0.1:{port}/validate-dask", json=review).status_code)
            print(f"\nadded p50: create {hooked_create - base_create:+.2f} ms, "
                  f"operator's replicas patch {hooked_patch - base_patch:+.2f} ms  (target <= 5 ms)")
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    run(parser.parse_args().requests)


if __name__ == "__main__":
    main()
