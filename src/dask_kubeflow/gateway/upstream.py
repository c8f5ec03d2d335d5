"""Where a cluster's dashboard is served (pure): the one URL builder the gateway trusts.

The address is derived from the namespace and cluster name only —
``http://<scheduler_host(ns, name)>:<DASHBOARD_PORT><gateway_prefix(ns, name)>`` — never from the
DaskCluster's contents, which any editor of the namespace writes. What the manifest says about its
own dashboard prefix (render's annotation, or the scheduler's ``--dashboard-prefix``) is only
compared with ``gateway_prefix(ns, name)``: a cluster serving anywhere else is shown as "dashboard
not served behind the gateway" and never fetched. The resolver is a plain function so tests can
point the gateway at a local scheduler.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from ..kube.names import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    DASHBOARD_PREFIX_ANNOTATION,
    gateway_prefix,
    scheduler_host,
)

# (namespace, cluster name, DaskCluster manifest) -> base URL such as "http://host:8787"
UpstreamResolver = Callable[[str, str, dict[str, Any]], str]


def dashboard_port(cluster: dict[str, Any]) -> int:
    """The scheduler Service's port named ``DASHBOARD_PORT_NAME``, else ``DASHBOARD_PORT`` (what the
    manifest says; for display and diagnosis only — the gateway connects to ``DASHBOARD_PORT``)."""
    ports = (
        cluster.get("spec", {}).get("scheduler", {}).get("service", {}).get("ports") or []
    )
    for port in ports:
        if port.get("name") == DASHBOARD_PORT_NAME and isinstance(port.get("port"), int):
            return port["port"]
    return DASHBOARD_PORT


def in_cluster_resolver(cluster_domain: str = "cluster.local") -> UpstreamResolver:
    """Resolve to the scheduler Service's cluster DNS name and ``DASHBOARD_PORT``, as the gateway pod
    sees it; the manifest (``cluster``) is not consulted."""

    def resolve(namespace: str, name: str, cluster: dict[str, Any]) -> str:
        return f"http://{scheduler_host(namespace, name, cluster_domain)}:{DASHBOARD_PORT}"

    return resolve


def served_behind_gateway(namespace: str, name: str, cluster: dict[str, Any]) -> bool:
    """Does the manifest say its scheduler serves under ``gateway_prefix(namespace, name)``? (A
    manifest that says nothing — no scheduler container — is given the benefit of the doubt: the
    address fetched is the gateway's own either way.)"""
    prefix = served_prefix(cluster)
    return prefix is None or prefix.rstrip("/") == gateway_prefix(namespace, name)


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
