"""Issue 11 item 2 — cross-site websocket hijacking.

A page on another site opens ``wss://<kubeflow-host>/dask/alice/dask-cluster/status/ws`` in alice's
browser; the browser attaches alice's Kubeflow login (the ingress turns it into the identity header)
and an ``Origin`` the page cannot forge. Got through: the handshake succeeded (101) or alice's
scheduler saw the upgrade.
"""

from __future__ import annotations

import aiohttp

from dask_kubeflow.kube.names import GATEWAY_WEBSOCKET_ORIGIN

from .conftest import ALICE, as_user

WS = "/dask/alice/dask-cluster/status/ws"


async def _handshake(http: aiohttp.ClientSession, url: str, origin: str | None) -> bool:
    headers = as_user(ALICE) if origin is None else as_user(ALICE, Origin=origin)
    try:
        ws = await http.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError:
        return False
    await ws.close()
    return True


async def test_websocket_upgrades_from_other_origins_are_refused(tenants, start_gateway, http, attack):
    alice = tenants["alice"]
    gateway = await start_gateway()
    host = f"127.0.0.1:{gateway.port}"
    origins = {
        "other site": "https://evil.example",
        "opaque origin (sandboxed iframe, file:)": "null",
        "suffix of the kubeflow host": f"http://{host}.evil.example",
        "kubeflow host as subdomain label": f"http://127.0.0.1.evil.example:{gateway.port}",
        "same host, other port": "http://127.0.0.1:1",
        "userinfo trick": f"http://{host}@evil.example",
        "no Origin": None,
        "garbage": "not a url",
    }
    for label, origin in origins.items():
        before = len(alice.requests)
        opened = await _handshake(http, gateway.url + WS, origin)
        attack.attempt(label, opened or len(alice.requests) > before)
    attack.assert_none_got_through()


async def test_same_origin_upgrade_works_and_the_browsers_origin_stays_behind(tenants, start_gateway, http):
    alice = tenants["alice"]
    gateway = await start_gateway()
    assert await _handshake(http, gateway.url + WS, gateway.url)
    upgrade = [r for r in alice.requests if r["path"] == WS][-1]
    assert upgrade["headers"].get("origin") == GATEWAY_WEBSOCKET_ORIGIN


async def test_configured_kubeflow_origin_is_the_only_one_accepted(tenants, start_gateway, http, attack):
    gateway = await start_gateway(allowed_origins=("https://kubeflow.example.com",))
    assert await _handshake(http, gateway.url + WS, "https://kubeflow.example.com")
    for label, origin in {"request's own host when not configured": gateway.url,
                          "http instead of https": "http://kubeflow.example.com",
                          "other port": "https://kubeflow.example.com:8443"}.items():
        attack.attempt(label, await _handshake(http, gateway.url + WS, origin))
    attack.assert_none_got_through()
