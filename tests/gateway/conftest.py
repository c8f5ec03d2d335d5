"""Gateway fixtures: a real Dask scheduler + worker (session), and gateways on the API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from dask_kubeflow.gateway import GatewayConfig
from dask_kubeflow.kube.kinds import DASK_GROUP

from .dask_processes import LocalDask, free_port, start_local_dask
from .serving import serve

NAMESPACE = "alice"
CLUSTER = "dask-cluster"
OWNER = "alice@example.com"
CONTRIBUTOR = "bob@example.com"
STRANGER = "mallory@example.com"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "gateway"


@pytest.fixture(scope="session")
def local_dask() -> LocalDask:
    dask = start_local_dask(NAMESPACE, CLUSTER, log_dir=ARTIFACTS / "logs")
    yield dask
    dask.stop()


def daskcluster_manifest(namespace: str, name: str, *, managed: bool = False, replicas: int = 1) -> dict[str, Any]:
    """A DaskCluster as render or a user would write it, scheduler serving under the gateway path."""
    labels = {"app.kubernetes.io/managed-by": "dask-kubeflow"} if managed else {}
    return {
        "apiVersion": f"{DASK_GROUP}/v1",
        "kind": "DaskCluster",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "worker": {
                "replicas": replicas,
                "spec": {"containers": [{"name": "worker", "image": "ghcr.io/dask/dask:2026.8.0-py3.12",
                                         "args": ["dask", "worker", "--name", "$(DASK_WORKER_NAME)"]}]},
            },
            "scheduler": {
                "spec": {"containers": [{
                    "name": "scheduler", "image": "ghcr.io/dask/dask:2026.8.0-py3.12",
                    "args": ["dask", "scheduler", "--host", "0.0.0.0",
                             "--dashboard-prefix", f"/dask/{namespace}/{name}"],
                }]},
                "service": {
                    "type": "ClusterIP",
                    "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
                    "ports": [
                        {"name": "tcp-comm", "protocol": "TCP", "port": 8786, "targetPort": "tcp-comm"},
                        {"name": "http-dashboard", "protocol": "TCP", "port": 8787, "targetPort": "http-dashboard"},
                    ],
                },
            },
        },
    }


async def create_namespace(name: str) -> None:
    from kr8s.asyncio.objects import Namespace

    await (await Namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})).create()


async def create_cluster(namespace: str, name: str, **kw: Any) -> None:
    from dask_kubeflow.kube.resources import DaskCluster

    await (await DaskCluster(daskcluster_manifest(namespace, name, **kw))).create()


async def create_autoscaler(namespace: str, cluster: str, minimum: int, maximum: int) -> None:
    from dask_kubeflow.kube.resources import DaskAutoscaler

    await (await DaskAutoscaler({
        "apiVersion": f"{DASK_GROUP}/v1", "kind": "DaskAutoscaler",
        "metadata": {"name": cluster, "namespace": namespace},
        "spec": {"cluster": cluster, "minimum": minimum, "maximum": maximum},
    })).create()


@pytest.fixture
async def kubeflow_namespace(emulator, local_dask) -> str:
    """Profile namespace ``alice``: owner alice, contributor bob (Kubeflow RoleBindings as SAR rules),
    holding the DaskCluster that the local scheduler plays."""
    await create_namespace(NAMESPACE)
    await create_namespace("mallory")
    emulator.allow(OWNER, namespace=NAMESPACE)  # kubeflow-admin: everything in the namespace
    emulator.allow(CONTRIBUTOR, namespace=NAMESPACE, verb="get", group=DASK_GROUP, resource="daskclusters")
    emulator.allow(CONTRIBUTOR, namespace=NAMESPACE, verb="list", group=DASK_GROUP, resource="daskclusters")
    emulator.allow(STRANGER, namespace="mallory")  # owns another namespace only
    await create_cluster(NAMESPACE, CLUSTER, managed=True)
    return NAMESPACE


class RunningGateway:
    def __init__(self, url: str, app: web.Application) -> None:
        self.url = url
        self.app = app

    async def metric(self, session: aiohttp.ClientSession, name: str, **labels: str) -> float:
        """Current value of one sample on /metrics (0 if not yet exported)."""
        from prometheus_client.parser import text_string_to_metric_families

        async with session.get(f"{self.url}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return 0.0


@pytest.fixture
async def start_gateway(emulator, local_dask) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    """Start gateways in this test's loop; the local scheduler plays ``alice/dask-cluster``; every
    other cluster resolves to a port where nothing listens (a scheduler that is down)."""
    runners: list[web.AppRunner] = []
    nowhere = f"http://127.0.0.1:{free_port()}"

    def resolver(namespace: str, name: str, cluster: dict) -> str:
        if (namespace, name) == (local_dask.namespace, local_dask.cluster):
            return local_dask.dashboard_base
        return nowhere

    async def start(**settings: Any) -> RunningGateway:
        app, port = await serve(GatewayConfig(**settings), str(emulator.kubeconfig), resolver, runners)
        return RunningGateway(f"http://127.0.0.1:{port}", app)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session

