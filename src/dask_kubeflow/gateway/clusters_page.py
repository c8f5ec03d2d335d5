"""The "Dask clusters" page: one row per DaskCluster in a namespace (pure; data in, HTML out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dask.utils import format_bytes

from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL, gateway_prefix
from .pages import render
from .upstream import served_behind_gateway


@dataclass(frozen=True)
class SchedulerStats:
    """What the scheduler's JSON endpoints say about the cluster right now."""

    workers: int
    cores: int
    memory_bytes: int | None
    tasks_in_flight: int


@dataclass(frozen=True)
class ClusterRow:
    name: str
    managed: bool
    phase: str
    workers_now: int | None
    workers_min: int | None
    workers_max: int | None
    cores: int | None
    memory: str | None
    tasks_in_flight: int | None
    dashboard_url: str | None
    note: str = ""


def _autoscaler_for(name: str, autoscalers: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for autoscaler in autoscalers:
        if autoscaler.get("spec", {}).get("cluster") == name:
            return autoscaler
    return None


def cluster_row(
    namespace: str,
    cluster: Mapping[str, Any],
    autoscalers: Sequence[Mapping[str, Any]],
    stats: SchedulerStats | None,
) -> ClusterRow:
    name = cluster["metadata"]["name"]
    labels = cluster["metadata"].get("labels") or {}
    autoscaler = _autoscaler_for(name, autoscalers)
    if autoscaler is not None:
        low = autoscaler["spec"].get("minimum")
        high = autoscaler["spec"].get("maximum")
    else:  # no autoscaler: the worker group is held at spec.worker.replicas
        low = high = cluster.get("spec", {}).get("worker", {}).get("replicas")
    expected = gateway_prefix(namespace, name)
    notes = []
    url: str | None = f"{expected}/status"
    if not served_behind_gateway(namespace, name, dict(cluster)):
        url = None
        notes.append(
            f"Dashboard not served behind the gateway: its scheduler does not serve it under "
            f"{expected}, so it cannot be opened (or counted) here; start the scheduler with "
            f"--dashboard-prefix {expected}."
        )
    elif stats is None:
        notes.append("The scheduler is not answering (starting, stopped or unreachable).")
    return ClusterRow(
        name=name,
        managed=labels.get(MANAGED_BY_LABEL) == MANAGED_BY,
        phase=(cluster.get("status") or {}).get("phase") or "Unknown",
        workers_now=stats.workers if stats else None,
        workers_min=low,
        workers_max=high,
        cores=stats.cores if stats else None,
        memory=format_bytes(stats.memory_bytes) if stats and stats.memory_bytes is not None else None,
        tasks_in_flight=stats.tasks_in_flight if stats else None,
        dashboard_url=url,
        note=" ".join(notes),
    )


def cluster_rows(
    namespace: str,
    clusters: Sequence[Mapping[str, Any]],
    autoscalers: Sequence[Mapping[str, Any]],
    stats: Mapping[str, SchedulerStats | None],
) -> list[ClusterRow]:
    """Managed clusters first, then the rest, each group by name."""
    rows = [
        cluster_row(namespace, c, autoscalers, stats.get(c["metadata"]["name"])) for c in clusters
    ]
    return sorted(rows, key=lambda row: (not row.managed, row.name))


def render_clusters_page(namespace: str, user: str, rows: Sequence[ClusterRow]) -> str:
    return render("clusters.html", namespace=namespace, user=user, rows=rows)


def render_pick_namespace(user: str) -> str:
    return render(
        "message.html",
        title="Dask clusters",
        heading="Choose a namespace",
        user=user,
        lines=[
            "This page lists the Dask clusters of one namespace.",
            "Pick your namespace in the Kubeflow central dashboard's namespace selector, "
            "or add ?ns=<namespace> to this page's address.",
        ],
    )
