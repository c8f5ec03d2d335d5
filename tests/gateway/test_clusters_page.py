"""The "Dask clusters" page of the central dashboard: zero, one and several clusters, live numbers
from real schedulers, and the same access rules as the dashboards."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from distributed import Client, Event

from dask_kubeflow.kube.resources import DaskCluster

from .conftest import CLUSTER, NAMESPACE, OWNER, STRANGER, create_autoscaler, create_cluster, create_namespace
from .page_parsing import ClustersTable


def as_user(user: str) -> dict[str, str]:
    return {"kubeflow-userid": user}


async def set_phase(namespace: str, name: str, phase: str) -> None:
    cluster = await DaskCluster.get(name, namespace=namespace)
    await cluster.patch({"status": {"phase": phase}})  # the CRD has no status subresource


async def page(http, gateway, namespace: str, user: str = OWNER):
    async with http.get(f"{gateway.url}/dask/", params={"ns": namespace}, headers=as_user(user)) as response:
        return response, await response.text()


async def test_zero_clusters(kubeflow_namespace, start_gateway, http, emulator):
    await create_namespace("empty-team")
    emulator.allow(OWNER, namespace="empty-team")
    gateway = await start_gateway()
    response, html = await page(http, gateway, "empty-team")
    assert response.status == 200
    assert "Namespace empty-team has no Dask clusters." in html
    assert ClustersTable(html).rows == {}


async def test_one_cluster_with_live_numbers(kubeflow_namespace, start_gateway, http, local_dask):
    await create_autoscaler(NAMESPACE, CLUSTER, 0, 4)
    await set_phase(NAMESPACE, CLUSTER, "Running")
    gateway = await start_gateway()
    async with Client(local_dask.address, asynchronous=True) as client:
        gate = Event(f"gate-{uuid.uuid4().hex}", client=client)
        blocked = client.submit(gate.wait, 120, pure=False)
        try:
            await _until(lambda: local_dask.counts()["processing"] == 1, "one task in flight")
            response, html = await page(http, gateway, NAMESPACE)
        finally:
            await gate.set()
            await blocked
    assert response.status == 200
    # Readable inside the central dashboard's iframe (same origin), not framable elsewhere.
    # (CSP frame-ancestors wins in current browsers; X-Frame-Options SAMEORIGIN for older ones.)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    table = ClustersTable(html)
    assert table.rows == {
        CLUSTER: {
            "name": f"{CLUSTER} platform",
            "phase": "Running",
            "workers-now": "1",
            "workers-min": "0",
            "workers-max": "4",
            "cores": "1",
            "memory": "512.00 MiB",
            "tasks": "1",
            "link": f"/dask/{NAMESPACE}/{CLUSTER}/status",
            "open": "Open dashboard",
            "owner": "–",
            "snippet": f'import dask_kubeflow client = dask_kubeflow.connect(cluster_name="{CLUSTER}")',
            "actions": "",
        }
    }


async def test_several_clusters_managed_first_unreachable_tolerated(kubeflow_namespace, start_gateway, http):
    await create_cluster(NAMESPACE, "adhoc", replicas=3)  # user-made, scheduler not running
    legacy = (await DaskCluster.get(CLUSTER, namespace=NAMESPACE)).raw
    legacy["metadata"] = {"name": "legacy", "namespace": NAMESPACE}
    legacy["spec"]["scheduler"]["spec"]["containers"][0]["args"] = ["dask-scheduler"]  # no prefix
    await (await DaskCluster(legacy)).create()
    gateway = await start_gateway()
    response, html = await page(http, gateway, NAMESPACE)
    assert response.status == 200
    table = ClustersTable(html)
    assert table.names == [CLUSTER, "adhoc", "legacy"]
    assert table.rows[CLUSTER]["workers-now"] == "1"
    adhoc = table.rows["adhoc"]
    assert adhoc["name"].startswith("adhoc user-made") and "not answering" in adhoc["name"]
    assert (adhoc["workers-now"], adhoc["workers-min"], adhoc["workers-max"]) == ("–", "3", "3")
    assert adhoc["link"] == f"/dask/{NAMESPACE}/adhoc/status"
    legacy_row = table.rows["legacy"]
    assert "link" not in legacy_row
    assert f"--dashboard-prefix /dask/{NAMESPACE}/legacy" in legacy_row["name"]


async def test_page_needs_the_same_access_as_the_dashboards(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    response, html = await page(http, gateway, NAMESPACE, user=STRANGER)
    assert response.status == 403 and f"signed in as {STRANGER}" in html and CLUSTER not in html
    async with http.get(f"{gateway.url}/dask/", params={"ns": NAMESPACE}) as response:
        assert response.status == 401
    response, html = await page(http, gateway, "no-such-team")
    assert response.status == 404
    async with http.get(f"{gateway.url}/dask/", headers=as_user(OWNER)) as response:
        assert response.status == 200 and "namespace selector" in await response.text()


async def _until(condition, what: str, deadline: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        if loop.time() > end:
            pytest.fail(f"gave up after {deadline:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)
