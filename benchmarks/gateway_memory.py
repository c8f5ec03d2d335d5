"""Benchmark: the dashboard gateway's memory under the starvation attack of issue 11 (item 5).

    .venv/bin/python benchmarks/gateway_memory.py [--clients 4] [--message-mib 60] [--rounds 3]

One user opens ``--clients`` dashboard websockets through the gateway at once and sends one
``--message-mib`` MiB message on each, ``--rounds`` times. The upstream is a websocket sink on
loopback that accepts messages of any size (so what is measured is the gateway, not Bokeh's own
20 MiB limit); the gateway runs in its own process with the production server options, on the
Kubernetes API emulator. Sampled every 20 ms: the gateway process's RSS. Reported: RSS idle, peak
during the attack, after it; how each message ended (refused by the gateway at the frame header,
or forwarded to the scheduler). Then the worst case within the caps: max_connections_per_user
websockets each sending a message just under max_message_to_scheduler. Target (issue 11): peak
<= 256 MB. Writes
benchmarks/results/gateway_memory.json. Loops are bounded by the counts above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from aiohttp import web  # noqa: E402

from benchmarks.gateway_process import gateway_on_emulator  # noqa: E402

NAMESPACE, CLUSTER, USER = "mallory", "dask-cluster", "mallory@example.com"
PREFIX = f"/dask/{NAMESPACE}/{CLUSTER}"
MiB = 2**20


async def start_sink() -> tuple[web.AppRunner, str, list[int]]:
    """A scheduler stand-in: accepts any websocket message, records its size, answers "ack"."""
    received: list[int] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for message in ws:
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                received.append(len(message.data))
                await ws.send_str("ack")
        return ws

    app = web.Application()
    app.router.add_get(PREFIX + "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}", received


async def one_message(http: aiohttp.ClientSession, gateway: str, payload: bytes) -> str:
    """Open a dashboard websocket, send one big message; how it ended."""
    headers = {"kubeflow-userid": USER, "Origin": gateway}
    try:
        ws = await http.ws_connect(f"{gateway}{PREFIX}/status/ws", headers=headers, max_msg_size=0)
    except aiohttp.WSServerHandshakeError as exc:
        return f"refused {exc.status}"
    try:
        await ws.send_bytes(payload)
        reply = await asyncio.wait_for(ws.receive(), 120)
    except (ConnectionError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"broken: {type(exc).__name__}"
    finally:
        await ws.close()
    if reply.type is aiohttp.WSMsgType.TEXT and reply.data == "ack":
        return "forwarded"
    return f"closed {ws.close_code}"


async def attack(gateway: str, process: psutil.Process, clients: int, size: int, rounds: int) -> dict:
    payload = b"\0" * size
    peak = process.memory_info().rss
    outcomes: list[str] = []
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.ensure_future(sample())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for _ in range(rounds):
            outcomes += await asyncio.gather(*(one_message(http, gateway, payload) for _ in range(clients)))
    stop.set()
    await sampler
    return {"peak_rss_mb": round(peak / 1e6, 1), "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))}}


def cap_clients() -> int:
    from dask_kubeflow.gateway import GatewayConfig

    return getattr(GatewayConfig(), "max_connections_per_user", 4)


def cap_size() -> int:
    from dask_kubeflow.gateway import GatewayConfig

    return getattr(GatewayConfig(), "max_message_to_scheduler", MiB)


async def main_async(args: argparse.Namespace) -> dict:
    sink, upstream, received = await start_sink()
    try:
        async with gateway_on_emulator(upstream, NAMESPACE, CLUSTER, [USER]) as gateway:
            process = gateway.process
            async with aiohttp.ClientSession() as http:  # warm: one small message end to end
                small = await one_message(http, gateway.url, b"hello")
            idle = process.memory_info().rss
            result = await attack(gateway.url, process, args.clients, args.message_mib * MiB, args.rounds)
            after = process.memory_info().rss
            big = sum(1 for n in received if n >= args.message_mib * MiB)
            # The worst a user can do within the caps: every allowed connection sending a message
            # just under the cap toward the scheduler.
            at_cap = await attack(gateway.url, process, cap_clients(), cap_size() - 4096, args.rounds)
            return {
                "small_message": small,
                "rss_idle_mb": round(idle / 1e6, 1),
                **result,
                "rss_after_mb": round(after / 1e6, 1),
                "big_messages_reaching_scheduler": big,
                "within_caps": {"clients": cap_clients(), "message_bytes": cap_size() - 4096, **at_cap},
                "target_peak_mb": 256,
            }
    finally:
        await sink.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="concurrent websockets, one message each")
    parser.add_argument("--message-mib", type=int, default=60, help="size of each message in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="how many times all clients send")
    parser.add_argument("--label", default="", help="stored with the result (e.g. 'before issue 11')")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gateway_memory.json")
    args = parser.parse_args()
    started = time.time()
    results = asyncio.run(main_async(args))
    results["meta"] = {
        "label": args.label,
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "cpus": psutil.cpu_count(),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
        "seconds": round(time.time() - started, 1),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
