"""User clusters left above the tier after the admin lowered it (pure).

Admission checks each write against the tier of that moment; a policy change does not touch what
is already stored. A cluster created with 4 CPU per worker keeps them when the tier drops to 2, a
namespace with three clusters keeps three when ``userClusters.maximum`` drops to one. The
controller reconciles every namespace after a policy change; ``exceedances`` tells it, from the
same cache the webhook counts with (``Usage`` of ``Counted``, requests and limits included), which
user cluster is above which limit and what to do. The managed cluster is never listed: the
controller re-renders it from the new tier itself.

What keeps running meanwhile: the pods as they are (Kubernetes does not resize them); the webhook
refuses any change of the cluster's spec that still exceeds the tier, and any new cluster or worker
beyond ``userClusters``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..policy import ClusterShape
from .limits import over_limit, tier_bounds
from .usage import Counted, Usage, user_workers

__all__ = ["Exceedance", "exceedances"]


@dataclass(frozen=True, slots=True)
class Exceedance:
    """One user cluster above one limit: ``cluster`` (its name, or ``*`` for the namespace's own
    clusters together), ``limit`` (the policy field), ``message`` (what and what to do)."""

    cluster: str
    limit: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"cluster": self.cluster, "limit": self.limit, "message": self.message}


def _resource_field(role: str, side: str, name: str) -> str:
    part = "scheduler" if role == "scheduler" else "worker"
    return f"{part}.resources.{side}.{name}"


def _resources(shape: ClusterShape, kind: str, obj: Counted) -> list[Exceedance]:
    found = []
    for where, role, side, name, value in obj.asks:
        allowed = tier_bounds(shape, role)[side].get(name)
        if over_limit(value, allowed) is not True:
            continue
        now = f"allows {allowed}" if allowed is not None else "allows none"
        found.append(Exceedance(obj.cluster, _resource_field(role, side, name), (
            f"{kind} {obj.name!r}: {where} is {value}, and tier {shape.tier!r} now {now}. Its pods keep running "
            f"as they are, but a change to its spec is refused until it fits: delete it (dask-kubeflow cluster "
            f"delete {obj.cluster}) and create it again within the tier (dask-kubeflow cluster create "
            f"{obj.cluster})")))
    return found


_SCALED = (("clusters", "DaskCluster", "spec.worker.replicas", "cluster.scale({n})"),
           ("groups", "DaskWorkerGroup", "spec.worker.replicas", "cluster.scale({n})"),
           ("autoscalers", "DaskAutoscaler", "spec.maximum", "cluster.adapt(minimum=0, maximum={n})"))


def _workers(shape: ClusterShape, usage: Usage) -> list[Exceedance]:
    """Per cluster: its worker count or autoscaler maximum above ``scaling.maximum``."""
    maximum, found = shape.settings.scaling.maximum, []
    for field, kind, what, fix in _SCALED:
        for obj in getattr(usage, field):
            if obj.managed or obj.deleting or obj.count <= maximum:
                continue
            found.append(Exceedance(obj.cluster, "scaling.maximum", (
                f"{kind} {obj.name!r}: {what} is {obj.count}, and tier {shape.tier!r} now allows {maximum} workers "
                f"per cluster; bring it to {maximum} or fewer (from a notebook: {fix.format(n=maximum)} on "
                f"KubeCluster.from_name({obj.cluster!r}))")))
    return found


def _totals(shape: ClusterShape, usage: Usage) -> list[Exceedance]:
    """The namespace's own clusters together: how many, and their workers."""
    limits, managed = shape.settings.user_clusters, shape.settings.cluster_name
    workers = user_workers(usage, managed)
    found = []
    if len(workers) > limits.maximum:
        names = ", ".join(sorted(workers))
        extra = len(workers) - limits.maximum
        found.append(Exceedance("*", "userClusters.maximum", (
            f"this namespace runs {len(workers)} clusters of its own ({names}), and tier {shape.tier!r} now allows "
            f"{limits.maximum} besides the shared {managed!r}; delete {extra} of them (dask-kubeflow cluster "
            f"delete NAME). Until then no new cluster is admitted")))
    total = limits.total_workers if limits.total_workers is not None else shape.settings.scaling.maximum
    used = sum(workers.values())
    if used > total:
        field = "userClusters.totalWorkers" if limits.total_workers is not None else "scaling.maximum"
        found.append(Exceedance("*", "userClusters.totalWorkers", (
            f"this namespace's own clusters may run {used} workers together (replicas and autoscaler maxima), and "
            f"tier {shape.tier!r} now allows {total} in total ({field}); scale them down by {used - total} "
            f"(cluster.scale(n) or cluster.adapt(maximum=n)) or delete one. Until then no more workers are "
            f"admitted")))
    return found


def exceedances(shape: ClusterShape, usage: Usage) -> tuple[Exceedance, ...]:
    """Every limit of ``shape`` (the namespace's tier) its user clusters are above, cluster by cluster."""
    found: list[Exceedance] = []
    for kind, objects in (("DaskCluster", usage.clusters), ("DaskWorkerGroup", usage.groups)):
        for obj in objects:
            if not obj.managed and not obj.deleting:
                found += _resources(shape, kind, obj)
    found += _workers(shape, usage)
    found += _totals(shape, usage)
    return tuple(found)
