"""NetworkPolicy isolating one namespace's Dask pods.

Dask pods run without an Istio sidecar (the operator forces it off), so Istio policies do not
protect them: this is the isolation between users. Ingress to the scheduler and workers is
allowed only from pods in the same namespace (all ports: workers talk to each other and to the
scheduler on random ports), from the upstream operator's namespace (scheduler ports, for
autoscaling and retiring workers) and from the central dashboard gateway (dashboard port).
"""

from __future__ import annotations

from typing import Any

from ..kube.kinds import NETWORK_POLICY
from ..kube.names import (
    DASHBOARD_PORT_NAME,
    GATEWAY_POD_LABELS,
    INSTALL_NAMESPACE,
    NAMESPACE_NAME_LABEL,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_NAMESPACE,
    SCHEDULER_PORT_NAME,
)
from ..policy import ClusterShape


def _port(name: str) -> dict[str, str]:
    return {"protocol": "TCP", "port": name}


def render_networkpolicy(shape: ClusterShape, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": NETWORK_POLICY.api_version,
        "kind": NETWORK_POLICY.kind,
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": {OPERATOR_CLUSTER_LABEL: shape.settings.cluster_name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": {}}]},
                {
                    "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: OPERATOR_NAMESPACE}}}],
                    "ports": [_port(SCHEDULER_PORT_NAME), _port(DASHBOARD_PORT_NAME)],
                },
                {
                    "from": [{
                        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: INSTALL_NAMESPACE}},
                        "podSelector": {"matchLabels": dict(GATEWAY_POD_LABELS)},
                    }],
                    "ports": [_port(DASHBOARD_PORT_NAME)],
                },
            ],
        },
    }
