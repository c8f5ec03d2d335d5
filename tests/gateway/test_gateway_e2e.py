"""End to end: the namespace's rendered objects on the harness (API emulator + real upstream operator
+ pod runner with cluster DNS), and the gateway with its production upstream resolution
(``<cluster>-scheduler.<ns>.svc.cluster.local`` + the Service port named ``http-dashboard``)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from dask_kubeflow.gateway import GatewayConfig, make_app
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.kube.names import gateway_prefix
from dask_kubeflow.render import render_namespace
from tests.harness.stack import K8sStack, wait_for

from .bokeh_session import open_session, server_info
from .conftest import OWNER, STRANGER
from .page_parsing import ClustersTable

pytestmark = pytest.mark.timeout(600)
STARTUP = 180  # generous: the machine is small and shared
POLICY = {"defaults": {"scaling": {"minimum": 0, "maximum": 3}}}


def _running(k8s: K8sStack, namespace: str) -> bool:
    found = list(k8s.api().get("daskclusters.kubernetes.dask.org", "dask-cluster", namespace=namespace))
    return bool(found) and found[0].raw.get("status", {}).get("phase") == "Running"


@pytest.fixture(scope="module")
def namespace(k8s: K8sStack) -> str:
    ns = k8s.namespace("gateway")
    facts = NamespaceFacts(ns, {}, OWNER)
    for manifest in render_namespace(facts, resolve(parse_policy(POLICY), facts)):
        k8s.create(manifest, ns)
    k8s.emulator.allow(OWNER, namespace=ns)
    wait_for(lambda: _running(k8s, ns), timeout=STARTUP, what=f"DaskCluster {ns}/dask-cluster Running")
    return ns


async def test_gateway_reaches_a_rendered_cluster_by_its_service_name(k8s: K8sStack, namespace: str) -> None:
    app = make_app(GatewayConfig(), kubeconfig=str(k8s.kubeconfig))  # default resolver: cluster DNS
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    prefix = gateway_prefix(namespace, "dask-cluster")
    owner = {"kubeflow-userid": OWNER}
    try:
        async with aiohttp.ClientSession() as http:
            async def dashboard_up() -> bool:
                async with http.get(f"{url}{prefix}/health", headers=owner) as response:
                    return response.status == 200 and await response.text() == "ok"

            # The scheduler pod may still be starting: the gateway answers 502 until it listens.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STARTUP
            while not await dashboard_up():
                assert loop.time() < deadline, f"the gateway never reached the rendered scheduler in {STARTUP} s"
                await asyncio.sleep(0.5)

            ws = await open_session(http, url, prefix, owner)
            assert "bokeh" in (await server_info(ws))["version_info"]
            await ws.close()

            async with http.get(f"{url}/dask/", params={"ns": namespace}, headers=owner) as response:
                table = ClustersTable(await response.text())
            row = table.rows["dask-cluster"]
            assert row["phase"] == "Running" and row["name"].startswith("dask-cluster platform")
            assert (row["workers-min"], row["workers-max"]) == ("0", "3")
            assert row["workers-now"] == "0" and row["link"] == f"{prefix}/status"

            async with http.get(f"{url}{prefix}/status", headers={"kubeflow-userid": STRANGER}) as response:
                assert response.status == 403
    finally:
        await runner.cleanup()
