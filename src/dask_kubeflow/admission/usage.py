"""User clusters of a namespace and their workers, against the tier's ``userClusters`` (pure).

A user cluster is any DaskCluster of the namespace other than the managed one. Its workers are the
replicas of its worker groups, the default group counting the highest of its own replicas, the
cluster's ``spec.worker.replicas`` (the operator copies a change of it to the group) and its
autoscaler's maximum (the operator may scale up to there without asking anyone).

The webhook lists the namespace's Dask objects (``Usage``), puts the requested object in place
(``with_request``) and compares before and after: a change that does not add clusters or workers
always passes (scale-downs, the operator scaling within an autoscaler's range, metadata writes).
Two creates racing each other may both pass: admission sees no transaction (kf-resource-quota
stays the hard limit on what runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..kube.names import default_worker_group
from ..policy import ClusterShape
from .objects import dig, replicas_path
from .review import Request

__all__ = ["Usage", "usage_problem", "user_workers", "with_request"]

_FIELDS = {"daskclusters": "clusters", "daskworkergroups": "groups", "daskautoscalers": "autoscalers"}


@dataclass(frozen=True)
class Usage:
    clusters: tuple[Mapping[str, Any], ...] = ()
    groups: tuple[Mapping[str, Any], ...] = ()
    autoscalers: tuple[Mapping[str, Any], ...] = ()


def _name(obj: Mapping[str, Any]) -> str:
    return str(dig(obj, ("metadata", "name")) or "")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _scaled(stored: Mapping[str, Any], replicas: Any) -> dict[str, Any]:
    spec = dict(stored.get("spec") or {})
    spec["worker"] = {**(spec.get("worker") or {}), "replicas": replicas}
    return {**stored, "spec": spec}


def with_request(usage: Usage, request: Request) -> Usage:
    """The namespace as it would be if the request went through."""
    if request.resource == "daskjobs":
        if request.operation != "CREATE" or request.obj is None:
            return usage
        cluster = {"metadata": {"name": f"{request.name} (DaskJob)"}, "spec": dig(request.obj, ("spec", "cluster", "spec"))}
        return replace(usage, clusters=(*usage.clusters, cluster))
    field = _FIELDS.get(request.resource)
    if field is None:
        return usage
    objects = [o for o in getattr(usage, field) if _name(o) != request.name]
    if request.operation != "DELETE":
        new = request.obj
        if request.subresource == "scale":
            stored = next((o for o in getattr(usage, field) if _name(o) == request.name), None)
            new = _scaled(stored, dig(request.obj, ("spec", "replicas"))) if stored is not None else None
        if new is not None:
            objects.append(new)
    return replace(usage, **{field: tuple(objects)})


def user_workers(usage: Usage, managed: str) -> dict[str, int]:
    """Workers of each user cluster (the managed cluster ``managed`` is not counted)."""
    out: dict[str, int] = {}
    for cluster in usage.clusters:
        name = _name(cluster)
        if name == managed or dig(cluster, ("metadata", "deletionTimestamp")):
            continue
        groups = [g for g in usage.groups if dig(g, ("spec", "cluster")) == name]
        maximum = max((_int(dig(a, ("spec", "maximum"))) for a in usage.autoscalers
                       if dig(a, ("spec", "cluster")) == name), default=0)
        if not groups:
            out[name] = max(_int(dig(cluster, replicas_path("daskclusters") or ())), maximum)
            continue
        own = _int(dig(cluster, replicas_path("daskclusters") or ()))  # the operator copies it to the default group
        workers = 0
        for group in groups:
            replicas = _int(dig(group, ("spec", "worker", "replicas")))
            workers += max(replicas, own, maximum) if _name(group) == default_worker_group(name) else replicas
        out[name] = workers
    return out


def usage_problem(request: Request, shape: ClusterShape, usage: Usage) -> str | None:
    """Too many user clusters, or too many workers across them, after this request."""
    limits, managed = shape.settings.user_clusters, shape.settings.cluster_name
    before, after = user_workers(usage, managed), user_workers(with_request(usage, request), managed)
    if len(after) > len(before) and len(after) > limits.maximum:
        names = ", ".join(sorted(before)) or "none"
        return (f"namespace {request.namespace!r} already runs {len(before)} cluster(s) of its own ({names}) and "
                f"tier {shape.tier!r} allows {limits.maximum} (userClusters.maximum) besides the shared "
                f"{managed!r}; delete one first (kubectl delete daskcluster NAME), or use {managed!r}")
    total = limits.total_workers if limits.total_workers is not None else shape.settings.scaling.maximum
    used, wanted = sum(before.values()), sum(after.values())
    if wanted > used and wanted > total:
        left = max(total - used, 0)
        return (f"{request.kind} {request.name!r} would bring the workers of this namespace's own clusters to "
                f"{wanted}, and tier {shape.tier!r} allows {total} in total (userClusters.totalWorkers; "
                f"{used} in use, {left} left); ask for {left} or fewer, or scale another cluster down first")
    return None
