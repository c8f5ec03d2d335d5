"""The gateway benchmarks' common setup: the real gateway in its own process, on the API emulator.

Its own process so that its memory is measured alone; spawned so that it imports nothing the
benchmark process already loaded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from tests.gateway.dask_processes import free_port


def run_gateway(port: int, kubeconfig: str, upstream: str, access_log: bool) -> None:
    """The gateway process: the real app with the server options `dask-kubeflow gateway` uses."""
    import logging

    from aiohttp import web

    from dask_kubeflow.gateway import GatewayConfig, make_app

    try:
        from dask_kubeflow.gateway.server import handler_options
    except ImportError:  # the build before issue 11, for before/after figures
        def handler_options(config: Any) -> dict[str, Any]:
            return {}

    logging.basicConfig(level=logging.WARNING)
    config = GatewayConfig(host="127.0.0.1", port=port)
    app = make_app(config, kubeconfig=kubeconfig, resolver=lambda namespace, name, cluster: upstream)
    logs: dict[str, Any] = {"access_log": None}
    if access_log:
        # Access lines are formatted as in production, then dropped (logger level WARNING).
        from dask_kubeflow.gateway.access_log import ACCESS_LOGGER, JsonAccessLogger

        logs = {"access_log": logging.getLogger(ACCESS_LOGGER), "access_log_class": JsonAccessLogger}
    web.run_app(app, host="127.0.0.1", port=port, print=None, **logs, **handler_options(config))


@dataclass(frozen=True)
class RunningGateway:
    url: str
    process: psutil.Process
    emulator: Any


async def _prepare(emulator: Any, namespace: str, cluster: str, users: Iterable[str]) -> None:
    from kr8s.asyncio.objects import Namespace

    from dask_kubeflow.kube.resources import DaskCluster
    from tests.gateway.conftest import daskcluster_manifest

    await (await Namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})).create()
    await (await DaskCluster(daskcluster_manifest(namespace, cluster, managed=True))).create()
    for user in users:
        emulator.allow(user, namespace=namespace)


async def _wait_healthy(url: str, process: multiprocessing.Process, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            if not process.is_alive():
                raise RuntimeError(f"the gateway process exited with {process.exitcode}")
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the gateway did not answer /healthz within {deadline:.0f} s")


@asynccontextmanager
async def gateway_on_emulator(upstream: str, namespace: str, cluster: str, users: Iterable[str], *,
                              access_log: bool = False) -> AsyncIterator[RunningGateway]:
    """An emulator with ``namespace``'s managed ``cluster`` that ``users`` may see, and a gateway in front of ``upstream``."""
    from tests.harness.emulator import Emulator

    gateway_process = None
    try:
        with Emulator() as emulator:
            os.environ["KUBECONFIG"] = str(emulator.kubeconfig)
            await _prepare(emulator, namespace, cluster, users)
            port = free_port()
            gateway_process = multiprocessing.get_context("spawn").Process(
                target=run_gateway, args=(port, str(emulator.kubeconfig), upstream, access_log), daemon=True
            )
            gateway_process.start()
            url = f"http://127.0.0.1:{port}"
            await _wait_healthy(url, gateway_process)
            yield RunningGateway(url, psutil.Process(gateway_process.pid), emulator)
    finally:
        if gateway_process is not None and gateway_process.is_alive():
            gateway_process.terminate()
            gateway_process.join(10)
