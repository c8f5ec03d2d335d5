"""Issue 11 item 5 — one user starving the gateway that every user shares.

Attempts: websocket messages far beyond what a dashboard sends (buffered whole before), more
websockets than a user may hold, a request body on a read-only method, and a client that never
finishes its headers. Got through: the message reached the scheduler, the extra websocket opened,
the body was forwarded, the slow connection stayed open. Memory under the 4 x 60 MiB attack is
measured in benchmarks/gateway_memory.py, not here.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from .conftest import ALICE, MALLORY, as_user

WS = "/dask/{ns}/dask-cluster/status/ws"
MiB = 1024 * 1024


async def _open(http: aiohttp.ClientSession, gateway, namespace: str, user: str):
    return await http.ws_connect(gateway.url + WS.format(ns=namespace), max_msg_size=0,
                                 headers=as_user(user, Origin=gateway.url))


async def test_oversized_websocket_messages_never_reach_the_scheduler(tenants, start_gateway, http, attack):
    mallory = tenants["mallory"]
    gateway = await start_gateway()
    for size in (2 * MiB, 16 * MiB, 60 * MiB):
        for kind in ("text", "binary"):
            ws = await _open(http, gateway, "mallory", MALLORY)
            await ws.receive()  # the scheduler's hello
            before = len(mallory.ws_messages)
            try:
                if kind == "text":
                    await ws.send_str("x" * size)
                else:
                    await ws.send_bytes(b"\0" * size)
                reply = await asyncio.wait_for(ws.receive(), 30)
            except (ConnectionError, aiohttp.ClientError):
                reply = None
            await ws.close()
            forwarded = any(n >= size for n in mallory.ws_messages[before:])
            attack.attempt(f"{kind} {size // MiB} MiB", forwarded or (reply is not None and reply.data == "ack"))
    attack.assert_none_got_through()


async def test_a_user_cannot_hold_more_websockets_than_the_cap(tenants, start_gateway, http, attack):
    gateway = await start_gateway(max_connections_per_user=3)
    held = [await _open(http, gateway, "mallory", MALLORY) for _ in range(3)]
    for i in range(5):
        try:
            extra = await _open(http, gateway, "mallory", MALLORY)
        except aiohttp.WSServerHandshakeError as refused:
            attack.attempt(f"websocket {4 + i}", False)
            assert refused.status == 429
        else:
            attack.attempt(f"websocket {4 + i}", True)
            await extra.close()
    # Alice is not starved by mallory's connections.
    ws = await _open(http, gateway, "alice", ALICE)
    await ws.close()
    for ws in held:
        await ws.close()
    attack.assert_none_got_through()


async def test_the_global_cap_holds_across_users(tenants, start_gateway, http, attack):
    gateway = await start_gateway(max_upstream_connections=2)
    held = [await _open(http, gateway, "mallory", MALLORY), await _open(http, gateway, "alice", ALICE)]
    try:
        extra = await _open(http, gateway, "mallory", MALLORY)
    except aiohttp.WSServerHandshakeError as refused:
        attack.attempt("third upstream connection", False)
        assert refused.status == 503
    else:
        attack.attempt("third upstream connection", True)
        await extra.close()
    for ws in held:
        await ws.close()
    attack.assert_none_got_through()


async def test_request_bodies_on_read_only_methods_are_not_forwarded(tenants, start_gateway, attack):
    from .conftest import raw_request

    mallory = tenants["mallory"]
    gateway = await start_gateway()
    for size in (1, 10 * MiB):
        before = len(mallory.requests)
        status, _ = await raw_request(gateway.port, "GET", "/dask/mallory/dask-cluster/status",
                                      [("kubeflow-userid", MALLORY)], body=b"x" * size)
        attack.attempt(f"GET with a {size}-byte body", len(mallory.requests) > before or status == 200)
    attack.assert_none_got_through()


@pytest.mark.parametrize("stall", ["request line", "headers"])
async def test_a_client_that_never_finishes_its_headers_is_cut_off(tenants, start_gateway, attack, stall):
    gateway = await start_gateway(client_header_timeout=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(b"GET /dask/ HTT" if stall == "request line" else b"GET /dask/ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n")
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(), 30)  # generous: the setting is 1 s
            closed = True
        except asyncio.TimeoutError:
            data, closed = b"", False
    finally:
        writer.close()
    attack.attempt(f"stalled {stall}", not closed or data.startswith(b"HTTP/1.1 200"))
    attack.assert_none_got_through()


async def test_the_clusters_page_asks_a_bounded_number_of_schedulers(tenants, start_gateway, http, attack):
    from dask_kubeflow.gateway.app import MAX_STATS_CLUSTERS

    from .conftest import create_cluster

    mallory = tenants["mallory"]
    extra = MAX_STATS_CLUSTERS + 10
    for i in range(extra):
        await create_cluster("mallory", f"c{i:03d}")
    gateway = await start_gateway()
    before = len(mallory.requests)
    async with http.get(f"{gateway.url}/dask/?ns=mallory", headers=as_user(MALLORY)) as response:
        assert response.status == 200
    asked = {r["path"].split("/")[3] for r in mallory.requests[before:] if r["path"].endswith("/counts.json")}
    for i in range(extra + 1 - MAX_STATS_CLUSTERS):
        attack.attempt(f"cluster beyond the cap #{i}", len(asked) > MAX_STATS_CLUSTERS + i)
    assert "dask-cluster" in asked  # the managed cluster comes first
    attack.assert_none_got_through()
