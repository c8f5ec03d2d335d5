"""The PodDefault a notebook selects to find its namespace's Dask cluster.

Kubeflow's notebook UI lists it under "Configurations" by its ``desc``; selecting it labels the
notebook ``access-dask-cluster: "true"`` and the admission webhook adds the env below to the pod.
"""

from __future__ import annotations

import json
from typing import Any

from ..kube.kinds import POD_DEFAULT
from ..kube.names import (
    ENV_CLUSTER,
    ENV_DASHBOARD_LINK,
    ENV_LABEXTENSION_FACTORY_CLASS,
    ENV_LABEXTENSION_FACTORY_MODULE,
    ENV_LABEXTENSION_INITIAL,
    ENV_NAMESPACE,
    ENV_SCHEDULER_ADDRESS,
    ENV_SHUTDOWN_ON_CLOSE,
    ENV_TIER,
    ENV_VERSION_PACKAGES,
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
        **labextension_env(namespace.name, cluster),
        **({ENV_VERSION_PACKAGES: ",".join(shape.settings.versions.packages)} if shape.settings.versions.packages else {}),
    }


def labextension_env(namespace: str, cluster: str) -> dict[str, str]:
    """dask-labextension's cluster factory (``dask_kubeflow.client.labextension``): the JupyterLab Dask
    sidebar attaches to the namespace's cluster when the notebook server starts."""
    return {
        ENV_LABEXTENSION_FACTORY_MODULE: "dask_kubeflow.client.labextension",
        ENV_LABEXTENSION_FACTORY_CLASS: "NamespaceCluster",
        ENV_LABEXTENSION_INITIAL: json.dumps([{"name": f"{cluster} ({namespace})"}]),
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
