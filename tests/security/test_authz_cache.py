"""Held when tried — the access cache: an answer for (alice, alice) must never serve mallory, nor an
answer for one namespace another, however users and namespaces are spelled. Got through: mallory
got a 200 for alice's namespace or alice's scheduler saw her request."""

from __future__ import annotations

from .conftest import ALICE, MALLORY, as_user


async def test_cached_answers_are_per_user_and_namespace(tenants, start_gateway, http, attack):
    alice = tenants["alice"]
    gateway = await start_gateway(auth_cache_seconds=300, cluster_cache_seconds=300)
    for path in ("/dask/?ns=alice", "/dask/alice/dask-cluster/status"):
        async with http.get(gateway.url + path, headers=as_user(ALICE)) as response:
            assert response.status == 200  # (alice, alice) is now cached as allowed
    spellings = [MALLORY, f"{MALLORY} ", f" {MALLORY}", MALLORY.upper(), f"{MALLORY},{ALICE}",
                 f"{MALLORY};{ALICE}", f"{MALLORY}\t{ALICE}", f"alice:{MALLORY}", "alice"]
    for user in spellings:
        for path in ("/dask/?ns=alice", "/dask/alice/dask-cluster/status"):
            before = len(alice.requests)
            async with http.get(gateway.url + path, headers=as_user(user)) as response:
                attack.attempt(f"{user!r} {path}", response.status == 200 or len(alice.requests) > before)
    # and the other way: mallory's own (cached) access does not open alice's namespace
    async with http.get(gateway.url + "/dask/?ns=mallory", headers=as_user(MALLORY)) as response:
        assert response.status == 200
    async with http.get(gateway.url + "/dask/?ns=alice", headers=as_user(MALLORY)) as response:
        attack.attempt("after mallory's own cached answer", response.status == 200)
    attack.assert_none_got_through()
