"""The proxied Dask status page in headless Chromium: it loads completely through the gateway, its
plots keep updating over the websocket, and a screenshot is kept in test-artifacts/gateway/."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from distributed import Client

from .conftest import ARTIFACTS, CLUSTER, NAMESPACE, OWNER

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian chromium is not installed at /usr/bin/chromium; run `make browser` "
        "(apt-get install chromium) to run the browser tests",
    ),
]

# Bokeh has rendered the document's roots once its models exist in the page.
DOCUMENT_RENDERED = """() => window.Bokeh !== undefined && Bokeh.documents.length > 0
    && Bokeh.documents[0].roots().length > 0"""
# Number of task rectangles the Task Stream plot holds (its ColumnDataSource has a "duration" column).
TASK_STREAM_ROWS = """() => {
    for (const model of Bokeh.documents[0].all_models) {
        const data = model.data;
        if (data === undefined || data === null) continue;
        const column = data instanceof Map ? data.get("duration") : data["duration"];
        const names = data instanceof Map ? data.get("name") : data["name"];
        if (column !== undefined && names !== undefined) return column.length;
    }
    return -1;
}"""


async def until(condition, what: str, deadline: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not await condition():
        if loop.time() > end:
            pytest.fail(f"gave up after {deadline:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_status_page_loads_and_updates_through_the_gateway(kubeflow_namespace, start_gateway, http, local_dask):
    from playwright.async_api import async_playwright

    gateway = await start_gateway()
    gateway_origin = urlsplit(gateway.url).netloc
    url = f"{gateway.url}/dask/{NAMESPACE}/{CLUSTER}/status"
    problems: list[str] = []
    sockets: list[str] = []
    frames_received = 0

    def on_websocket(ws) -> None:
        nonlocal frames_received
        sockets.append(ws.url)

        def count(_payload) -> None:
            nonlocal frames_received
            frames_received += 1

        ws.on("framereceived", count)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            # The Kubeflow ingress adds the identity header to every request, websockets included.
            context = await browser.new_context(
                extra_http_headers={"kubeflow-userid": OWNER}, viewport={"width": 1400, "height": 900}
            )
            page = await context.new_page()
            page.on("websocket", on_websocket)
            page.on("requestfailed", lambda r: problems.append(f"failed {r.url}: {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            response = await page.goto(url, wait_until="load")
            assert response is not None and response.status == 200
            await page.wait_for_function(DOCUMENT_RENDERED, timeout=60_000)
            assert problems == [], problems
            assert sockets and all(
                urlsplit(s).netloc == gateway_origin and urlsplit(s).path.startswith(f"/dask/{NAMESPACE}/{CLUSTER}/")
                for s in sockets
            ), sockets
            assert await page.locator("canvas").count() > 0

            async def task_stream() -> int:
                return await page.evaluate(TASK_STREAM_ROWS)

            assert await task_stream() >= 0, "the status page has a Task Stream plot"
            frames_before, rows_before = frames_received, await task_stream()
            async with Client(local_dask.address, asynchronous=True) as client:
                # A stdlib function: the worker process imports it by name.
                work = client.map(time.sleep, [0.02] * 50, key=[f"sleep-{uuid.uuid4().hex}" for _ in range(50)])
                assert await client.gather(work) == [None] * 50

                async def plotted() -> bool:
                    return await task_stream() > rows_before

                # The new tasks reach the browser's plot only as websocket messages via the gateway.
                await until(plotted, "the Task Stream plot to show the new tasks")
            assert frames_received > frames_before
            proxied = await gateway.metric(http, "dask_kubeflow_gateway_websocket_messages_total", direction="to_browser")
            assert proxied >= frames_received
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dask-status-through-gateway.png"), full_page=True)
            assert problems == [], problems
            # What a real dashboard sends, against the gateway's caps (kept for docs/security.md).
            sizes = await message_sizes(http, gateway)
            (ARTIFACTS / "websocket-message-sizes.json").write_text(json.dumps(sizes, indent=2) + "\n")
            assert sizes["to_scheduler"]["largest_bucket_le"] <= 1024**2
            assert sizes["to_browser"]["largest_bucket_le"] <= 8 * 1024**2
        finally:
            await browser.close()


async def message_sizes(http, gateway) -> dict:
    """Count, total bytes and the smallest bucket bound holding every message, per direction."""
    from prometheus_client.parser import text_string_to_metric_families

    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    out: dict = {}
    for family in text_string_to_metric_families(text):
        if family.name != "dask_kubeflow_gateway_websocket_message_bytes":
            continue
        for sample in family.samples:
            entry = out.setdefault(sample.labels.get("direction"), {"largest_bucket_le": float("inf")})
            if sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["bytes"] = sample.value
        for sample in family.samples:  # buckets are cumulative: the first one holding all of them
            entry = out[sample.labels.get("direction")]
            if sample.name.endswith("_bucket") and sample.value >= entry.get("count", 0):
                entry["largest_bucket_le"] = min(entry["largest_bucket_le"], float(sample.labels["le"]))
    return out


async def test_clusters_page_renders_inside_the_central_dashboards_iframe(kubeflow_namespace, start_gateway):
    """The central dashboard (same origin) iframes /dask/?ns=<ns>; a page of another origin may not."""
    from aiohttp import web
    from playwright.async_api import async_playwright

    gateway = await start_gateway()
    frame_url = f"{gateway.url}/dask/?ns={NAMESPACE}"
    host_page = f'<html><body><h1>Central dashboard</h1><iframe id="menu" src="{frame_url}" width="1200" height="300"></iframe></body></html>'

    async def other_origin_page(request: web.Request) -> web.Response:
        return web.Response(text=host_page, content_type="text/html")

    other = web.Application()
    other.router.add_get("/", other_origin_page)
    other_runner = web.AppRunner(other)
    await other_runner.setup()
    other_site = web.TCPSite(other_runner, "127.0.0.1", 0)
    await other_site.start()
    other_url = f"http://127.0.0.1:{other_site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(extra_http_headers={"kubeflow-userid": OWNER})
            # Stand-in for the central dashboard's page, on the gateway's origin (as behind the ingress).
            await context.route(f"{gateway.url}/_/dask", lambda route: route.fulfill(
                status=200, content_type="text/html", body=host_page))
            page = await context.new_page()
            refused: list[str] = []
            page.on("requestfailed", lambda r: r.url == frame_url and refused.append(r.failure or ""))

            await page.goto(f"{gateway.url}/_/dask")
            row = page.frame_locator("#menu").locator(f'tr[data-cluster="{CLUSTER}"]')
            await row.wait_for(timeout=30_000)
            assert await row.locator("a.dashboard").get_attribute("href") == f"/dask/{NAMESPACE}/{CLUSTER}/status"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "clusters-page-in-iframe.png"))
            assert refused == []

            await page.goto(other_url)

            async def blocked() -> bool:
                return "net::ERR_BLOCKED_BY_RESPONSE" in refused

            await until(blocked, "Chromium to refuse framing the page into another origin", deadline=30)
        finally:
            await browser.close()
            await other_runner.cleanup()
