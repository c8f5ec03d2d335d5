"""Held when tried — who may say who the user is: the identity header from an address that is not a
trusted proxy, address spoofing through forwarding headers, and duplicate identity headers (a
client-sent one in front of the one the ingress adds). Got through: a 200 for alice's namespace."""

from __future__ import annotations

from .conftest import ALICE, MALLORY


async def test_identity_from_untrusted_addresses_is_ignored(tenants, start_gateway, http, attack):
    gateway = await start_gateway(trusted_proxies=("10.0.0.0/8",))  # the test client is 127.0.0.1
    for label, extra in {
        "plain": [],
        "X-Forwarded-For": [("X-Forwarded-For", "10.0.0.1")],
        "X-Real-IP": [("X-Real-IP", "10.0.0.1")],
        "Forwarded": [("Forwarded", "for=10.0.0.1")],
        "X-Envoy-External-Address": [("X-Envoy-External-Address", "10.0.0.1")],
    }.items():
        async with http.get(f"{gateway.url}/dask/?ns=alice", headers=[("kubeflow-userid", ALICE), *extra]) as response:
            attack.attempt(label, response.status == 200)
    attack.assert_none_got_through()


async def test_duplicate_identity_headers_are_refused(tenants, start_gateway, http, attack):
    gateway = await start_gateway()
    for label, headers in {
        "forged first, ingress second": [("kubeflow-userid", ALICE), ("kubeflow-userid", MALLORY)],
        "ingress first, forged second": [("kubeflow-userid", MALLORY), ("kubeflow-userid", ALICE)],
        "other case": [("Kubeflow-Userid", ALICE), ("kubeflow-userid", MALLORY)],
        "same value twice": [("kubeflow-userid", ALICE), ("kubeflow-userid", ALICE)],
    }.items():
        async with http.get(f"{gateway.url}/dask/?ns=alice", headers=headers) as response:
            attack.attempt(label, response.status == 200)
    attack.assert_none_got_through()
