"""Every name the parts agree on: labels, annotations, env vars, ports, derived object names, and the
rules a Kubernetes name must follow. Pure: no I/O, no kr8s.

They are the contract between the parts: the controller prunes by the labels, the gateway routes by
the ports and prefix, connect() reads the environment the PodDefault sets. Define a name here once;
everything else imports it.
"""

from __future__ import annotations

import re
from typing import Final

# -- labels, annotations and ownership ----------------------------------------------------------
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "dask-kubeflow"
PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
TIER_LABEL: Final = "dask.kubeflow.org/tier"
FIELD_MANAGER: Final = "dask-kubeflow"
DASHBOARD_PREFIX_ANNOTATION: Final = "dask.kubeflow.org/dashboard-prefix"
# Labels the upstream operator puts on the scheduler and worker pods it creates.
OPERATOR_CLUSTER_LABEL: Final = "dask.org/cluster-name"
OPERATOR_COMPONENT_LABEL: Final = "dask.org/component"
# Kubeflow's profile controller labels every profile namespace with this (value below).
PROFILE_NAMESPACE_LABEL: Final = PART_OF_LABEL
PROFILE_NAMESPACE_VALUE: Final = "kubeflow-profile"
# Namespaces carry this label with their own name (Kubernetes >= 1.22 sets it on every namespace).
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"
# Istio's per-pod sidecar switch (the operator sets it "false" on scheduler pods).
ISTIO_INJECT_LABEL: Final = "sidecar.istio.io/inject"

# -- the PodDefault notebooks select ------------------------------------------------------------
PODDEFAULT_NAME: Final = "access-dask-cluster"
# First (only) key of selector.matchLabels: the notebook UI lists the configuration under it and
# puts "<key>: 'true'" on notebooks that select it.
PODDEFAULT_SELECTOR_LABEL: Final = "access-dask-cluster"

# -- environment the PodDefault sets in notebook pods; connect() and KubeCluster read it ---------
ENV_NAMESPACE: Final = "DASK_KUBERNETES__NAMESPACE"
ENV_DASHBOARD_LINK: Final = "DASK_DISTRIBUTED__DASHBOARD__LINK"
ENV_SHUTDOWN_ON_CLOSE: Final = "DASK_KUBERNETES__SHUTDOWN_ON_CLOSE"
ENV_CLUSTER: Final = "DASK_KUBEFLOW_CLUSTER"
ENV_TIER: Final = "DASK_KUBEFLOW_TIER"
ENV_SCHEDULER_ADDRESS: Final = "DASK_KUBEFLOW_SCHEDULER_ADDRESS"
# Extra packages (comma-separated) connect()'s versions table compares: the policy's versions.packages.
ENV_VERSION_PACKAGES: Final = "DASK_KUBEFLOW_VERSION_PACKAGES"
# dask-labextension (the JupyterLab Dask sidebar) reads its cluster factory from dask config.
ENV_LABEXTENSION_FACTORY_MODULE: Final = "DASK_LABEXTENSION__FACTORY__MODULE"
ENV_LABEXTENSION_FACTORY_CLASS: Final = "DASK_LABEXTENSION__FACTORY__CLASS"
ENV_LABEXTENSION_INITIAL: Final = "DASK_LABEXTENSION__INITIAL"

# -- environment render sets on the scheduler container -----------------------------------------
ENV_SCHEDULER_ROUTES: Final = "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"
ENV_SCHEDULER_PRELOAD: Final = "DASK_DISTRIBUTED__SCHEDULER__PRELOAD"
ENV_IDLE_AFTER_SECONDS: Final = "DASK_KUBEFLOW_IDLE_AFTER_SECONDS"
ENV_WORKER_PROCESSES: Final = "DASK_KUBEFLOW_WORKER_PROCESSES"

# -- ports (named: the operator and Services look them up by name) ------------------------------
SCHEDULER_PORT: Final = 8786
SCHEDULER_PORT_NAME: Final = "tcp-comm"
DASHBOARD_PORT: Final = 8787
DASHBOARD_PORT_NAME: Final = "http-dashboard"
DASHBOARD_ROOT: Final = "/dask"

