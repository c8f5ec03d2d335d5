"""What authentication, RBAC and admission webhooks cost in the Kubernetes API emulator.

In one process: the emulator (its own thread and loop), a sync httpx client, and for the webhook case a
local HTTPS webhook server (`tests.harness.emulator.webhook_server`). `--namespaces` profile-like
namespaces are made, each with a RoleBinding of a ClusterRole to one ServiceAccount (the shape of a
controller bound per profile namespace). Reported: median and p90 wall time per request, and requests
per emulator-process CPU-second, for

- admin GET of a ConfigMap (system:masters: no RBAC evaluated),
- ServiceAccount GET of the same ConfigMaps (RBAC: ClusterRoleBindings + the namespace's RoleBindings),
- admin ConfigMap create with no webhook configuration, and with one validating webhook whose rules
  match (one AdmissionReview over HTTPS per create: the webhook's added latency).

    .venv/bin/python benchmarks/emulator_auth.py [--namespaces 1000] [--requests 2000] [--new-connections]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.emulator import Emulator  # noqa: E402
from tests.harness.emulator.certs import CertificateAuthority  # noqa: E402
from tests.harness.emulator.webhook_server import WebhookServer  # noqa: E402

RBAC = "rbac.authorization.k8s.io/v1"


def measure(label: str, n: int, one: Callable[[int], int]) -> None:
    times = []
    cpu0 = time.process_time()
    for i in range(n):
        start = time.perf_counter()
        status = one(i)
        times.append(time.perf_counter() - start)
        assert status in (200, 201), f"{label}: request {i} answered {status}"
    cpu = time.process_time() - cpu0  # client + emulator + webhook server: all in this process
    times.sort()
    print(f"{label:<58} p50 {statistics.median(times) * 1000:6.2f} ms   p90 {times[int(0.9 * n)] * 1000:6.2f} ms   "
          f"{n / cpu:7.0f} req per process CPU-s")


def seed(emu: Emulator, namespaces: int) -> None:
    emu.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "ns-writer"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]}]})
    for i in range(namespaces):
        ns = f"team-{i}"
        emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
                    "labels": {"app.kubernetes.io/part-of": "kubeflow-profile"}}})
        emu.create({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "controller", "namespace": ns},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns-writer"},
                    "subjects": [{"kind": "ServiceAccount", "name": "controller", "namespace": "dask-kubeflow"}]})
        emu.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "status", "namespace": ns},
                    "data": {"a": "1"}})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--new-connections", action="store_true",
                        help="the webhook server closes every connection (a TLS handshake per review)")
    args = parser.parse_args(argv)
    n, spaces = args.requests, args.namespaces
    rnd = random.Random(1)
    with Emulator() as emu, httpx.Client(base_url=emu.url, timeout=60) as http:
        seed(emu, spaces)
        sa = emu.service_account("dask-kubeflow", "controller")
        admin = {"Authorization": "Bearer emulator-token"}
        as_sa = {"Authorization": f"Bearer {sa.token}"}
        path = "/api/v1/namespaces/team-{}/configmaps/status"
        measure("admin GET configmap", n, lambda i: http.get(path.format(rnd.randrange(spaces)), headers=admin)
                .status_code)
        measure(f"ServiceAccount GET configmap (RBAC, {spaces} ns)", n,
                lambda i: http.get(path.format(rnd.randrange(spaces)), headers=as_sa).status_code)

        def create(tag: str) -> Callable[[int], int]:
            return lambda i: http.post(f"/api/v1/namespaces/team-{i % spaces}/configmaps", headers=admin,
                                       json={"metadata": {"name": f"{tag}-{i}"}, "data": {"i": str(i)}}).status_code

        measure("admin create configmap, no webhooks", n, create("plain"))
        ca = CertificateAuthority()
        with WebhookServer(ca.issue(["hook.bench.svc"]), keep_alive=not args.new_connections) as server:
            emu.webhook_route("hook.bench:443", f"127.0.0.1:{server.port}")
            emu.create({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                        "metadata": {"name": "bench"}, "webhooks": [{
                            "name": "bench.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                            "clientConfig": {"service": {"name": "hook", "namespace": "bench", "path": "/v"},
                                             "caBundle": ca.bundle},
                            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                       "resources": ["configmaps"]}]}]})
            how = "new TLS connection each" if args.new_connections else "kept-alive connection"
            measure(f"admin create configmap, 1 webhook ({how})", n, create("hooked"))
            assert emu.webhook_calls >= n
    return 0


if __name__ == "__main__":
    sys.exit(main())
