"""Benchmark: what the dashboard gateway adds, against going to the scheduler's dashboard directly.

    .venv/bin/python benchmarks/gateway_latency.py [--requests 2000] [--round-trips 300] [--sessions 200]

Everything runs on loopback: a real `dask scheduler --dashboard-prefix /dask/alice/dask-cluster` with one
worker, the Kubernetes API emulator (SubjectAccessReview + DaskCluster lookups, answered once and then
cached as in production), and the gateway in its own process (so its memory is measured alone).
In one run it measures:
  * HTTP: latency of GET <prefix>/health and <prefix>/json/counts.json, direct vs through the gateway,
    interleaved request by request (same connection reuse on both paths): p50, p99, added p50.
  * websocket: round trip of a Bokeh SERVER-INFO-REQ -> SERVER-INFO-REPLY on an open dashboard session,
    direct vs through the gateway, interleaved.
  * memory: the gateway process's RSS idle, and with --sessions dashboard sessions (page fetched, Bokeh
    websocket open and receiving updates) held open at once.
Targets (issue 7): added p50 <= 2 ms; <= 200 MB with 200 sessions (held by 10 users: the
gateway caps each user at max_connections_per_user). Issue 11: added p50 stays <= 1 ms after
the hardening (Origin check, header allow-lists, connection caps, bounded writes). Writes
benchmarks/results/gateway_latency.json. Loops are bounded by the counts above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from benchmarks.gateway_process import gateway_on_emulator  # noqa: E402
from tests.gateway.bokeh_session import open_session, server_info  # noqa: E402
from tests.gateway.dask_processes import start_local_dask  # noqa: E402

NAMESPACE, CLUSTER, USER = "alice", "dask-cluster", "alice@example.com"
PREFIX = f"/dask/{NAMESPACE}/{CLUSTER}"
HEADERS = {"kubeflow-userid": USER}
# The held sessions belong to several users (each user may hold max_connections_per_user at once).
SESSION_USERS = [f"user{i}@example.com" for i in range(10)]
SESSION_PAGE = "individual-nprocessing"  # one Bokeh plot per session: keeps the scheduler's share small


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"p50_ms": round(percentile(ms, 50), 3), "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3), "n": len(ms)}


async def timed_get(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None) -> float:
    started = time.perf_counter()
    async with http.get(url, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url} answered {response.status}")
    return time.perf_counter() - started


async def http_latency(direct: str, gateway: str, path: str, requests: int) -> dict:
    times: dict[str, list[float]] = {"direct": [], "gateway": []}
    async with aiohttp.ClientSession() as http:
        for _ in range(20):  # warm connections and the gateway's access cache
            await timed_get(http, direct + path, None)
            await timed_get(http, gateway + path, HEADERS)
        for _ in range(requests):
            times["direct"].append(await timed_get(http, direct + path, None))
            times["gateway"].append(await timed_get(http, gateway + path, HEADERS))
    result = {k: summary(v) for k, v in times.items()}
    result["added_p50_ms"] = round(result["gateway"]["p50_ms"] - result["direct"]["p50_ms"], 3)
    result["added_p99_ms"] = round(result["gateway"]["p99_ms"] - result["direct"]["p99_ms"], 3)
    return result


async def websocket_latency(direct: str, gateway: str, round_trips: int) -> dict:
    times: dict[str, list[float]] = {"direct": [], "gateway": []}
    async with aiohttp.ClientSession() as http:
        sockets = {
            "direct": await open_session(http, direct, PREFIX, None, page=SESSION_PAGE),
            "gateway": await open_session(http, gateway, PREFIX, HEADERS, page=SESSION_PAGE),
        }
        for _ in range(10):
            for ws in sockets.values():
                await server_info(ws)
        for _ in range(round_trips):
            for name, ws in sockets.items():
                started = time.perf_counter()
                await server_info(ws)
                times[name].append(time.perf_counter() - started)
        for ws in sockets.values():
            await ws.close()
    result = {k: summary(v) for k, v in times.items()}
    result["added_p50_ms"] = round(result["gateway"]["p50_ms"] - result["direct"]["p50_ms"], 3)
    result["added_p99_ms"] = round(result["gateway"]["p99_ms"] - result["direct"]["p99_ms"], 3)
    return result


async def held_sessions(gateway: str, sessions: int, gateway_process: psutil.Process, hold_s: float) -> dict:
    rss_idle = gateway_process.memory_info().rss
    peak = rss_idle
    received = 0

    async def drain(ws: aiohttp.ClientWebSocketResponse) -> int:
        """Read (and so answer the gateway's heartbeat pings, as a browser does) until cancelled."""
        count = 0
        try:
            while True:
                message = await ws.receive()
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    return count
                count += 1
        except (asyncio.CancelledError, aiohttp.ClientError):
            return count

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        sockets, readers = [], []
        for i in range(sessions):  # opened one by one, as browsers would over time
            user = {"kubeflow-userid": SESSION_USERS[i % len(SESSION_USERS)]}
            sockets.append(await open_session(http, gateway, PREFIX, user, page=SESSION_PAGE))
            readers.append(asyncio.ensure_future(drain(sockets[-1])))
            peak = max(peak, gateway_process.memory_info().rss)

        deadline = time.monotonic() + hold_s
        while time.monotonic() < deadline:  # bounded: hold_s seconds
            peak = max(peak, gateway_process.memory_info().rss)
            await asyncio.sleep(0.25)
        rss_open = gateway_process.memory_info().rss
        for reader in readers:
            reader.cancel()
        received = sum(await asyncio.gather(*readers))
        still_open = sum(1 for ws in sockets if not ws.closed)
        for ws in sockets:
            await ws.close()
    return {
        "sessions": sessions,
        "still_open_at_end": still_open,
        "messages_received_while_held": received,
        "hold_seconds": hold_s,
        "rss_idle_mb": round(rss_idle / 2**20, 1),
        "rss_sessions_open_mb": round(rss_open / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "per_session_kb": round((rss_open - rss_idle) / sessions / 1024, 1),
    }


async def main_async(args: argparse.Namespace) -> dict:
    dask = start_local_dask(NAMESPACE, CLUSTER)
    try:
        async with gateway_on_emulator(dask.dashboard_base, NAMESPACE, CLUSTER, [USER, *SESSION_USERS],
                                       access_log=True) as gateway:
            results = {
                "http_health": await http_latency(dask.dashboard_base, gateway.url, f"{PREFIX}/health", args.requests),
                "http_counts_json": await http_latency(
                    dask.dashboard_base, gateway.url, f"{PREFIX}/json/counts.json", args.requests
                ),
                "websocket_round_trip": await websocket_latency(dask.dashboard_base, gateway.url, args.round_trips),
                "memory": await held_sessions(gateway.url, args.sessions, gateway.process, args.hold),
            }
            results["sar_requests_to_api"] = gateway.emulator.request_count(
                verb="create", resource="subjectaccessreviews")
            return results
    finally:
        dask.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests per path and side")
    parser.add_argument("--round-trips", type=int, default=300, help="websocket round trips per side")
    parser.add_argument("--sessions", type=int, default=200, help="dashboard sessions held open at once")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold the sessions open")
    args = parser.parse_args()
    started = time.time()
    results = asyncio.run(main_async(args))
    results["meta"] = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "cpus": psutil.cpu_count(),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
        "seconds": round(time.time() - started, 1),
        "args": vars(args),
    }
    out = ROOT / "benchmarks" / "results" / "gateway_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