# -- where the platform runs (deploy/ and the upstream operator's release) ----------------------
INSTALL_NAMESPACE: Final = "dask-kubeflow"
OPERATOR_NAMESPACE: Final = "dask-operator"
# Kubeflow's own namespace: its central dashboard (and, in the kubeflow overlay, dask-kubeflow itself).
KUBEFLOW_NAMESPACE: Final = "kubeflow"
GATEWAY_SERVICE: Final = "dask-kubeflow-gateway"
GATEWAY_PORT: Final = 8080
GATEWAY_POD_LABELS: Final = {
    "app.kubernetes.io/name": "dask-kubeflow-gateway",
    PART_OF_LABEL: "dask-kubeflow",
}
# The controller's pods (deploy/base/controller/deployment.yaml): they read each scheduler's connected-client
# count on the dashboard port to decide hibernation (controller/hibernation.py).
CONTROLLER_POD_LABELS: Final = {
    "app.kubernetes.io/name": "dask-kubeflow-controller",
    PART_OF_LABEL: "dask-kubeflow",
}
# The gateway checks the browser's Origin itself and sends this fixed Origin on every websocket
# upgrade to a scheduler's dashboard; render sets ENV_BOKEH_WEBSOCKET_ORIGINS on the scheduler to
# BOKEH_WEBSOCKET_ORIGINS_VALUE, so Bokeh refuses every other Origin (its default is "*").
GATEWAY_WEBSOCKET_ORIGIN_HOST: Final = "dask-kubeflow-gateway"
GATEWAY_WEBSOCKET_ORIGIN: Final = f"http://{GATEWAY_WEBSOCKET_ORIGIN_HOST}"
ENV_BOKEH_WEBSOCKET_ORIGINS: Final = "DASK_DISTRIBUTED__SCHEDULER__DASHBOARD__BOKEH_APPLICATION__ALLOW_WEBSOCKET_ORIGIN"
BOKEH_WEBSOCKET_ORIGINS_VALUE: Final = f'["{GATEWAY_WEBSOCKET_ORIGIN_HOST}"]'
# Environment deploy/ sets on the controller (and gateway) from the overlay's params.env: where the
# platform was installed. The namespaces above are only defaults for when these are unset.
ENV_INSTALL_NAMESPACE: Final = "DASK_KUBEFLOW_INSTALL_NAMESPACE"
ENV_OPERATOR_NAMESPACE: Final = "DASK_KUBEFLOW_OPERATOR_NAMESPACE"
ENV_CLUSTER_DOMAIN: Final = "DASK_KUBEFLOW_CLUSTER_DOMAIN"
ENV_METRICS_NAMESPACE: Final = "DASK_KUBEFLOW_METRICS_NAMESPACE"  # Prometheus' namespace (scrape admission)
# Pod labels of the scraper in that namespace (``k=v,k=v``; "" = every pod of it): NetworkPolicies admit
# only those pods to the schedulers' dashboard port (the namespace may be Kubeflow's own, full of other pods).
ENV_METRICS_POD_LABELS: Final = "DASK_KUBEFLOW_METRICS_POD_LABELS"
METRICS_POD_LABELS: Final = {"app.kubernetes.io/name": "prometheus"}  # what kube-prometheus-stack's pods carry
# Pod labels of the upstream operator's Deployment (deploy/operator): what a NetworkPolicy admits when
# the operator shares its namespace with other pods (namespace kubeflow).
OPERATOR_POD_LABELS: Final = {
    "app.kubernetes.io/name": "dask-kubernetes-operator",
    "app.kubernetes.io/instance": "dask-kubernetes-operator",
}

