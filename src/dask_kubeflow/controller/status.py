"""Per-namespace status, kept in Kubernetes: ConfigMap ``dask-kubeflow-status`` in the namespace.

Users and ``dask-kubeflow status`` read it (users may read ConfigMaps in their own namespace; they
cannot read the controller's logs). It is rewritten only when what it says changes, so an
unchanged resync writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kr8s.asyncio import Api

from ..kube.api import get_api
from ..kube.errors import KubeError
from ..kube.names import STATUS_CONFIGMAP
from ..kube.namespace_status import from_configmap, status_body, unchanged
from ..kube.resources import ObjectRef
from ..kube.sync import run
from . import apply

__all__ = ["write_status", "read_namespace_status", "read_namespace_status_async", "status_ref"]


def status_ref(namespace: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", namespace, STATUS_CONFIGMAP)


async def write_status(api: Api, namespace: str, data: dict[str, str], live: dict[str, Any] | None) -> dict[str, Any] | None:
    """Write the status if it says something new; returns the written body, or None if unchanged."""
    if unchanged(live, data):
        return None
    body = status_body(namespace, data, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if live is None:
        try:
            return await apply.create(api, body)
        except apply.AlreadyExists:
            pass
    return await apply.server_side_apply(api, body)


async def read_namespace_status_async(namespace: str, api: Api | None = None) -> dict[str, Any]:
    """The controller's status of ``namespace`` (keys: see ``kube.namespace_status.from_configmap``)."""
    api = api or await get_api()
    try:
        body = await apply.get(api, status_ref(namespace))
    except KubeError as err:
        raise RuntimeError(f"cannot read the dask-kubeflow status of namespace {namespace}: {err.detail}") from None
    return from_configmap(namespace, body)


def read_namespace_status(namespace: str, timeout: float = 60.0) -> dict[str, Any]:
    """Synchronous :func:`read_namespace_status_async` for the CLI."""
    return run(read_namespace_status_async(namespace), timeout)
