"""A tiny HTTPS AdmissionReview server for tests, in its own thread and event loop.

    server = WebhookServer(cert).start()            # serves https://127.0.0.1:<server.port>
    server.on("/validate", lambda request: deny("no", code=403))
    server.reviews("/validate")                     # the AdmissionReview requests received
    server.use(new_cert)                            # rotate the serving certificate
    server.stop()

A handler gets the AdmissionReview `request` and returns a `response` dict without `uid` (added here),
or HANG to never answer (the caller's timeout decides), or an int to answer that HTTP status.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
from collections.abc import Callable
from typing import Any

import aiohttp.web

from .certs import ServerCertificate

HANG = "hang"
Handler = Callable[[dict[str, Any]], Any]


def allow(patch: list[dict[str, Any]] | None = None, warnings: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"allowed": True}
    if patch is not None:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if warnings:
        response["warnings"] = warnings
    return response


def deny(message: str, code: int | None = None, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"message": message}
    if code is not None:
        status["code"] = code
    if reason is not None:
        status["reason"] = reason
    return {"allowed": False, "status": status}


class WebhookServer:
    def __init__(self, cert: ServerCertificate, host: str = "127.0.0.1", *, keep_alive: bool = False) -> None:
        """`keep_alive=False` (the default) closes each connection after its review, so a rotated
        certificate is presented on the very next call; True keeps connections (as most servers do)."""
        self._context = cert.ssl_context()
        self._keep_alive = keep_alive
        self._host = host
        self._handlers: dict[str, Handler] = {}
        self._reviews: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0

    def on(self, path: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[path] = handler

    def clear(self) -> None:
        """Forget handlers and recorded reviews (between tests)."""
        with self._lock:
            self._handlers.clear()
            self._reviews.clear()

    def reviews(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._reviews.get(path, []))

    def use(self, cert: ServerCertificate) -> None:
        """Serve `cert` from the next TLS handshake on (certificate rotation)."""
        self._context = cert.ssl_context()

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(target=self._run, name="test-webhook-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the test webhook server did not start within 30 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = aiohttp.web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)  # a thread: see emulator/service.py
        await runner.setup()
        # The SNI callback (called with or without SNI) picks the current context: `use()` rotates in place.
        outer = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        outer.sni_callback = self._sni
        site = aiohttp.web.TCPSite(runner, self._host, 0, ssl_context=outer)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def _sni(self, sslobj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sslobj.context = self._context

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        path = "/" + request.match_info["path"]
        review = await request.json()
        with self._lock:
            self._reviews.setdefault(path, []).append(review["request"])
            handler = self._handlers.get(path)
        result = handler(review["request"]) if handler else allow()
        if result == HANG:
            assert self._stop is not None
            await self._stop.wait()  # until the server stops (the caller's timeout gives up long before)
        if isinstance(result, int):
            response = aiohttp.web.Response(status=result, text="webhook failure (test)")
        else:
            response = aiohttp.web.json_response({
                "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"), "kind": "AdmissionReview",
                "response": {"uid": review["request"]["uid"], **result}})
        if not self._keep_alive:
            response.force_close()  # one handshake per review, so a rotated certificate is seen at once
        return response
