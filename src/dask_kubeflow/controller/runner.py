"""Run the controller: kopf's operator loop with our registry, cluster-wide, one replica."""

from __future__ import annotations

import asyncio
import logging
import sys

import kopf

from . import metrics
from .engine import Controller
from .handlers import build_registry
from .settings import ControllerSettings

__all__ = ["run", "run_async"]

log = logging.getLogger("dask_kubeflow.controller")


def _negative_import_cache() -> None:
    """httpcore asks ``import sniffio`` on every request (``current_async_library``); with sniffio not
    installed (anyio 4.16 no longer needs it) each ask is a full, failing search of sys.path: ~4% of
    the controller's CPU on a first pass (py-spy). A None in sys.modules makes it fail at once, and
    httpcore falls back to asyncio, which is what the controller runs on."""
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules.setdefault("sniffio", None)  # type: ignore[assignment]


async def run_async(settings: ControllerSettings, *, stop_flag: asyncio.Event | None = None) -> None:
    _negative_import_cache()
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
