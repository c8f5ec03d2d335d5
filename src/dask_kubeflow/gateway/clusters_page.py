"""The "Dask clusters" page: one row per DaskCluster in a namespace (pure; data in, HTML out).

The phase is read from the cluster's pods and events (``client.diagnose``'s readers), not the
operator's ``status.phase``; the create form offers what the tier gives the namespace's shared
cluster (its autoscaler's maximum, its workers' limits); refusals by the tier are the admission
webhook's Events (reason ``TIER_REFUSED_REASON``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dask.utils import format_bytes

from ..quantity import parse_quantity

from ..client.diagnose import explain_pods, pod_is_ready, scheduler_owners
from ..client.refusals import refusals
from ..kube.names import (MANAGED_BY, MANAGED_BY_LABEL, OPERATOR_CLUSTER_LABEL, OPERATOR_COMPONENT_LABEL,
                          DASHBOARD_ROOT, gateway_prefix)
from ..render.user_cluster import is_user_cluster, owner_of
from ..kube.namespace_status import from_configmap
from .pages import render
from .upstream import served_behind_gateway
from .waking import AWAKE, HIBERNATED, WAKING, lifecycle_of


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
    owner: str | None = None
    user_cluster: bool = False
    refusal: str | None = None
    lifecycle: str = AWAKE
    above_tier: tuple[str, ...] = ()  # the controller's record: this cluster is above a lowered tier

    @property
    def snippet(self) -> str:
        """The two lines to paste into a notebook."""
        return f'import dask_kubeflow\nclient = dask_kubeflow.connect(cluster_name="{self.name}")'

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "managed": self.managed, "phase": self.phase, "owner": self.owner,
                "userCluster": self.user_cluster, "workersNow": self.workers_now, "workersMin": self.workers_min,
                "workersMax": self.workers_max, "cores": self.cores, "memory": self.memory,
                "tasksInFlight": self.tasks_in_flight, "dashboardUrl": self.dashboard_url, "note": self.note,
                "refusal": self.refusal, "snippet": self.snippet, "lifecycle": self.lifecycle,
                "aboveTier": list(self.above_tier)}


def _label(obj: Mapping[str, Any], key: str) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(key)


def observed_phase(namespace: str, cluster: Mapping[str, Any], pods: Sequence[Mapping[str, Any]] | None,
                   events: Sequence[Mapping[str, Any]] | None) -> str:
    """Running / Starting / Not running, read from the scheduler and worker pods and their events;
    the operator's phase (or Unknown) when the pods could not be read."""
    operator = (cluster.get("status") or {}).get("phase") or "Unknown"
    if pods is None:
        return operator
    name = cluster["metadata"]["name"]
    mine = [p for p in pods if _label(p, OPERATOR_CLUSTER_LABEL) == name]
    schedulers = [p for p in mine if _label(p, OPERATOR_COMPONENT_LABEL) == "scheduler"]
    if any(pod_is_ready(p) for p in schedulers):
        ready = sum(pod_is_ready(p) for p in mine if _label(p, OPERATOR_COMPONENT_LABEL) == "worker")
        return f"Running ({ready} worker{'s' if ready != 1 else ''} ready)"
    found = explain_pods(schedulers, events or [], namespace, owners=scheduler_owners(name), cluster=dict(cluster))
    if found is None or "yet" in found.reason:
        return "Starting" + (f": {found.reason}" if found else "")
    return f"Not running: {found.reason}"


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
    pods: Sequence[Mapping[str, Any]] | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
    lifecycle: str = AWAKE,
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
    elif lifecycle == HIBERNATED:
        notes.append("Hibernated (idle): its scheduler was stopped. Opening the dashboard, Wake, a notebook "
                     "starting or a Dask client connecting starts it again.")
    elif stats is None:
        notes.append("The scheduler is not answering (starting, stopped or unreachable).")
    return ClusterRow(
        name=name,
        managed=labels.get(MANAGED_BY_LABEL) == MANAGED_BY,
        phase=_phase(lifecycle, observed_phase(namespace, cluster, pods, events)),
        workers_now=stats.workers if stats else None,
        workers_min=low,
        workers_max=high,
        cores=stats.cores if stats else None,
        memory=format_bytes(stats.memory_bytes) if stats and stats.memory_bytes is not None else None,
        tasks_in_flight=stats.tasks_in_flight if stats else None,
        dashboard_url=url,
        note=" ".join(notes),
        owner=owner_of(cluster),
        user_cluster=is_user_cluster(cluster),
        refusal=next((r["message"] for r in refusals(events or [], limit=1000) if r["object"] == name), None),
        lifecycle=lifecycle,
    )


def _phase(lifecycle: str, observed: str) -> str:
    if lifecycle == HIBERNATED:
        return "Hibernated"
    if lifecycle == WAKING and not observed.startswith("Running"):
        return "Waking: " + (observed.partition(": ")[2] or "the scheduler pod is starting")
    return observed


