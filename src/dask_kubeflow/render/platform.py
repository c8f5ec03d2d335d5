"""Where the platform runs: the install facts render needs, as data (pure).

The controller (and ``dask-kubeflow render``) reads them from the environment its Deployment gets
from the overlay's params.env and hands them to render; render never reads the environment itself.
The defaults are what deploy/base says before an overlay sets its own (kube.names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..kube.names import (
    ENV_CLUSTER_DOMAIN,
    ENV_INSTALL_NAMESPACE,
    ENV_METRICS_NAMESPACE,
    ENV_METRICS_POD_LABELS,
    ENV_OPERATOR_NAMESPACE,
    CONTROLLER_POD_LABELS,
    GATEWAY_POD_LABELS,
    INSTALL_NAMESPACE,
    METRICS_POD_LABELS,
    OPERATOR_NAMESPACE,
    OPERATOR_POD_LABELS,
    GATEWAY_WEBSOCKET_ORIGIN_HOST,
    is_dns_label,
    is_label_key,
    is_label_value,
)

__all__ = ["Platform", "PlatformError", "platform_from_env"]

class PlatformError(ValueError):
    """An install setting (environment variable) that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class Platform:
    """The install's namespaces and pod labels that every namespace's NetworkPolicy names."""

    install_namespace: str = INSTALL_NAMESPACE  # the gateway (and the controller) run here
    operator_namespace: str = OPERATOR_NAMESPACE  # the upstream dask-kubernetes operator runs here
    metrics_namespace: str | None = None  # Prometheus: may scrape the schedulers' /metrics (dashboard port)
    metrics_pod_labels: Mapping[str, str] = field(default_factory=lambda: dict(METRICS_POD_LABELS))  # {}: all pods
    cluster_domain: str = "cluster.local"
    gateway_pod_labels: Mapping[str, str] = field(default_factory=lambda: dict(GATEWAY_POD_LABELS))
    controller_pod_labels: Mapping[str, str] = field(default_factory=lambda: dict(CONTROLLER_POD_LABELS))
    operator_pod_labels: Mapping[str, str] = field(default_factory=lambda: dict(OPERATOR_POD_LABELS))
    dns_namespace: str = "kube-system"  # the cluster DNS Dask pods must reach (UDP and TCP 53)
    dns_pod_labels: Mapping[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})

    # The only Origin host schedulers accept on dashboard websockets: the one the gateway sends upstream.
    websocket_origins: tuple[str, ...] = (GATEWAY_WEBSOCKET_ORIGIN_HOST,)


def _namespace(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = (env.get(name) or "").strip()
    if not value:
        return default
    if not is_dns_label(value):
        raise PlatformError(
            f"{name}={value!r} is not a namespace name; set it (params.env of your overlay) to the namespace "
            f"that component runs in: lowercase letters, digits and '-'"
        )
    return value


def _labels(env: Mapping[str, str], name: str, default: Mapping[str, str]) -> dict[str, str]:
    if name not in env:
        return dict(default)
    labels: dict[str, str] = {}
    for pair in (p.strip() for p in env[name].split(",")):
        key, sep, value = pair.partition("=")
        if not pair:
            continue
        if not sep or not is_label_key(key) or not is_label_value(value):
            raise PlatformError(f"{name}: {pair!r} is not a label key=value; write e.g. "
                                f"app.kubernetes.io/name=prometheus,prometheus=k8s (empty: every pod of the namespace)")
        labels[key] = value
    return labels


def platform_from_env(env: Mapping[str, str]) -> Platform:
    """The Platform from DASK_KUBEFLOW_{INSTALL,OPERATOR,METRICS}_NAMESPACE, DASK_KUBEFLOW_METRICS_POD_LABELS
    and DASK_KUBEFLOW_CLUSTER_DOMAIN."""
    domain = (env.get(ENV_CLUSTER_DOMAIN) or "").strip() or "cluster.local"
    if not all(is_dns_label(part) for part in domain.split(".")):
        raise PlatformError(f"{ENV_CLUSTER_DOMAIN}={domain!r} is not a DNS domain; use e.g. cluster.local")
    return Platform(
        install_namespace=_namespace(env, ENV_INSTALL_NAMESPACE, INSTALL_NAMESPACE) or INSTALL_NAMESPACE,
        operator_namespace=_namespace(env, ENV_OPERATOR_NAMESPACE, OPERATOR_NAMESPACE) or OPERATOR_NAMESPACE,
        metrics_namespace=_namespace(env, ENV_METRICS_NAMESPACE, None),
        metrics_pod_labels=_labels(env, ENV_METRICS_POD_LABELS, METRICS_POD_LABELS),
        cluster_domain=domain,
    )
