"""Names shared by render, the controller, the gateway and connect(): labels, env vars, ports.

They are the contract between the parts: the controller prunes by the labels, the gateway routes
by the ports and prefix, connect() reads the environment the PodDefault sets.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MANAGED_BY_LABEL",
    "MANAGED_BY",
    "TIER_LABEL",
    "FIELD_MANAGER",
    "DASHBOARD_PREFIX_ANNOTATION",
    "OPERATOR_CLUSTER_LABEL",
    "OPERATOR_COMPONENT_LABEL",
    "RENDERED_KINDS",
    "PODDEFAULT_NAME",
    "PODDEFAULT_SELECTOR_LABEL",
    "ENV_NAMESPACE",
    "ENV_DASHBOARD_LINK",
    "ENV_SHUTDOWN_ON_CLOSE",
    "ENV_CLUSTER",
    "ENV_TIER",
    "ENV_SCHEDULER_ADDRESS",
    "ENV_SCHEDULER_ROUTES",
    "ENV_SCHEDULER_PRELOAD",
    "ENV_IDLE_AFTER_SECONDS",
    "ENV_WORKER_PROCESSES",
    "SCHEDULER_PORT",
    "SCHEDULER_PORT_NAME",
    "DASHBOARD_PORT",
    "DASHBOARD_PORT_NAME",
    "DASHBOARD_ROOT",
    "INSTALL_NAMESPACE",
    "OPERATOR_NAMESPACE",
    "GATEWAY_SERVICE",
    "GATEWAY_PORT",
    "GATEWAY_PORT_NAME",
    "GATEWAY_POD_LABELS",
    "CONTROLLER_POD_LABELS",
    "NAMESPACE_NAME_LABEL",
]

# -- labels and ownership -------------------------------------------------------------------------
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "dask-kubeflow"
TIER_LABEL: Final = "dask.kubeflow.org/tier"
FIELD_MANAGER: Final = "dask-kubeflow"
DASHBOARD_PREFIX_ANNOTATION: Final = "dask.kubeflow.org/dashboard-prefix"
# Labels the upstream operator puts on the scheduler and worker pods it creates.
OPERATOR_CLUSTER_LABEL: Final = "dask.org/cluster-name"
OPERATOR_COMPONENT_LABEL: Final = "dask.org/component"

# The (apiVersion, kind) of every object render_namespace can return, in output order. The
# DaskCluster's labels (including MANAGED_BY_LABEL) are copied by the upstream operator onto the
# Deployments, Services, Pods and DaskWorkerGroup it creates: prune only these kinds.
RENDERED_KINDS: Final = (
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("kubeflow.org/v1alpha1", "PodDefault"),
    ("kubernetes.dask.org/v1", "DaskCluster"),
    ("kubernetes.dask.org/v1", "DaskAutoscaler"),
)

# -- the PodDefault notebooks select --------------------------------------------------------------
PODDEFAULT_NAME: Final = "access-dask-cluster"
# First (only) key of selector.matchLabels: the notebook UI lists the configuration under it and
# puts "<key>: 'true'" on notebooks that select it.
PODDEFAULT_SELECTOR_LABEL: Final = "access-dask-cluster"

# Environment the PodDefault sets in notebook pods; connect() and KubeCluster read it.
ENV_NAMESPACE: Final = "DASK_KUBERNETES__NAMESPACE"
ENV_DASHBOARD_LINK: Final = "DASK_DISTRIBUTED__DASHBOARD__LINK"
ENV_SHUTDOWN_ON_CLOSE: Final = "DASK_KUBERNETES__SHUTDOWN_ON_CLOSE"
ENV_CLUSTER: Final = "DASK_KUBEFLOW_CLUSTER"
ENV_TIER: Final = "DASK_KUBEFLOW_TIER"
ENV_SCHEDULER_ADDRESS: Final = "DASK_KUBEFLOW_SCHEDULER_ADDRESS"

# Environment render sets on the scheduler container.
ENV_SCHEDULER_ROUTES: Final = "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"
ENV_SCHEDULER_PRELOAD: Final = "DASK_DISTRIBUTED__SCHEDULER__PRELOAD"
ENV_IDLE_AFTER_SECONDS: Final = "DASK_KUBEFLOW_IDLE_AFTER_SECONDS"
ENV_WORKER_PROCESSES: Final = "DASK_KUBEFLOW_WORKER_PROCESSES"

# -- ports (named: the operator and Services look them up by name) --------------------------------
SCHEDULER_PORT: Final = 8786
SCHEDULER_PORT_NAME: Final = "tcp-comm"
DASHBOARD_PORT: Final = 8787
DASHBOARD_PORT_NAME: Final = "http-dashboard"
DASHBOARD_ROOT: Final = "/dask"

# -- where the platform runs (deploy/ and the upstream operator's helm release) -------------------
INSTALL_NAMESPACE: Final = "dask-kubeflow"
OPERATOR_NAMESPACE: Final = "dask-operator"
GATEWAY_SERVICE: Final = "dask-kubeflow-gateway"
GATEWAY_PORT: Final = 8080
GATEWAY_PORT_NAME: Final = "http"
GATEWAY_POD_LABELS: Final = {
    "app.kubernetes.io/name": "dask-kubeflow-gateway",
    "app.kubernetes.io/part-of": "dask-kubeflow",
}
CONTROLLER_POD_LABELS: Final = {
    "app.kubernetes.io/name": "dask-kubeflow-controller",
    "app.kubernetes.io/part-of": "dask-kubeflow",
}
# Namespaces carry this label with their own name (Kubernetes >= 1.22 sets it on every namespace).
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"
