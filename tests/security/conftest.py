"""Fixtures of the attack suite: an attempt counter per attack class, recording fake schedulers and
gateways on the API emulator.

Every test here plays a hostile profile user (mallory, who owns namespace ``mallory``) against a
victim (alice, who owns ``alice``). A fake scheduler per (namespace, cluster) records every request
that reaches it, so "did it get through" is read from the victim's side, not from status codes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dask_kubeflow.gateway import GatewayConfig
from dask_kubeflow.kube.kinds import DASK_GROUP
from dask_kubeflow.kube.names import gateway_prefix
from tests.gateway.conftest import create_cluster, create_namespace, http  # noqa: F401 (fixture)
from tests.gateway.serving import serve

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "security"
ALICE, MALLORY = "alice@example.com", "mallory@example.com"
CLUSTER = "dask-cluster"
# What alice's scheduler reports; seeing these numbers anywhere mallory looks means a leak.
ALICE_COUNTS = {"workers": 7, "cores": 13, "processing": 0}
MALLORY_COUNTS = {"workers": 1, "cores": 1, "processing": 0}


@dataclass
class Attack:
    """Attempts of one attack class and which of them got through (the goal: none)."""

    name: str
    attempts: int = 0
    through: list[str] = field(default_factory=list)

    def attempt(self, label: str, got_through: bool) -> None:
        self.attempts += 1
        if got_through:
            self.through.append(label)

    def assert_none_got_through(self) -> None:
        assert self.attempts > 0, f"{self.name}: no attempt was made"
        assert not self.through, (
            f"{self.name}: {len(self.through)} of {self.attempts} attempts got through: {self.through}"
        )


@pytest.fixture(scope="session")
def _attempts_file() -> tuple[Path, str]:
    """test-artifacts/security/attempts.jsonl (appended to: several sessions may run at once, so
    each line names its session) and this session's id."""
    import os
    import time

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / "attempts.jsonl", f"{time.strftime('%Y-%m-%dT%H:%M:%S')}-{os.getpid()}"


@pytest.fixture
def attack(request, _attempts_file) -> Attack:
    """One counter per test; its tally is appended to test-artifacts/security/attempts.jsonl."""
    counter = Attack(request.node.name)
    yield counter
    path, session = _attempts_file
    with path.open("a") as out:
        out.write(json.dumps({"session": session, "test": request.node.nodeid, "attempts": counter.attempts,
                              "got_through": len(counter.through), "through": counter.through}) + "\n")


@dataclass
class FakeScheduler:
    """A scheduler dashboard that records every request and websocket message reaching it."""

    namespace: str
    cluster: str
    counts: dict[str, int]
    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    ws_messages: list[int] = field(default_factory=list)  # sizes of messages received
    redirect_counts_to: str | None = None

    @property
    def prefix(self) -> str:
        return gateway_prefix(self.namespace, self.cluster)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"method": request.method, "path": request.raw_path,
                              "headers": {k.lower(): v for k, v in request.headers.items()}})
        path = request.path
        if path.endswith("/ws") and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        if path == f"{self.prefix}/json/counts.json":
            if self.redirect_counts_to:
                raise web.HTTPFound(self.redirect_counts_to)
            return web.json_response(self.counts)
        if path == f"{self.prefix}/json/identity.json":
            return web.json_response({"workers": {}})
        headers = {
            "Set-Cookie": "stolen=1",
            "Access-Control-Allow-Origin": "https://evil.example",
            "X-Frame-Options": "ALLOWALL",
        }
        return web.Response(text=f"<html>{self.namespace}</html>", content_type="text/html", headers=headers)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"namespace": self.namespace, "workers": self.counts["workers"]}))
        async for message in ws:
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self.ws_messages.append(len(message.data))
                await ws.send_str("ack")
        return ws

    def reached(self, since: int = 0) -> list[dict[str, Any]]:
        return self.requests[since:]


@pytest.fixture
async def schedulers() -> AsyncIterator[dict[str, FakeScheduler]]:
    """Fake schedulers of alice/dask-cluster and mallory/dask-cluster on loopback ports."""
    fakes = {"alice": FakeScheduler("alice", CLUSTER, ALICE_COUNTS),
             "mallory": FakeScheduler("mallory", CLUSTER, MALLORY_COUNTS)}
    runners = []
    for fake in fakes.values():
        runner = web.AppRunner(fake.app())
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        fake.base = f"http://127.0.0.1:{port}"
    yield fakes
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def tenants(emulator, schedulers) -> dict[str, FakeScheduler]:
    """Profile namespaces alice and mallory, each owning a DaskCluster its fake scheduler plays."""
    for namespace, owner in (("alice", ALICE), ("mallory", MALLORY)):
        await create_namespace(namespace)
        emulator.allow(owner, namespace=namespace)
        await create_cluster(namespace, CLUSTER, managed=True)
    emulator.allow(ALICE, namespace="alice", verb="get", group=DASK_GROUP, resource="daskclusters")
    return schedulers


@dataclass
class Gateway:
    url: str
    app: web.Application
    port: int


@pytest.fixture
async def start_gateway(emulator, schedulers) -> AsyncIterator[Callable[..., Awaitable[Gateway]]]:
    """Start gateways (the production server options) whose resolver maps every cluster of alice's
    and mallory's namespaces to that namespace's fake scheduler, anything else to a port where
    nothing listens."""
    runners: list[web.AppRunner] = []

    def resolver(namespace: str, name: str, cluster: dict) -> str:
        fake = schedulers.get(namespace)
        return fake.base if fake is not None else "http://127.0.0.1:9"

    async def start(**settings: Any) -> Gateway:
        app, port = await serve(GatewayConfig(**settings), str(emulator.kubeconfig), resolver, runners)
        return Gateway(f"http://127.0.0.1:{port}", app, port)

    yield start
    for runner in runners:
        await runner.cleanup()




def as_user(user: str, **extra: str) -> dict[str, str]:
    return {"kubeflow-userid": user, **extra}


async def raw_request(port: int, method: str, target: str, headers: list[tuple[str, str]] | None = None,
                      body: bytes = b"") -> tuple[int, bytes]:
    """Send one request exactly as written (no client-side path normalisation); (status, body)."""
    import asyncio

    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, rest
