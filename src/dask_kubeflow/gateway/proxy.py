"""Forward one browser request, HTTP or websocket, to a scheduler dashboard, streaming both ways.

The path is forwarded unchanged: the scheduler runs with ``--dashboard-prefix /dask/<ns>/<cluster>``
and Bokeh's asset URLs are absolute. Bodies are streamed chunk by chunk and websocket messages one
at a time; when either side goes away the other connection is closed.

Which headers cross is decided in ``headers.py`` (allow-lists both ways). What one connection may
hold is bounded: websocket messages by ``max_message_to_scheduler`` / ``max_message_to_browser``
(refused from the frame header on, close code 1009), response chunks by the socket buffers (each
write waits for the browser, at most ``client_write_timeout``), request bodies not at all — the
dashboard's GETs have none, so a request with one is refused.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

from .config import GatewayConfig
from .headers import downstream_response_headers, upstream_request_headers
from .metrics import GatewayMetrics

log = logging.getLogger(__name__)


class UpstreamUnavailable(Exception):
    """The scheduler's dashboard could not be reached or answered the handshake with an error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _connection_tokens(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Connection", "")
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def has_body(request: web.Request) -> bool:
    """A request that says it carries a body (the dashboard's GETs never do)."""
    return request.body_exists or "Transfer-Encoding" in request.headers


def is_websocket_upgrade(request: web.Request) -> bool:
    return (
        request.method == "GET"
        and request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in _connection_tokens(request.headers)
    )


def upstream_url(upstream_base: str, request: web.Request) -> URL:
    return URL(upstream_base.rstrip("/") + str(request.rel_url), encoded=True)


async def proxy_http(
    request: web.Request,
    session: aiohttp.ClientSession,
    upstream_base: str,
    config: GatewayConfig,
    metrics: GatewayMetrics,
    own_headers: Mapping[str, str],
) -> web.StreamResponse:
    """Send the request upstream (without a body) and stream the answer back as it arrives."""
    headers = upstream_request_headers(request.headers, scheme=request.scheme, host=request.host)
    try:
        upstream = await session.request(
            request.method,
            upstream_url(upstream_base, request),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=config.upstream_connect_timeout,
                sock_read=config.upstream_read_timeout,
            ),
        )
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise UpstreamUnavailable(f"{type(exc).__name__}: {exc}") from exc
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    response.headers.update(downstream_response_headers(upstream.headers, upstream_base, own_headers))
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            async with asyncio.timeout(config.client_write_timeout):  # a browser that stopped reading
                await response.write(chunk)
        await response.write_eof()
    except (ConnectionResetError, TimeoutError):
        log.debug("browser went away or stalled during %s; dropping both connections", request.path)
        if request.transport is not None:
            request.transport.close()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        # Headers are sent: no error page is possible any more; cut the browser's connection too.
        metrics.upstream_errors.labels("dashboard").inc()
        log.warning("scheduler broke off %s mid-response: %s", request.path, exc)
        if request.transport is not None:
            request.transport.close()
    finally:
        # Not fully read (browser left, or upstream broke): drop the connection instead of reusing it.
        if upstream.content.at_eof():
            upstream.release()
        else:
            upstream.close()
    return response


async def proxy_websocket(
    request: web.Request,
    session: aiohttp.ClientSession,
    upstream_base: str,
    config: GatewayConfig,
    metrics: GatewayMetrics,
) -> web.StreamResponse:
    """Open the scheduler's websocket first (so its chosen subprotocol is known), then the browser's."""
    headers = upstream_request_headers(request.headers, scheme=request.scheme, host=request.host, websocket=True)
    offered = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    try:
        upstream = await session.ws_connect(
            upstream_url(upstream_base, request),
            protocols=offered,
            headers=headers,
            max_msg_size=config.max_message_to_browser,
            autoping=True,
        )
    except aiohttp.WSServerHandshakeError as exc:
        raise UpstreamUnavailable(f"websocket handshake refused: {exc.status} {exc.message}") from exc
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise UpstreamUnavailable(f"{type(exc).__name__}: {exc}") from exc

    browser = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        max_msg_size=config.max_message_to_scheduler,
        autoping=True,
        heartbeat=config.websocket_heartbeat,  # a vanished browser is noticed and its slot freed
    )
    try:
        await browser.prepare(request)
    except BaseException:
        await upstream.close()
        raise
    metrics.open_websockets.inc()
    try:
        await _pump_both(browser, upstream, metrics, config.client_write_timeout)
    finally:
        metrics.open_websockets.dec()
        await asyncio.gather(upstream.close(), browser.close(), return_exceptions=True)
    return browser


_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def ack_now(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Ask the kernel to ACK what the scheduler sent at once.

    Tornado (the scheduler's web server) writes websocket frames with Nagle's algorithm on, so the
    later frames of a multi-frame Bokeh message wait until the first is ACKed, and Linux delays
    that ACK by up to 40 ms. Re-arming quick ACK after each message removes the stall.
    """
    sock = ws.get_extra_info("socket")
    if _TCP_QUICKACK is not None and sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        except OSError:
            pass


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    metrics: GatewayMetrics,
    direction: str,
    write_timeout: float,
) -> None:
    """Pass messages one at a time: the next is read only once the previous one is written, so a
    slow reader holds back its sender (and at most one message per direction is in memory)."""
    from_scheduler = isinstance(source, aiohttp.ClientWebSocketResponse)
    counter = metrics.websocket_messages.labels(direction)
    sizes = metrics.websocket_message_bytes.labels(direction)
    async for message in source:
        if from_scheduler:
            ack_now(source)
        async with asyncio.timeout(write_timeout):
            if message.type is WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            else:  # CLOSE / ERROR (e.g. 1009 message too big) end the conversation
                break
        counter.inc()
        sizes.observe(len(message.data))
    await sink.close(code=source.close_code or aiohttp.WSCloseCode.OK)


async def _pump_both(
    browser: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
    metrics: GatewayMetrics,
    write_timeout: float,
) -> None:
    tasks = [
        asyncio.ensure_future(
            _pump(upstream, browser, metrics, "to_browser", write_timeout)
        ),
        asyncio.ensure_future(
            _pump(browser, upstream, metrics, "to_scheduler", write_timeout)
        ),
    ]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.debug("websocket pump ended: %s", task.exception())
