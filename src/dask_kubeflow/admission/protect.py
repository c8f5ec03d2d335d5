"""The namespace's managed cluster belongs to the platform (pure).

Its DaskCluster and DaskAutoscaler (name = the tier's ``clusterName``, label
``app.kubernetes.io/managed-by=dask-kubeflow``) are shaped and deleted only by the controller; its
worker groups (``spec.cluster`` = that name) are created by the upstream operator and scaled by it
within the autoscaler's range. Everyone else is refused with what the tier gives and what to do:
``KubeCluster.scale()``/``adapt()`` delete or rewrite the autoscaler, ``KubeCluster(name=...,
shutdown_on_close=True).close()`` deletes the cluster every notebook of the namespace shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL, default_worker_group
from ..policy import ClusterShape
from .objects import dig
from .review import Request, Trust, Verdict, deny

__all__ = ["is_managed", "protection"]


def _labelled(obj: Mapping[str, Any] | None) -> bool:
    return ((dig(obj, ("metadata", "labels")) or {}).get(MANAGED_BY_LABEL)) == MANAGED_BY


def is_managed(request: Request, shape: ClusterShape) -> bool:
    """Is the request about the managed cluster, its autoscaler or one of its worker groups?"""
    name = shape.settings.cluster_name
    if request.resource == "daskworkergroups":
        if request.subresource == "scale":
            return request.name == default_worker_group(name)
        return any(dig(o, ("spec", "cluster")) == name for o in (request.obj, request.old) if o)
    if request.resource == "daskautoscalers" and any(dig(o, ("spec", "cluster")) == name
                                                     for o in (request.obj, request.old) if o):
        return True  # a second autoscaler of the shared cluster would fight the platform's
    if request.resource not in ("daskclusters", "daskautoscalers") or request.name != name:
        return False
    return request.subresource == "scale" or _labelled(request.obj) or _labelled(request.old)


def _range(shape: ClusterShape) -> str:
    s = shape.settings.scaling
    return f"this cluster autoscales between {s.minimum} and {s.maximum} workers (tier {shape.tier!r})"


def _refusal(request: Request, shape: ClusterShape, doing: str) -> Verdict:
    s = shape.settings
    name, maximum = s.cluster_name, s.scaling.maximum
    fix = (f"use dask_kubeflow.connect(wait_for_workers=n) with n up to {maximum} to wait for workers, "
           f"or just submit work: workers start when it arrives and stop when it is done")
    own = (f"; for a cluster of your own, create one under another name (at most {s.user_clusters.maximum} "
           f"per namespace in this tier)") if s.user_clusters.maximum else ""
    if request.resource == "daskclusters" and request.operation == "DELETE":
        fix = (f"close only your client (KubeCluster.from_name({name!r}) never deletes it); every notebook of "
               f"namespace {request.namespace!r} shares this cluster, and idle it costs no workers")
    return deny(f"{request.kind} {request.name!r} {doing}: it is the namespace's shared cluster, managed by the "
                f"platform; {_range(shape)}. To get workers, {fix}{own}")


def _spec_changed(request: Request) -> bool:
    return dig(request.obj, ("spec",)) != dig(request.old, ("spec",))


def _worker_group(request: Request, shape: ClusterShape, trust: Trust) -> Verdict | None:
    caller = request.caller
    if trust.is_operator(caller) or trust.may_shape_managed(caller):
        return None
    if request.operation == "DELETE" and not trust.may_delete_managed(caller):
        return _refusal(request, shape, "worker group cannot be deleted")
    if request.operation == "CREATE":
        return _refusal(request, shape, "cannot get another worker group")
    if request.operation == "UPDATE" and request.subresource != "scale":
        pods = [dig(o, ("spec", "worker", "spec")) for o in (request.obj, request.old)]
        if pods[0] != pods[1] or dig(request.obj, ("spec", "cluster")) != dig(request.old, ("spec", "cluster")):
            return _refusal(request, shape, "workers cannot be re-shaped")
    return None  # replicas: held to the tier's maximum by the limits, like everyone's


def protection(request: Request, shape: ClusterShape, trust: Trust) -> Verdict | None:
    """A refusal when the request would delete or re-shape the managed cluster; None otherwise."""
    if not is_managed(request, shape):
        return None
    if request.resource == "daskworkergroups":
        return _worker_group(request, shape, trust)
    caller, operation = request.caller, request.operation
    if operation == "DELETE":
        doing = ("cannot be deleted (KubeCluster.scale() deletes it to pin a worker count)"
                 if request.resource == "daskautoscalers" else "cannot be deleted")
        return None if trust.may_delete_managed(caller) else _refusal(request, shape, doing)
    if trust.may_shape_managed(caller):
        return None
    if request.subresource == "scale":
        return _refusal(request, shape, "cannot be scaled by hand")
    if operation == "CREATE":
        return _refusal(request, shape, "is the platform's name for this namespace's cluster")
    if _spec_changed(request) or not _labelled(request.obj):
        return _refusal(request, shape, "cannot be changed")
    return None
