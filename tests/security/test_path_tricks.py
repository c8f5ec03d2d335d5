"""Held when tried — path tricks: mallory names her own namespace (which she may see) in a path that
a normaliser somewhere might turn into alice's, or names alice's in a spelling the checks might
not recognise. Got through: alice's scheduler saw any request, or mallory got a 200 for alice."""

from __future__ import annotations

from .conftest import MALLORY, raw_request

OWN = "/dask/mallory/dask-cluster"
TARGETS = [
    f"{OWN}/../../alice/dask-cluster/status",
    f"{OWN}/%2e%2e/%2e%2e/alice/dask-cluster/status",
    f"{OWN}/%2E%2E/%2E%2E/alice/dask-cluster/status",
    f"{OWN}/%2F..%2F..%2Falice%2Fdask-cluster/status",
    f"/dask/mallory%2F..%2Falice/dask-cluster/status",
    f"/dask/mallory/..%2Falice/dask-cluster/status",
    "//dask/alice/dask-cluster/status",
    "/dask//alice/dask-cluster/status",
    "/dask/alice//dask-cluster/status",
    "/dask/./alice/dask-cluster/status",
    "/dask/ALICE/dask-cluster/status",
    "/dask/Alice/dask-cluster/status",
    "/dask/%61lice/dask-cluster/status",
    "/dask/al%C3%ADce/dask-cluster/status",      # alíce
    "/dask/%EF%BD%81lice/dask-cluster/status",   # fullwidth a
    "/dask/alice%00/dask-cluster/status",
    "/dask/alice%20/dask-cluster/status",
    "/dask/alice/DASK-CLUSTER/status",
    "/dask/alice/dask-cluster%2F../status",
    f"{OWN}/status?ns=alice",
    "/dask/?ns=ALICE",
    "/dask/?ns=alice%00",
    "/dask/?ns=alice&ns=mallory",
    "/dask/?ns=%20alice",
    "http://127.0.0.1/dask/alice/dask-cluster/status",  # absolute-form request target
]


async def test_path_tricks_never_reach_another_namespaces_scheduler(tenants, start_gateway, attack):
    alice = tenants["alice"]
    gateway = await start_gateway()
    for target in TARGETS:
        before = len(alice.requests)
        status, body = await raw_request(gateway.port, "GET", target, [("kubeflow-userid", MALLORY)])
        leaked = b"<html>alice</html>" in body or b">13<" in body.replace(b" ", b"")
        attack.attempt(target, len(alice.requests) > before or leaked)
    attack.assert_none_got_through()
