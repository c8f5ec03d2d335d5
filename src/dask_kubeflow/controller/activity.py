"""The informer sources of hibernation and usage accounting, and the little kept of each object.

- Dask pods (label ``dask.org/cluster-name``): uid, phase, start/finish, requests, cluster, component
  (:class:`PodFacts`) — workers present, the scheduler's readiness, usage intervals;
- notebook pods (label ``notebook-name``) and Kubeflow Notebooks not stopped: a notebook starting wakes
  the cluster and a running one keeps it awake;
- DaskJobs not finished: the same;
- usage ConfigMaps (``dask-kubeflow-usage``): what was accounted so far, so a restart resumes there.

Changes to these never trigger a full reconcile of the namespace (pods change all the time): the
engine hands them to the lifecycle and usage loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..kube.names import (
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NOTEBOOK_NAME_LABEL,
    NOTEBOOK_STOPPED_ANNOTATION,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_COMPONENT_LABEL,
)
from ..kube.resources import ConfigMap, DaskJob, Notebook, Pod
from ..quantity import QuantityError, to_bytes, to_cores
from .clock import parse_rfc3339
from .informer import Source

__all__ = ["PodFacts", "pod_facts", "DASK_PODS", "NOTEBOOK_PODS", "NOTEBOOKS", "DASK_JOBS", "USAGE_RECORDS",
           "ACTIVITY_SOURCES"]

_FINISHED = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What hibernation and accounting need of one Dask pod."""

    uid: str
    cluster: str
    component: str  # scheduler | worker | other
    phase: str
    ready: bool
    started: float | None  # when its containers started running (seconds since the epoch)
    finished: float | None  # when they stopped (Succeeded/Failed pods)
    cpu: float  # cores requested (sum over containers)
    memory: float  # bytes requested
    ended: float | None = None  # every container terminated: the last finishedAt (any phase)
    deleting: float | None = None  # metadata.deletionTimestamp (graceful deletion: the kill deadline)


def _sum(containers: list[dict[str, Any]], resource: str, parse: Any) -> float:
    total = 0.0
    for container in containers:
        value = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        if value is not None:
            try:
                total += parse(value)
            except QuantityError:
                pass
    return total


def _times(status: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """When the containers started, finished (a finished phase) and ended (all terminated, any phase)."""
    started: list[float] = []
    finished: list[float] = []
    statuses = list(status.get("containerStatuses") or ())
    for cs in statuses:
        state = cs.get("state") or {}
        for key, out, field in (("running", started, "startedAt"), ("terminated", started, "startedAt"),
                                ("terminated", finished, "finishedAt")):
            if (value := parse_rfc3339((state.get(key) or {}).get(field))) is not None:
                out.append(value)
    start = min(started) if started else None
    if start is None and status.get("phase") == "Running":
        start = parse_rfc3339(status.get("startTime"))
    ended = max(finished) if statuses and len(finished) == len(statuses) else None
    return start, (max(finished) if finished and status.get("phase") in _FINISHED else None), ended


def pod_facts(obj: dict[str, Any]) -> PodFacts:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    labels = meta.get("labels") or {}
    containers = list(spec.get("containers") or ())
    started, finished, ended = _times(status)
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
    return PodFacts(uid=str(meta.get("uid") or ""), cluster=labels.get(OPERATOR_CLUSTER_LABEL, ""),
                    component=labels.get(OPERATOR_COMPONENT_LABEL, "other"), phase=str(status.get("phase") or "Pending"),
                    ready=ready, started=started, finished=finished, cpu=_sum(containers, "cpu", to_cores),
                    memory=_sum(containers, "memory", to_bytes), ended=ended,
                    deleting=parse_rfc3339(meta.get("deletionTimestamp")))


def _notebook_pod(obj: dict[str, Any]) -> bool | None:
    return None if (obj.get("status") or {}).get("phase") in _FINISHED else True


def _notebook(obj: dict[str, Any]) -> bool | None:
    return None if NOTEBOOK_STOPPED_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {}) else True


def _job(obj: dict[str, Any]) -> bool | None:
    return None if (obj.get("status") or {}).get("jobStatus") in ("Successful", "Failed") else True


def _usage_record(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj.get("data") or {})


DASK_PODS = Source(Pod, label_selector=OPERATOR_CLUSTER_LABEL, extract=pod_facts)
NOTEBOOK_PODS = Source(Pod, label_selector=NOTEBOOK_NAME_LABEL, extract=_notebook_pod)
NOTEBOOKS = Source(Notebook, extract=_notebook)
DASK_JOBS = Source(DaskJob, extract=_job)
USAGE_RECORDS = Source(ConfigMap, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}=usage",
                       extract=_usage_record)
ACTIVITY_SOURCES = [DASK_PODS, NOTEBOOK_PODS, NOTEBOOKS, DASK_JOBS, USAGE_RECORDS]
