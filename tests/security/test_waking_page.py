"""Held when tried — the door for hibernated clusters wakes nothing for an attacker and reflects nothing.

alice's cluster is hibernated (annotation ``dask.kubeflow.org/hibernated``). mallory, owner of another
namespace, tries to wake it herself (dashboard URL, the wake endpoint, the readiness endpoint), and
tries to make alice's browser wake it from a page of another site (an ``<img>``/link: the browser marks
it ``Sec-Fetch-Site: cross-site``; a cross-origin or form POST to the wake endpoint). Got through: alice's
DaskCluster's annotations changed, or the readiness endpoint told mallory anything, or the waking page
carried unescaped markup from the request, or lacked the gateway's framing/sniffing headers.
"""

from __future__ import annotations

import aiohttp

from dask_kubeflow.kube.names import HIBERNATED_ANNOTATION, WAKE_REQUESTED_ANNOTATION

from .conftest import ALICE, CLUSTER, MALLORY

DASHBOARD = f"/dask/alice/{CLUSTER}/status"
API = f"/dask/_api/namespaces/alice/clusters/{CLUSTER}"
MARKUP = "<script>alert(1)</script>"


async def _annotations() -> dict[str, str]:
    from dask_kubeflow.kube.resources import DaskCluster

    cluster = await DaskCluster.get(CLUSTER, namespace="alice")
    return dict(cluster.raw["metadata"].get("annotations") or {})


async def _hibernate() -> dict[str, str]:
    from dask_kubeflow.kube.resources import DaskCluster

    cluster = await DaskCluster.get(CLUSTER, namespace="alice")
    await cluster.patch({"metadata": {"annotations": {HIBERNATED_ANNOTATION: "2026-12-01T12:00:00Z"}}})
    return await _annotations()


async def test_nobody_but_alice_wakes_alices_cluster(tenants, start_gateway, attack):
    gateway = await start_gateway()
    before = await _hibernate()
    async with aiohttp.ClientSession() as http:
        async def woken(label: str, method: str, path: str, **headers: str) -> None:
            async with http.request(method, gateway.url + path, headers=headers,
                                    data="{}" if method == "POST" else None) as response:
                text = await response.text()
            attack.attempt(label, await _annotations() != before)
            if label.startswith("mallory"):
                attack.attempt(f"{label}: learns the lifecycle", response.status != 403 or "ibernat" in text)

        mallory = {"kubeflow-userid": MALLORY}
        await woken("mallory opens the dashboard URL", "GET", DASHBOARD, **mallory)
        await woken("mallory polls readiness", "GET", API + "/readiness", **mallory)
        await woken("mallory posts a wake", "POST", API + "/wake", Origin=gateway.url,
                    **{"Content-Type": "application/json"}, **mallory)
        alice = {"kubeflow-userid": ALICE}
        await woken("an <img> elsewhere in alice's browser", "GET", DASHBOARD, **alice,
                    **{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"})
        await woken("a link elsewhere in alice's browser", "GET", DASHBOARD, **alice,
                    **{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
        await woken("a sibling subdomain's page", "GET", DASHBOARD, **alice, **{"Sec-Fetch-Site": "same-site"})
        await woken("a cross-origin fetch POST", "POST", API + "/wake", Origin="https://evil.example",
                    **{"Content-Type": "application/json"}, **alice)
        await woken("a form POST", "POST", API + "/wake", Origin=gateway.url,
                    **{"Content-Type": "application/x-www-form-urlencoded"}, **alice)
        await woken("a POST without Origin or Referer", "POST", API + "/wake",
                    **{"Content-Type": "application/json"}, **alice)
        await woken("HEAD of the dashboard", "HEAD", DASHBOARD, **alice)
    assert WAKE_REQUESTED_ANNOTATION not in await _annotations()
    attack.assert_none_got_through()


async def test_the_waking_page_reflects_nothing_and_keeps_the_headers(tenants, start_gateway, attack):
    gateway = await start_gateway()
    await _hibernate()
    async with aiohttp.ClientSession() as http:
        for label, path, user in (
            ("markup in the path", f"/dask/alice/{CLUSTER}/{MARKUP}", ALICE),
            ("markup in the query", f"{DASHBOARD}?x={MARKUP}&next=//evil.example", ALICE),
            ("markup in the identity", DASHBOARD, f"alice{MARKUP}@example.com"),
        ):
            # a cross-site request: the confirm page, which also renders the user and cluster
            async with http.get(gateway.url + path, headers={"kubeflow-userid": user,
                                                             "Sec-Fetch-Site": "cross-site"}) as response:
                text = await response.text()
                headers = response.headers
            attack.attempt(label, MARKUP in text or "evil.example" in text)
            attack.attempt(f"{label}: headers", not (
                "frame-ancestors 'self'" in headers.get("Content-Security-Policy", "")
                and headers.get("X-Frame-Options") == "SAMEORIGIN" and headers.get("X-Content-Type-Options") == "nosniff"
                and headers.get("Cache-Control") == "no-store"))
    attack.assert_none_got_through()
