"""Namespace facts + ClusterShape -> the Kubernetes objects of that namespace's Dask cluster.

Pure and deterministic: the controller applies exactly this list (server-side apply, field manager
``FIELD_MANAGER``), prunes what it no longer contains, and ``dask-kubeflow render`` prints it for
admins who apply with GitOps. Objects come in ``kube.kinds.RENDERED_KINDS`` order: the
NetworkPolicy first, so no Dask pod exists before it is isolated.
"""

from __future__ import annotations

from typing import Any

from ..kube.names import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PODDEFAULT_NAME,
    TIER_LABEL,
    check_namespace_name,
    network_policy_name,
)
from ..policy import ClusterShape, NamespaceFacts
from .daskcluster import render_autoscaler, render_daskcluster
from .networkpolicy import render_networkpolicy
from .platform import Platform, PlatformError, platform_from_env
from .poddefault import notebook_env, render_poddefault
from .yaml_stream import to_yaml

__all__ = [
    "Platform",
    "PlatformError",
    "platform_from_env",
    "render_namespace",
    "notebook_env",
    "to_yaml",
]


def _metadata(name: str, namespace: NamespaceFacts, shape: ClusterShape) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace.name,
        "labels": {MANAGED_BY_LABEL: MANAGED_BY, TIER_LABEL: shape.tier},
    }


def render_namespace(
    namespace: NamespaceFacts, shape: ClusterShape, platform: Platform | None = None
) -> list[dict[str, Any]]:
    """Every object the namespace should have; ``[]`` when its tier is disabled.

    ``platform``: where the gateway, the operator and Prometheus run (the controller passes what its
    environment says); ``None`` means deploy/base's defaults.
    """
    check_namespace_name(namespace.name)
    if not shape.settings.enabled:
        return []
    platform = platform or Platform()
    cluster = shape.settings.cluster_name
    return [
        render_networkpolicy(shape, _metadata(network_policy_name(cluster), namespace, shape), platform),
        render_poddefault(namespace, shape, _metadata(PODDEFAULT_NAME, namespace, shape)),
        render_daskcluster(namespace, shape, _metadata(cluster, namespace, shape), platform),
        render_autoscaler(shape, _metadata(cluster, namespace, shape)),
    ]
