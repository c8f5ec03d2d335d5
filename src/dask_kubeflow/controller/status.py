"""Per-namespace status, kept in Kubernetes: ConfigMap ``dask-kubeflow-status`` in the namespace.

Users and ``dask-kubeflow status`` read it (users may read ConfigMaps in their own namespace; they
cannot read the controller's logs). It is rewritten only when what it says changes, so an
unchanged resync writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kr8s.asyncio import Api

from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL
from . import apply
from ..kube.resources import ObjectRef
from .settings import COMPONENT_LABEL, STATUS_CONFIGMAP

__all__ = ["STATUS_CONFIGMAP", "status_data", "write_status", "read_namespace_status",
           "read_namespace_status_async", "status_ref"]

_FIELDS = ("phase", "tier", "message", "lastError", "objects", "contributors", "policy")


def status_ref(namespace: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", namespace, STATUS_CONFIGMAP)


def status_data(*, phase: str, tier: str, message: str, last_error: str, objects: list[str],
                contributors: tuple[str, ...], policy: str) -> dict[str, str]:
    return {
        "phase": phase,
        "tier": tier,
        "message": message,
        "lastError": last_error,
        "objects": ",".join(sorted(objects)),
        "contributors": ",".join(contributors),
        "policy": policy,
    }


async def write_status(api: Api, namespace: str, data: dict[str, str], live: dict[str, Any] | None) -> dict[str, Any] | None:
    """Write the status if it says something new; returns the written body, or None if unchanged."""
    old = (live or {}).get("data") or {}
    if live is not None and all(old.get(k, "") == data.get(k, "") for k in _FIELDS):
        return None
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": STATUS_CONFIGMAP,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "status"},
        },
        "data": {**data, "lastTransitionTime": now},
    }
    if live is None:
        try:
            return await apply.create(api, body)
        except apply.AlreadyExists:
            pass
    return await apply.server_side_apply(api, body)


def _from_configmap(namespace: str, body: dict[str, Any] | None) -> dict[str, Any]:
    if body is None:
        return {
            "namespace": namespace, "managed": False, "phase": "NotManaged", "tier": "", "lastError": "",
            "lastTransitionTime": "", "objects": [], "contributors": [], "policy": "",
            "message": (f"no {STATUS_CONFIGMAP} ConfigMap in namespace {namespace}: it has no Kubeflow Profile, "
                        f"or the dask-kubeflow controller is not running (check its Deployment in the "
                        f"dask-kubeflow namespace)"),
        }
    data = body.get("data") or {}
    phase = data.get("phase", "")
    return {
        "namespace": namespace,
        "managed": phase in ("Ready", "Error"),
        "phase": phase,
        "tier": data.get("tier", ""),
        "message": data.get("message", ""),
        "lastError": data.get("lastError", ""),
        "lastTransitionTime": data.get("lastTransitionTime", ""),
        "objects": [o for o in data.get("objects", "").split(",") if o],
        "contributors": [c for c in data.get("contributors", "").split(",") if c],
        "policy": data.get("policy", ""),
    }


async def read_namespace_status_async(namespace: str, api: Api | None = None) -> dict[str, Any]:
    """The controller's status of ``namespace`` (keys: see ``_from_configmap``)."""
    import kr8s.asyncio

    api = api or await kr8s.asyncio.api()
    try:
        body = await apply.get(api, status_ref(namespace))
    except apply.ApiWriteError as err:
        raise RuntimeError(f"cannot read the dask-kubeflow status of namespace {namespace}: {err.detail}") from None
    return _from_configmap(namespace, body)


def read_namespace_status(namespace: str) -> dict[str, Any]:
    """Synchronous :func:`read_namespace_status_async` for the CLI."""
    from kr8s._async_utils import as_sync_func

    return as_sync_func(read_namespace_status_async)(namespace)
