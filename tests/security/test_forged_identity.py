"""Issue 11 item 4 — forged ingress identity through X-Forwarded-Client-Cert.

A meshed pod (mallory's notebook) calls the gateway directly with ``kubeflow-userid: alice`` and an
XFCC prefix of its own; its sidecar APPENDS the real element (``URI=`` mallory's SPIFFE id). With
``--trusted-principal`` set to the ingress gateway, got through: the gateway believed alice (200).
"""

from __future__ import annotations

import pytest

from dask_kubeflow.gateway.trust import xfcc_peer_uris

from .conftest import ALICE, as_user

INGRESS = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
MALLORY_POD = "spiffe://cluster.local/ns/mallory/sa/default-editor"
# What mallory's pod's sidecar appends (Envoy quotes Subject, always present in Istio's config).
SIDECAR = f'By=spiffe://cluster.local/ns/dask-kubeflow/sa/dask-kubeflow-gateway;Hash=abc123;Subject="";URI={MALLORY_POD}'

FORGED_PREFIXES = {
    "open quote in Subject": f'By=x;URI={INGRESS};Subject="',
    "open quote in URI": f'URI="{INGRESS}',
    "escaped quote keeps it open": f'URI={INGRESS};Subject="a\\"',
    "trailing backslash": f'URI={INGRESS};Subject="a\\',
    "well-formed element before the sidecar's": f"URI={INGRESS}",
    "two open quotes around the comma": f'URI={INGRESS};DNS="',
    "quote closed inside sidecar's Subject": f'URI={INGRESS};Subject="x',
    "semicolon then open quote": f'URI={INGRESS};"',
}


def appended(prefix: str) -> str:
    return f"{prefix},{SIDECAR}"


@pytest.mark.parametrize("label", sorted(FORGED_PREFIXES))
def test_parser_takes_the_element_the_sidecar_added(label):
    uris = xfcc_peer_uris(appended(FORGED_PREFIXES[label]))
    assert INGRESS not in uris


def test_parser_reads_envoys_quoting():
    header = f'By=spiffe://a;Hash=h;Subject="CN=x, O=\\"q;r\\"";URI={INGRESS}'
    assert xfcc_peer_uris(header) == (INGRESS,)
    assert xfcc_peer_uris(f"By=spiffe://a;URI=spiffe://first,{header}") == (INGRESS,)
    assert xfcc_peer_uris("") == ()


async def test_forged_xfcc_prefixes_do_not_make_the_gateway_believe_the_ingress(
    tenants, start_gateway, http, attack
):
    gateway = await start_gateway(trusted_principals=(INGRESS,))
    for label, prefix in FORGED_PREFIXES.items():
        headers = as_user(ALICE, **{"X-Forwarded-Client-Cert": appended(prefix)})
        async with http.get(f"{gateway.url}/dask/?ns=alice", headers=headers) as response:
            attack.attempt(label, response.status == 200)
    # The sidecar may also add its element as a second header line: same rule, last element wins.
    async with http.get(f"{gateway.url}/dask/?ns=alice", headers=[
        ("kubeflow-userid", ALICE), ("X-Forwarded-Client-Cert", f"URI={INGRESS}"),
        ("X-Forwarded-Client-Cert", SIDECAR),
    ]) as response:
        attack.attempt("second header line", response.status == 200)
    attack.assert_none_got_through()
    genuine = f'By=spiffe://gw;Hash=h;Subject="";URI={INGRESS}'
    async with http.get(f"{gateway.url}/dask/?ns=alice",
                        headers=as_user(ALICE, **{"X-Forwarded-Client-Cert": genuine})) as response:
        assert response.status == 200
