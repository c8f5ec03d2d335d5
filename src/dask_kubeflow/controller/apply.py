"""Writes to the Kubernetes API through kr8s: create, server-side apply, delete, and reading one.

New objects are created with POST (``kube.api.create``: plain JSON, not kr8s's ``APIObject.create``,
whose ``python-box`` wrapping cost a quarter of the first pass's CPU): a create fails with 409 when
an object of that name already exists, so a user's own object is never taken over. Updates are
server-side applies under our one field manager (``kube.api.server_side_apply``: kr8s has no
method for it).
Every failure is a ``KubeError`` (``AlreadyExists`` for a create refused with 409).
"""

from __future__ import annotations

from typing import Any

from kr8s.asyncio import Api
from kr8s.asyncio.objects import APIObject

from ..kube import api as kube_api
from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.resources import (
    CONFIG_MAP, DASK_AUTOSCALER, DASK_CLUSTER, NETWORK_POLICY, POD_DEFAULT, ConfigMap, DaskAutoscaler,
    DaskCluster, Kind, NetworkPolicy, ObjectRef, PodDefault, kind_of, ref_of,
)
from . import metrics

__all__ = ["AlreadyExists", "MANAGED_CLASSES", "create", "server_side_apply", "delete", "get"]

# The kr8s class of each kind the controller writes (and the informer follows).
MANAGED_CLASSES: dict[Kind, type[APIObject]] = {
    NETWORK_POLICY: NetworkPolicy, POD_DEFAULT: PodDefault, DASK_CLUSTER: DaskCluster,
    DASK_AUTOSCALER: DaskAutoscaler, CONFIG_MAP: ConfigMap,
}


class AlreadyExists(KubeError):
    """A create refused because an object of that name exists (ours or not)."""


def _object(api: Api, ref: ObjectRef, body: dict[str, Any] | None = None) -> APIObject:
    cls = MANAGED_CLASSES[kind_of(ref)]  # kind_of refuses a kind we do not manage, naming the fix
    return cls(body or {"metadata": {"name": ref.name, "namespace": ref.namespace}}, api=api)


def _error(verb: str, ref: ObjectRef, err: BaseException) -> KubeError:
    found = from_exception(err, verb=verb, resource=kind_of(ref).resource, namespace=ref.namespace,
                           what=f"{verb} {ref} in namespace {ref.namespace}")
    if verb == "create" and found.status == 409:
        return AlreadyExists(str(found), status=409, verb=verb, resource=found.resource,
                             namespace=ref.namespace, detail=found.detail)
    return found


async def create(api: Api, obj: dict[str, Any]) -> dict[str, Any]:
    """Create ``obj``; raises AlreadyExists when any object of that name exists (ours or not)."""
    ref = ref_of(obj)
    try:
        body = await kube_api.create(api, obj, kind_of(ref))
    except KubeError as err:
        if err.status == 409:
            raise AlreadyExists(str(err), status=409, verb="create", resource=err.resource,
                                namespace=ref.namespace, detail=err.detail) from err
        raise
    metrics.API_WRITES.labels(verb="create", kind=ref.kind).inc()
    return body


async def server_side_apply(api: Api, obj: dict[str, Any]) -> dict[str, Any]:
    """Apply ``obj`` under our field manager, taking over fields another manager last set."""
    ref = ref_of(obj)
    body = await kube_api.server_side_apply(api, obj)
    metrics.API_WRITES.labels(verb="apply", kind=ref.kind).inc()
    return body


async def delete(api: Api, ref: ObjectRef) -> None:
    """Delete ``ref`` (dependents in the background); an object already gone counts as deleted."""
    try:
        await _object(api, ref).delete(propagation_policy="Background")
    except API_ERRORS as err:
        error = _error("delete", ref, err)
        if error.not_found:
            return
        raise error from err
    metrics.API_WRITES.labels(verb="delete", kind=ref.kind).inc()


async def get(api: Api, ref: ObjectRef) -> dict[str, Any] | None:
    """Read one object; None when it does not exist."""
    obj = _object(api, ref)
    try:
        await obj.refresh()
    except API_ERRORS as err:
        error = _error("read", ref, err)
        if error.not_found:
            return None
        raise error from err
    return obj.raw