def cluster_rows(
    namespace: str,
    clusters: Sequence[Mapping[str, Any]],
    autoscalers: Sequence[Mapping[str, Any]],
    stats: Mapping[str, SchedulerStats | None],
    pods: Sequence[Mapping[str, Any]] | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
    status: Mapping[str, str] | None = None,
) -> list[ClusterRow]:
    """Managed clusters first, then the rest, each group by name (``status``: the controller's
    status record, which says whether the managed cluster is waking)."""
    above = above_tier(namespace, status)
    rows = [
        replace(cluster_row(namespace, c, autoscalers, stats.get(c["metadata"]["name"]), pods, events,
                            lifecycle_of(c, status)),
                above_tier=tuple(e["message"] for e in above if e["cluster"] == c["metadata"]["name"]))
        for c in clusters
    ]
    return sorted(rows, key=lambda row: (not row.managed, row.name))


def above_tier(namespace: str, status: Mapping[str, str] | None) -> list[dict[str, str]]:
    """What the controller's status record lists above the tier (after an admin lowered it): per cluster,
    or ``cluster: "*"`` for the namespace's clusters together (too many, too many workers in all)."""
    return from_configmap(namespace, {"data": dict(status)})["exceeded"] if status else []


def _fractions(limit: str | None, unit: str) -> list[str]:
    """The limit, half and a quarter of it, as quantities (the form's choices)."""
    if not limit:
        return []
    value = parse_quantity(limit)
    if unit == "cpu":
        out = [f"{int(value * 1000 / d)}m" for d in (4, 2) if value * 1000 / d >= 100]
    else:
        out = [f"{int(value / d / 2**20)}Mi" for d in (4, 2) if value / d >= 256 * 2**20]
    return [*out, str(limit)]


def tier_choices(clusters: Sequence[Mapping[str, Any]], autoscalers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the create form offers: the tier's shape as the namespace's shared cluster has it."""
    managed = next((c for c in clusters if _label(c, MANAGED_BY_LABEL) == MANAGED_BY), None)
    if managed is None:
        return {"maxWorkers": None, "workerCpu": [], "workerMemory": []}
    autoscaler = _autoscaler_for(managed["metadata"]["name"], autoscalers)
    containers = (((managed.get("spec") or {}).get("worker") or {}).get("spec") or {}).get("containers") or [{}]
    limits = (containers[0].get("resources") or {}).get("limits") or {}
    return {"maxWorkers": (autoscaler or {}).get("spec", {}).get("maximum"),
            "workerCpu": _fractions(limits.get("cpu"), "cpu"),
            "workerMemory": _fractions(limits.get("memory"), "memory")}


def usage_lines(totals: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The namespace's "used this month" line and its budget line, from ``kube.usage_record.namespace_totals``."""
    if totals is None:
        return [{"class": "", "text": "Used this month: not recorded yet (the dask-kubeflow controller writes it "
                                      "once this namespace's Dask pods have run)."}]
    lines = [{"class": "", "text": (f"Used this month ({totals['period']}): {totals['coreHours']:.2f} core-hours, "
                                    f"{totals['memoryGiBHours']:.2f} GiB-hours of memory (requests × time running, "
                                    "schedulers and workers).")}]
    if totals.get("budgetCoreHours") and totals.get("message"):
        text = totals["message"]
        state = totals.get("budget", "")
        if state not in ("warning", "exceeded"):  # the announced state; the message is always current
            state = "exceeded" if text.startswith("budget spent") else "warning" if text.startswith("budget nearly") else ""
        lines.append({"class": {"warning": "warn", "exceeded": "spent"}.get(state, ""),
                      "text": ("Budget: " + text) if not text.startswith("budget") else text[0].upper() + text[1:]})
    return lines


def page_state(namespace: str, rows: Sequence[ClusterRow], choices: Mapping[str, Any],
               events: Sequence[Mapping[str, Any]], *, may_create: bool, may_delete: bool,
               may_wake: bool = False, usage: Mapping[str, Any] | None = None,
               status: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON the page polls."""
    together = [e["message"] for e in above_tier(namespace, status) if e["cluster"] == "*"]
    return {"namespace": namespace, "clusters": [r.as_json() for r in rows], "choices": dict(choices),
            "refusals": refusals(events), "mayCreate": may_create, "mayDelete": may_delete, "mayWake": may_wake,
            "usage": dict(usage) if usage is not None else None, "usageLines": usage_lines(usage),
            "aboveTier": together}


def render_clusters_page(namespace: str, user: str, rows: Sequence[ClusterRow],
                         usage: Mapping[str, Any] | None = None) -> str:
    api = f"{DASHBOARD_ROOT}/_api/namespaces/{namespace}/clusters"
    return render("clusters.html", namespace=namespace, user=user, rows=rows, api=api, usage=usage_lines(usage))


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
