"""The NetworkPolicy fencing every Dask pod of one namespace, ingress and egress.

Dask pods run without an Istio sidecar (the operator forces it off), so Istio policies do not
protect them, and their scheduler port (8786) is unauthenticated ``tcp://``: whoever reaches it runs
code in the workers. This policy is the isolation between users. It selects every pod the upstream
operator labels ``dask.org/cluster-name`` (schedulers, workers, DaskJob runners) of the namespace,
the managed cluster and the clusters users make themselves alike.

Ingress: from pods of the same namespace (all ports: workers talk to each other and to the
scheduler on random ports); from the upstream operator's pods (scheduler ports, for autoscaling
and retiring workers); from the dashboard gateway's pods and the controller's (dashboard port: the
controller reads the connected-client count before hibernating a cluster); from the metrics
scraper's pods (``Platform.metrics_namespace`` and ``metrics_pod_labels``), when the install names a
namespace (dashboard port, where ``/metrics`` is served).

Egress: to pods of the same namespace and to the cluster DNS (UDP and TCP 53). Nothing else: not
the Kubernetes API (Dask pods carry no token and need none), not other namespaces, not the cloud
metadata address, not the internet, unless the tier's ``network.egress`` opens a destination.
Replies on admitted connections are always allowed (NetworkPolicy is stateful).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..kube.kinds import NETWORK_POLICY
from ..kube.names import DASHBOARD_PORT_NAME, NAMESPACE_NAME_LABEL, OPERATOR_CLUSTER_LABEL, SCHEDULER_PORT_NAME
from ..policy import ClusterShape
from ..policy.isolation import EgressPeer, EgressRule
from .platform import Platform

__all__ = ["dask_pods", "render_networkpolicy"]


def dask_pods() -> dict[str, Any]:
    """Selector of every pod the upstream operator makes: all carry the cluster-name label (its value wins
    over a user's own labels)."""
    return {"matchExpressions": [{"key": OPERATOR_CLUSTER_LABEL, "operator": "Exists"}]}


def _port(name: str | int, protocol: str = "TCP") -> dict[str, Any]:
    return {"protocol": protocol, "port": name}


def _pods_of(namespace: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A peer: pods of ``namespace`` (those with ``labels`` when given)."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}
    if labels:
        peer["podSelector"] = {"matchLabels": dict(labels)}
    return peer


def _ingress(platform: Platform) -> list[dict[str, Any]]:
    rules = [
        {"from": [{"podSelector": {}}]},
        {"from": [_pods_of(platform.operator_namespace, platform.operator_pod_labels)],
         "ports": [_port(SCHEDULER_PORT_NAME), _port(DASHBOARD_PORT_NAME)]},
        {"from": [_pods_of(platform.install_namespace, platform.gateway_pod_labels)],
         "ports": [_port(DASHBOARD_PORT_NAME)]},
        # the controller reads the scheduler's connected clients (hibernation) on the dashboard port
        {"from": [_pods_of(platform.install_namespace, platform.controller_pod_labels)],
         "ports": [_port(DASHBOARD_PORT_NAME)]},
    ]
    if platform.metrics_namespace:
        rules.append({"from": [_pods_of(platform.metrics_namespace, platform.metrics_pod_labels)],
                      "ports": [_port(DASHBOARD_PORT_NAME)]})
    return rules


def _peer(peer: EgressPeer) -> dict[str, Any]:
    if peer.ip_block is not None:
        block: dict[str, Any] = {"cidr": peer.ip_block.cidr}
        if peer.ip_block.except_:
            block["except"] = list(peer.ip_block.except_)
        return {"ipBlock": block}
    assert peer.namespace is not None  # validated: exactly one kind
    return _pods_of(peer.namespace, peer.pod_labels)


def _admin_rule(rule: EgressRule) -> dict[str, Any]:
    out: dict[str, Any] = {"to": [_peer(p) for p in rule.to]}
    if rule.ports:
        out["ports"] = [
            {**_port(p.port, p.protocol), **({"endPort": p.end_port} if p.end_port is not None else {})}
            for p in rule.ports
        ]
    return out


def _egress(shape: ClusterShape, platform: Platform) -> list[dict[str, Any]]:
    return [
        {"to": [{"podSelector": {}}]},
        {"to": [_pods_of(platform.dns_namespace, platform.dns_pod_labels)],
         "ports": [_port(53, "UDP"), _port(53, "TCP")]},
        *(_admin_rule(rule) for rule in shape.settings.network.egress),
    ]


def render_networkpolicy(shape: ClusterShape, metadata: dict[str, Any], platform: Platform) -> dict[str, Any]:
    return {
        "apiVersion": NETWORK_POLICY.api_version,
        "kind": NETWORK_POLICY.kind,
        "metadata": metadata,
        "spec": {
            "podSelector": dask_pods(),
            "policyTypes": ["Ingress", "Egress"],
            "ingress": _ingress(platform),
            "egress": _egress(shape, platform),
        },
    }
