"""Proxying itself: bytes and headers pass unchanged, websockets carry Bokeh's protocol both ways,
and the scheduler-side connection goes when the browser does."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import psutil
import pytest

from .bokeh_session import connect, fetch_token, server_info
from .conftest import CLUSTER, NAMESPACE, OWNER

PREFIX = f"/dask/{NAMESPACE}/{CLUSTER}"
HEADERS = {"kubeflow-userid": OWNER}


async def test_assets_arrive_byte_for_byte_with_their_encoding(kubeflow_namespace, start_gateway, http, local_dask):
    gateway = await start_gateway()
    async with http.get(f"{gateway.url}{PREFIX}/status", headers=HEADERS) as response:
        page = await response.text()
    script = re.search(r'src="(/dask/[^"]+bokeh[^"]*\.js[^"]*)"', page)
    assert script, "the status page names its Bokeh script under the prefix"
    raw = {"Accept-Encoding": "gzip"}
    async with aiohttp.ClientSession(auto_decompress=False) as plain:
        async with plain.get(local_dask.dashboard_base + script.group(1), headers=raw) as direct:
            direct_body, direct_encoding = await direct.read(), direct.headers.get("Content-Encoding")
        async with plain.get(gateway.url + script.group(1), headers={**raw, **HEADERS}) as proxied:
            proxied_body, proxied_encoding = await proxied.read(), proxied.headers.get("Content-Encoding")
    assert proxied.status == direct.status == 200
    assert proxied_encoding == direct_encoding
    assert proxied_body == direct_body and len(proxied_body) > 100_000


def gateway_upstream_connections(local_dask) -> int:
    """Connections from this process (where the gateway runs) to the scheduler's dashboard port."""
    return sum(
        1 for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == local_dask.dashboard_port and c.status == psutil.CONN_ESTABLISHED
    )


async def until(condition, what: str, deadline: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not await condition():
        if loop.time() > end:
            pytest.fail(f"gave up after {deadline:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_websocket_round_trip_and_teardown_when_the_browser_vanishes(
    kubeflow_namespace, start_gateway, http, local_dask
):
    gateway = await start_gateway()
    # The page (for its session token) comes straight from the scheduler on a connection closed at
    # once, so the websocket is the only connection between this process and the scheduler.
    async with aiohttp.ClientSession() as direct:
        token = await fetch_token(direct, f"{local_dask.dashboard_base}{PREFIX}/status")

    async def no_upstream():
        return gateway_upstream_connections(local_dask) == 0

    await until(no_upstream, "earlier connections to the scheduler to close")
    browser = aiohttp.ClientSession()
    try:
        ws = await connect(browser, f"{gateway.url}{PREFIX}/status/ws", token, {**HEADERS, "Origin": gateway.url})
        assert ws.protocol == "bokeh"
        info = await server_info(ws)  # browser -> gateway -> scheduler -> gateway -> browser
        assert "bokeh" in info["version_info"]
        assert await gateway.metric(http, "dask_kubeflow_gateway_open_websockets") == 1
        assert gateway_upstream_connections(local_dask) == 1
    finally:
        await browser.close()  # drops the TCP connection: no close frame, like a killed tab

    async def upstream_gone():
        return (
            await gateway.metric(http, "dask_kubeflow_gateway_open_websockets") == 0
            and gateway_upstream_connections(local_dask) == 0
        )

    await until(upstream_gone, "the gateway to close the scheduler side after the browser vanished")
    assert await gateway.metric(http, "dask_kubeflow_gateway_websocket_messages_total", direction="to_scheduler") >= 3


async def test_the_scheduler_accepts_only_the_gateways_origin(local_dask):
    """The scheduler runs with render's Bokeh setting (ENV_BOKEH_WEBSOCKET_ORIGINS): the Origin the
    gateway sends is the one accepted; a page's own Origin, sent straight to the scheduler, is not."""
    from dask_kubeflow.kube.names import GATEWAY_WEBSOCKET_ORIGIN

    async with aiohttp.ClientSession() as direct:
        token = await fetch_token(direct, f"{local_dask.dashboard_base}{PREFIX}/status")
        ws_url = f"{local_dask.dashboard_base}{PREFIX}/status/ws"
        ws = await connect(direct, ws_url, token, {"Origin": GATEWAY_WEBSOCKET_ORIGIN})
        await ws.close()
        token = await fetch_token(direct, f"{local_dask.dashboard_base}{PREFIX}/status")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await connect(direct, ws_url, token, {"Origin": "https://evil.example"})
        assert refused.value.status == 403
