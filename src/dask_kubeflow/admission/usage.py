"""User clusters of a namespace and their workers, against the tier's ``userClusters`` (pure).

A user cluster is any DaskCluster of the namespace other than the managed one. Its workers are the
replicas of its worker groups, the default group counting the highest of its own replicas, the
cluster's ``spec.worker.replicas`` (the operator copies a change of it to the group) and its
autoscaler's maximum (the operator may scale up to there without asking anyone).

The webhook reads the namespace's Dask objects (``Usage`` of ``Counted``: the controller's
list-and-watch cache keeps only those, controller/watched.py ``COUNTED_SOURCES``), puts the
requested object in place (``with_request``) and compares before and after: a change that does
not add clusters or workers always passes (scale-downs, the operator scaling within an autoscaler's
range, metadata writes).
Two creates racing each other may both pass: admission sees no transaction, and a count read from
the cache is also behind by the watch's lag (a create admitted a few milliseconds ago may not be
counted yet); kf-resource-quota stays the hard limit on what runs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL, default_worker_group
from ..policy import ClusterShape
from .limits import Ask, pod_asks
from .objects import dig, pod_specs, replicas_path
from .review import Request

__all__ = ["Counted", "Usage", "counted", "usage_problem", "user_workers", "with_request"]

_FIELDS = {"daskclusters": "clusters", "daskworkergroups": "groups", "daskautoscalers": "autoscalers"}


@dataclass(frozen=True, slots=True)
class Counted:
    """The little the count reads of one DaskCluster, DaskWorkerGroup or DaskAutoscaler (the
    controller's cache keeps one of these per object of every profile namespace, not the object):
    ``count`` is a cluster's or group's ``spec.worker.replicas``, an autoscaler's ``spec.maximum``;
    ``cluster`` the cluster a group or autoscaler belongs to (a cluster: its own name)."""

    namespace: str
    name: str
    cluster: str
    count: int
    deleting: bool = False
    managed: bool = False  # labelled as ours (the platform's shared cluster and its objects)
    asks: tuple[Ask, ...] = ()  # a user object's requests and limits (``admission.exceeded``); ours: none


def _name(obj: Mapping[str, Any]) -> str:
    return str(dig(obj, ("metadata", "name")) or "")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def counted(resource: str, obj: Mapping[str, Any]) -> Counted:
    """``obj`` (a DaskCluster, DaskWorkerGroup or DaskAutoscaler) as the count sees it."""
    name = sys.intern(_name(obj))  # interned: thousands of namespaces repeat the same few names
    cluster = name if resource == "daskclusters" else sys.intern(str(dig(obj, ("spec", "cluster")) or ""))
    labels = dig(obj, ("metadata", "labels")) or {}
    namespace = sys.intern(str(dig(obj, ("metadata", "namespace")) or ""))
    managed = labels.get(MANAGED_BY_LABEL) == MANAGED_BY
    # Ours are rendered from the tier and re-rendered when it changes: only users' are kept.
    asks = () if managed else tuple(tuple(sys.intern(v) for v in ask)  # type: ignore[misc]
                                    for at in pod_specs(resource, obj) for ask in pod_asks(obj, at))
    return Counted(namespace=namespace, name=name, cluster=cluster,
                   count=_int(dig(obj, replicas_path(resource) or ())),
                   deleting=bool(dig(obj, ("metadata", "deletionTimestamp"))),
                   managed=managed, asks=asks)


def _as_counted(resource: str, items: tuple[Any, ...]) -> tuple[Counted, ...]:
    return tuple(o if isinstance(o, Counted) else counted(resource, o) for o in items)


@dataclass(frozen=True)
class Usage:
    """A namespace's Dask objects as counted (given as ``Counted`` or as the objects themselves)."""

    clusters: tuple[Counted, ...] = ()
    groups: tuple[Counted, ...] = ()
    autoscalers: tuple[Counted, ...] = ()

    def __post_init__(self) -> None:
        for resource, field in _FIELDS.items():
            object.__setattr__(self, field, _as_counted(resource, tuple(getattr(self, field))))


def with_request(usage: Usage, request: Request) -> Usage:
    """The namespace as it would be if the request went through."""
    if request.resource == "daskjobs":
        if request.operation != "CREATE" or request.obj is None:
            return usage
        spec = dig(request.obj, ("spec", "cluster", "spec"))
        cluster = Counted(request.namespace, f"{request.name} (DaskJob)", f"{request.name} (DaskJob)",
                          _int(dig(spec, ("worker", "replicas"))))
        return replace(usage, clusters=(*usage.clusters, cluster))
    field = _FIELDS.get(request.resource)
    if field is None:
        return usage
    objects = [o for o in getattr(usage, field) if o.name != request.name]
    if request.operation != "DELETE":
        new: Counted | None = None
        if request.subresource == "scale":
            stored = next((o for o in getattr(usage, field) if o.name == request.name), None)
            if stored is not None:
                new = replace(stored, count=_int(dig(request.obj, ("spec", "replicas"))))
        elif request.obj is not None:
            new = counted(request.resource, {**request.obj, "metadata": {
                **(request.obj.get("metadata") or {}), "name": request.name}})
        if new is not None:
            objects.append(new)
    return replace(usage, **{field: tuple(objects)})


def user_workers(usage: Usage, managed: str) -> dict[str, int]:
    """Workers of each user cluster (the managed cluster ``managed`` is not counted)."""
    out: dict[str, int] = {}
    for cluster in usage.clusters:
        name = cluster.name
        if name == managed or cluster.deleting:
            continue
        groups = [g for g in usage.groups if g.cluster == name]
        maximum = max((a.count for a in usage.autoscalers if a.cluster == name), default=0)
        own = cluster.count  # the operator copies it to the default group
        if not groups:
            out[name] = max(own, maximum)
            continue
        workers = 0
        for group in groups:
            workers += max(group.count, own, maximum) if group.name == default_worker_group(name) else group.count
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