# -- the controller's own objects ---------------------------------------------------------------
STATUS_CONFIGMAP: Final = "dask-kubeflow-status"
COMPONENT_LABEL: Final = "dask.kubeflow.org/component"
OPT_OUT_LABEL: Final = "dask.kubeflow.org/opt-out"  # value "true" on a Namespace: no managed cluster there
# Hibernation (controller/lifecycle.py, docs/hibernation.md): on the managed DaskCluster. The controller
# writes HIBERNATED (RFC 3339 time); anyone who may patch the DaskCluster (kubeflow-edit) asks for a wake
# with an annotation-only patch of WAKE_REQUESTED (the admission webhook lets it through: spec unchanged).
HIBERNATED_ANNOTATION: Final = "dask.kubeflow.org/hibernated"
WAKE_REQUESTED_ANNOTATION: Final = "dask.kubeflow.org/wake-requested"
# The moment the controller first saw the awake cluster idle (RFC 3339, the controller's clock): the
# hibernateAfter countdown lives in Kubernetes, so a controller restart does not restart it.
IDLE_SINCE_ANNOTATION: Final = "dask.kubeflow.org/idle-since"
# When a wake started the first worker and began holding the autoscaler for it (seconds since the
# epoch, wall clock): written with the first worker, removed when the hold ends, so a controller
# restarted mid-wake picks the hold up again (controller/first_worker.py).
FIRST_WORKER_SINCE_ANNOTATION: Final = "dask.kubeflow.org/first-worker-since"
# The upstream operator's DaskAutoscaler annotation: seconds since the epoch (float) until which its
# autoscaler makes no scale step. A wake writes it to keep the first worker until it has connected.
OPERATOR_COOLDOWN_ANNOTATION: Final = "kubernetes.dask.org/cooldown-until"
# Usage accounting (controller/usage.py): one ConfigMap per namespace, label COMPONENT_LABEL=usage.
USAGE_CONFIGMAP: Final = "dask-kubeflow-usage"
# Kubeflow's notebook controller labels every notebook pod with its Notebook's name.
NOTEBOOK_NAME_LABEL: Final = "notebook-name"
# Kubeflow marks a stopped Notebook with this annotation (the notebook UI's stop button).
NOTEBOOK_STOPPED_ANNOTATION: Final = "kubeflow-resource-stopped"
# User clusters (render/user_cluster.py): DaskClusters a namespace's users run beside the managed one.
# Created with USER_CLUSTER_LABEL "true", the mutating webhook renders their spec from the tier.
USER_CLUSTER_LABEL: Final = "dask.kubeflow.org/user-cluster"
OWNER_ANNOTATION: Final = "dask.kubeflow.org/owner"  # who created it, as the API server authenticated them
REQUESTED_ANNOTATION: Final = "dask.kubeflow.org/requested"  # JSON {"workers", "workerCpu", "workerMemory"}
# Event reason of an admission refusal, posted on the Namespace (status, doctor and the clusters page read it).
TIER_REFUSED_REASON: Final = "RefusedByTier"


# -- names derived from (namespace, cluster) ----------------------------------------------------
def gateway_prefix(namespace: str, cluster: str) -> str:
    """The path under which the gateway serves, and the scheduler must serve, a dashboard:
    ``/dask/<ns>/<cluster>`` (distributed's ``--dashboard-prefix``)."""
    return f"{DASHBOARD_ROOT}/{namespace}/{cluster}"


def scheduler_service(cluster: str) -> str:
    """Service (and Deployment) the upstream operator creates for the scheduler."""
    return f"{cluster}-scheduler"


def default_worker_group(cluster: str) -> str:
    """DaskWorkerGroup the upstream operator creates, and autoscales, for a cluster."""
    return f"{cluster}-default"


def scheduler_address(namespace: str, cluster: str) -> str:
    """Dask address of the scheduler from any pod in the cluster."""
    return f"tcp://{scheduler_service(cluster)}.{namespace}:{SCHEDULER_PORT}"


def scheduler_host(namespace: str, cluster: str, cluster_domain: str = "cluster.local") -> str:
    """Fully qualified DNS name of the scheduler Service."""
    return f"{scheduler_service(cluster)}.{namespace}.svc.{cluster_domain}"


def network_policy_name(cluster: str) -> str:
    return f"{cluster}-ingress"


def pod_selector(cluster: str, component: str | None = None) -> str:
    """Label selector of a cluster's pods (``component``: ``scheduler`` or ``worker``)."""
    selector = f"{OPERATOR_CLUSTER_LABEL}={cluster}"
    return f"{selector},{OPERATOR_COMPONENT_LABEL}={component}" if component else selector


# -- name rules (as the API server checks them) -------------------------------------------------
# The operator derives "<cluster>-scheduler" and "<cluster>-default-worker-<10 hex>" from the
# cluster name; both must stay valid 63-character DNS labels.
MAX_CLUSTER_NAME: Final = 63 - len("-default-worker-") - 10

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns_label(name: str) -> bool:
    """An RFC 1123 label (namespace names): at most 63 of ``a-z0-9-``, alphanumeric at both ends."""
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS1123_LABEL.match(name))


def is_service_name(name: str) -> bool:
    """An RFC 1035 label (Service names, so DaskCluster names): as a DNS label, starting with a letter."""
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS1035_LABEL.match(name))


def is_dns_subdomain(name: str) -> bool:
    """An RFC 1123 subdomain (names of Secrets, ConfigMaps, PVCs, PriorityClasses): at most 253 characters."""
    return isinstance(name, str) and len(name) <= 253 and bool(_LABEL_PREFIX.match(name))


def is_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return (
        0 < len(name) <= 63
        and bool(_LABEL_NAME.match(name))
        and (not prefix or (len(prefix) <= 253 and bool(_LABEL_PREFIX.match(prefix))))
    )


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_NAME.match(value))


def check_namespace_name(name: str) -> None:
    """Refuse a name Kubernetes would refuse, before any manifest carries it."""
    if not is_dns_label(name):
        raise ValueError(
            f"{name!r} is not a valid namespace name: use at most 63 lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit"
        )
