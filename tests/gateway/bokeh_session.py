"""Talk to a Bokeh dashboard the way its page does: fetch the page for a session token, open the
websocket with subprotocols ``bokeh, <token>``, exchange protocol messages (3 text frames each:
header, metadata, content). Used by the proxy tests and the latency benchmark."""

from __future__ import annotations

import itertools
import json
import re

import aiohttp

from dask_kubeflow.gateway.proxy import ack_now

_TOKEN = re.compile(r'"token":"([^"]+)"')
_ids = itertools.count(1)


async def fetch_token(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> str:
    """The Bokeh session token embedded in a dashboard page (each GET makes a new session)."""
    async with http.get(url, headers=headers) as response:
        response.raise_for_status()
        match = _TOKEN.search(await response.text())
    if match is None:
        raise AssertionError(f"no Bokeh session token in {url}")
    return match.group(1)


async def connect(
    http: aiohttp.ClientSession, ws_url: str, token: str, headers: dict[str, str] | None = None
) -> aiohttp.ClientWebSocketResponse:
    """Open a page's websocket with its token; returns after the server's ACK."""
    ws = await http.ws_connect(ws_url, protocols=("bokeh", token), headers=headers, max_msg_size=0)
    header, _, _ = await receive_message(ws)
    if header["msgtype"] != "ACK":
        raise AssertionError(f"expected ACK, got {header}")
    return ws


async def open_session(
    http: aiohttp.ClientSession, base: str, prefix: str, headers: dict[str, str] | None = None,
    page: str = "status",
) -> aiohttp.ClientWebSocketResponse:
    """What a browser tab does: GET ``<prefix>/<page>``, then connect its websocket. With ``headers``
    (an identity: through the gateway) the handshake carries ``Origin: <base>`` as a browser's
    would; without (straight to the scheduler) no Origin, as from a non-browser client."""
    token = await fetch_token(http, f"{base}{prefix}/{page}", headers)
    ws_headers = None if headers is None else {"Origin": base, **headers}
    return await connect(http, f"{base}{prefix}/{page}/ws", token, ws_headers)


async def receive_message(ws: aiohttp.ClientWebSocketResponse) -> tuple[dict, dict, dict]:
    """One Bokeh message (binary buffers, if announced, are read and dropped)."""
    frames = []
    while len(frames) < 3:
        message = await ws.receive()
        ack_now(ws)  # as the gateway does: don't let tornado's Nagle + delayed ACK stall the next frame
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket ended: {message.type.name} {message.data!r}")
        frames.append(json.loads(message.data))
    for _ in range(frames[0].get("num_buffers", 0) * 2):
        await ws.receive()
    return frames[0], frames[1], frames[2]


async def server_info(ws: aiohttp.ClientWebSocketResponse) -> dict:
    """A request/reply round trip: SERVER-INFO-REQ -> SERVER-INFO-REPLY (skipping doc patches)."""
    msgid = str(next(_ids))
    for frame in ({"msgid": msgid, "msgtype": "SERVER-INFO-REQ"}, {}, {}):
        await ws.send_str(json.dumps(frame))
    while True:
        header, _, content = await receive_message(ws)
        if header.get("reqid") == msgid:
            if header["msgtype"] != "SERVER-INFO-REPLY":
                raise AssertionError(f"unexpected reply {header} {content}")
            return content
