"""Prometheus metrics of the controller and the small HTTP server that serves them.

``/metrics`` for Prometheus; ``/readyz`` answers 200 once a valid policy is loaded and the
first pass over every profile namespace has finished (503 with the reason before that).
Liveness is kopf's own probe endpoint (``--liveness``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

from ..kube.kinds import DASK_AUTOSCALER

__all__ = ["REGISTRY", "serve"]

REGISTRY = CollectorRegistry(auto_describe=True)
_P = "dask_kubeflow_controller_"

RECONCILES = Counter(_P + "reconciles_total", "Namespace reconciles by outcome (changed, unchanged, error)",
                     ["outcome"], registry=REGISTRY)
ERRORS = Counter(_P + "reconcile_errors_total", "Failed namespace reconciles by reason", ["reason"],
                 registry=REGISTRY)
DURATION = Histogram(_P + "reconcile_duration_seconds", "Time to reconcile one namespace", registry=REGISTRY,
                     buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
MANAGED_NAMESPACES = Gauge(_P + "managed_namespaces", "Profile namespaces with a managed Dask cluster",
                           registry=REGISTRY)
FAILING_NAMESPACES = Gauge(_P + "failing_namespaces", "Namespaces whose last reconcile failed", registry=REGISTRY)
API_WRITES = Counter(_P + "api_writes_total", "Writes to the Kubernetes API by verb and kind", ["verb", "kind"],
                     registry=REGISTRY)
QUEUE_DEPTH = Gauge(_P + "queue_depth", "Namespaces waiting to be reconciled", registry=REGISTRY)
POLICY_RELOADS = Counter(_P + "policy_reloads_total", "Policy ConfigMap loads by result (accepted, refused)",
                         ["result"], registry=REGISTRY)
POLICY_VALID = Gauge(_P + "policy_valid", "1 when the policy ConfigMap in force is the latest one seen, "
                     "0 when the latest was refused (the last good policy stays)", registry=REGISTRY)
POLICY_ERROR = Gauge(_P + "policy_refused_info", "The problem that made the latest policy be refused",
                     ["problem"], registry=REGISTRY)
CLUSTER_MAX_WORKERS = Gauge(_P + "cluster_max_workers", "Most worker pods the managed cluster's autoscaler may run "
                            "(its DaskAutoscaler's maximum), per namespace and tier", ["namespace", "tier"],
                            registry=REGISTRY)
_max_workers_tier: dict[str, str] = {}  # namespace -> the tier label of its CLUSTER_MAX_WORKERS series


def max_workers_of(desired: list[dict[str, Any]]) -> int | None:
    """The DaskAutoscaler maximum among the objects a reconcile wants (None: no managed cluster)."""
    for obj in desired:
        if obj.get("kind") == DASK_AUTOSCALER.kind:
            return int(obj["spec"]["maximum"])
    return None


def record_cluster_max_workers(namespace: str, tier: str | None, maximum: int | None) -> None:
    """The namespace's max-workers series: set, moved to a new tier label, or removed (``maximum`` None)."""
    old = _max_workers_tier.pop(namespace, None)
    if old is not None and (maximum is None or old != tier):
        CLUSTER_MAX_WORKERS.remove(namespace, old)
    if maximum is not None and tier:
        CLUSTER_MAX_WORKERS.labels(namespace=namespace, tier=tier).set(maximum)
        _max_workers_tier[namespace] = tier


def record_policy_refused(problem: str) -> None:
    POLICY_ERROR.clear()
    POLICY_ERROR.labels(problem=problem[:200]).set(1)
    POLICY_VALID.set(0)
    POLICY_RELOADS.labels(result="refused").inc()


def record_policy_accepted() -> None:
    POLICY_ERROR.clear()
    POLICY_VALID.set(1)
    POLICY_RELOADS.labels(result="accepted").inc()


async def serve(host: str, port: int, readiness: Callable[[], str | None]) -> web.AppRunner:
    """Start the metrics/readiness server; ``readiness()`` returns None when ready, else why not."""

    async def metrics_handler(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def ready_handler(_: web.Request) -> web.Response:
        reason = readiness()
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/readyz", ready_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
