"""Where a cluster's dashboard is served, read from its DaskCluster manifest (pure).

The upstream operator creates Service ``<cluster>-scheduler`` from ``spec.scheduler.service``; the
dashboard is its port named ``http-dashboard`` (8787 in every manifest the operator's tools make).
The resolver is a plain function so tests can point the gateway at a local scheduler.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from ..kube.names import DASHBOARD_PREFIX_ANNOTATION

DASHBOARD_PORT_NAME = "http-dashboard"
DEFAULT_DASHBOARD_PORT = 8787

# (namespace, cluster name, DaskCluster manifest) -> base URL such as "http://host:8787"
UpstreamResolver = Callable[[str, str, dict[str, Any]], str]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_dns_label(name: str) -> bool:
    """Namespace and cluster names become host names; anything else is refused before any lookup."""
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


def dashboard_port(cluster: dict[str, Any]) -> int:
    """The Service port named ``http-dashboard``, else 8787."""
    ports = (
        cluster.get("spec", {}).get("scheduler", {}).get("service", {}).get("ports") or []
    )
    for port in ports:
        if port.get("name") == DASHBOARD_PORT_NAME and isinstance(port.get("port"), int):
            return port["port"]
    return DEFAULT_DASHBOARD_PORT


def in_cluster_resolver(cluster_domain: str = "cluster.local") -> UpstreamResolver:
    """Resolve to the scheduler Service's cluster DNS name, as the gateway pod sees it."""

    def resolve(namespace: str, name: str, cluster: dict[str, Any]) -> str:
        return f"http://{name}-scheduler.{namespace}.svc.{cluster_domain}:{dashboard_port(cluster)}"

    return resolve


def served_prefix(cluster: dict[str, Any]) -> str | None:
    """The dashboard prefix the scheduler serves under: render's annotation, else the scheduler
    container's ``--dashboard-prefix`` argument.

    ``""`` means no prefix (the dashboard cannot work behind ``/dask/<ns>/<cluster>/``);
    ``None`` means the manifest does not say (no scheduler container found).
    """
    annotations = cluster.get("metadata", {}).get("annotations") or {}
    if annotations.get(DASHBOARD_PREFIX_ANNOTATION):
        return str(annotations[DASHBOARD_PREFIX_ANNOTATION])
    containers = (
        cluster.get("spec", {}).get("scheduler", {}).get("spec", {}).get("containers") or []
    )
    if not containers:
        return None
    container = containers[0]
    words: list[str] = []
    for item in [*(container.get("command") or []), *(container.get("args") or [])]:
        words.extend(shlex.split(str(item)) if " " in str(item) else [str(item)])
    for i, word in enumerate(words):
        if word == "--dashboard-prefix" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--dashboard-prefix="):
            return word.split("=", 1)[1]
    return ""


def gateway_prefix(namespace: str, name: str) -> str:
    """The path under which the gateway serves (and the scheduler must serve) a dashboard."""
    return f"/dask/{namespace}/{name}"
