"""Held when tried — the dashboard is read-only: no method but GET/HEAD (and websocket upgrades)
reaches a scheduler, however it is spelled or overridden. A view-only contributor (bob) must not
reach the scheduler's mutating HTTP API (``POST <prefix>/api/v1/retire_workers``). Got through: the
scheduler saw another method or a method-override header."""

from __future__ import annotations

from dask_kubeflow.kube.kinds import DASK_GROUP

from .conftest import raw_request

BOB = "bob@example.com"
API = "/dask/alice/dask-cluster/api/v1/retire_workers"
OVERRIDES = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-Method"]


async def test_only_reads_reach_the_scheduler(tenants, start_gateway, emulator, attack):
    alice = tenants["alice"]
    emulator.allow(BOB, namespace="alice", verb="get", group=DASK_GROUP, resource="daskclusters")
    gateway = await start_gateway()
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "post", "GeT"):
        before = len(alice.requests)
        status, _ = await raw_request(gateway.port, method, API, [("kubeflow-userid", BOB)], body=b"{}")
        seen = {r["method"] for r in alice.requests[before:]}
        attack.attempt(method, bool(seen - {"GET", "HEAD"}))
    for header in OVERRIDES:
        before = len(alice.requests)
        await raw_request(gateway.port, "GET", API, [("kubeflow-userid", BOB), (header, "POST")])
        reached = alice.requests[before:]
        attack.attempt(f"GET + {header}", any(header.lower() in r["headers"] for r in reached))
    before = len(alice.requests)
    await raw_request(gateway.port, "GET", API + "?_method=POST", [("kubeflow-userid", BOB)])
    attack.attempt("?_method=POST", any(r["method"] != "GET" for r in alice.requests[before:]))
    attack.assert_none_got_through()
