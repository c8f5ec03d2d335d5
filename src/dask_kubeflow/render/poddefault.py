"""The PodDefault a notebook selects to find its namespace's Dask cluster.

Kubeflow's notebook UI lists it under "Configurations" by its ``desc``; selecting it labels the
notebook ``access-dask-cluster: "true"`` and the admission webhook adds the env below to the pod.
"""

from __future__ import annotations

from typing import Any

from ..kube.kinds import POD_DEFAULT
from ..kube.names import (
    ENV_CLUSTER,
    ENV_DASHBOARD_LINK,
    ENV_NAMESPACE,
    ENV_SCHEDULER_ADDRESS,
    ENV_SHUTDOWN_ON_CLOSE,
    ENV_TIER,
    PODDEFAULT_SELECTOR_LABEL,
    scheduler_address,
)
from ..policy import ClusterShape, NamespaceFacts
from .pods import env_list


def notebook_env(namespace: NamespaceFacts, shape: ClusterShape) -> dict[str, str]:
    """What a notebook needs to reach its cluster with connect() or KubeCluster.from_name."""
    cluster = shape.settings.cluster_name
    return {
        ENV_NAMESPACE: namespace.name,
        ENV_CLUSTER: cluster,
        ENV_TIER: shape.tier,
        ENV_SCHEDULER_ADDRESS: scheduler_address(namespace.name, cluster),
        ENV_DASHBOARD_LINK: shape.settings.dashboard.url(namespace.name, cluster),
        # The cluster is shared and managed: KubeCluster(name=...) in a notebook must not delete it.
        ENV_SHUTDOWN_ON_CLOSE: "False",
    }


def description(shape: ClusterShape) -> str:
    s = shape.settings
    workers = f"{s.scaling.minimum}-{s.scaling.maximum}" if s.scaling.minimum else f"up to {s.scaling.maximum}"
    gpus = f", {s.worker.gpus} GPU" if s.worker.gpus else ""
    return (
        f"Connect to Dask cluster {s.cluster_name} ({workers} workers of "
        f"{s.worker.processes * s.worker.threads} threads{gpus}; tier {shape.tier})"
    )


def render_poddefault(namespace: NamespaceFacts, shape: ClusterShape, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": POD_DEFAULT.api_version,
        "kind": POD_DEFAULT.kind,
        "metadata": metadata,
        "spec": {
            "desc": description(shape),
            "selector": {"matchLabels": {PODDEFAULT_SELECTOR_LABEL: "true"}},
            "env": env_list(notebook_env(namespace, shape)),
        },
    }
