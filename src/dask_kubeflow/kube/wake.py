"""Asking the controller to wake a hibernated cluster: the annotation-only patch (docs/hibernation.md).

A hibernated managed DaskCluster carries ``HIBERNATED_ANNOTATION``; a wake request is a merge patch
setting ``WAKE_REQUESTED_ANNOTATION`` to the time of asking (metadata only: the spec and generation do
not change, so the admission webhook lets it through). ``connect()`` / ``dask-kubeflow cluster wake``
(client/wake.py) send it with the user's own credentials; the gateway sends it with its ServiceAccount
after a SubjectAccessReview said the signed-in user may ``patch daskclusters`` in the namespace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .errors import API_ERRORS, from_exception
from .kinds import DASK_API, DASK_CLUSTER
from .names import HIBERNATED_ANNOTATION, WAKE_REQUESTED_ANNOTATION

__all__ = ["is_hibernated", "wake_requested", "wake_patch", "request_wake"]


def _annotations(cluster: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return ((cluster or {}).get("metadata") or {}).get("annotations") or {}


def is_hibernated(cluster: Mapping[str, Any] | None) -> bool:
    return HIBERNATED_ANNOTATION in _annotations(cluster)


def wake_requested(cluster: Mapping[str, Any] | None) -> bool:
    return WAKE_REQUESTED_ANNOTATION in _annotations(cluster)


def wake_patch(now: dt.datetime | None = None) -> dict[str, Any]:
    """The merge patch asking for a wake (pure)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"annotations": {WAKE_REQUESTED_ANNOTATION: stamp}}}


async def request_wake(api: Any, name: str, namespace: str) -> None:
    """Patch DaskCluster ``namespace/name`` wake-requested through ``api`` (a kr8s client); raises
    ``KubeError`` saying why not (its ``forbidden()`` names the refused verb and resource)."""
    from .resources import DaskCluster

    obj = DaskCluster({"apiVersion": DASK_API, "kind": "DaskCluster", "metadata": {"name": name, "namespace": namespace}},
                      api=api)
    try:
        await obj.patch(wake_patch())
    except API_ERRORS as err:
        raise from_exception(err, verb="patch", resource=DASK_CLUSTER.resource, namespace=namespace,
                             what=f"asking to wake Dask cluster {namespace}/{name}") from None
