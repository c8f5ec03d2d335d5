"""Run the controller: kopf's operator loop with our registry, cluster-wide, one replica."""

from __future__ import annotations

import asyncio
import logging

import kopf

from . import metrics
from .engine import Controller
from .handlers import build_registry
from .settings import ControllerSettings

__all__ = ["run", "run_async"]

log = logging.getLogger("dask_kubeflow.controller")


async def run_async(settings: ControllerSettings, *, stop_flag: asyncio.Event | None = None) -> None:
    controller = Controller(settings)
    server = None
    if settings.metrics_port:
        server = await metrics.serve(settings.metrics_host, settings.metrics_port, controller.why_not_ready)
        log.info("serving /metrics and /readyz on %s:%d", settings.metrics_host, settings.metrics_port)
    try:
        await kopf.operator(
            registry=build_registry(),
            clusterwide=True,
            standalone=True,  # one replica (the Deployment's strategy is Recreate): no peering CRD needed
            liveness_endpoint=settings.liveness,
            memo=kopf.Memo(controller=controller),
            stop_flag=stop_flag,
        )
    finally:
        if server is not None:
            await server.cleanup()


def run(settings: ControllerSettings) -> None:
    asyncio.run(run_async(settings))
