"""What the runner publishes for NetworkPolicy in the cluster DNS table (pure): every pod address
with its namespace, labels and container ports, every namespace's labels, every NetworkPolicy.

`podnet` (in each pod process) evaluates connections against it with `../netpol.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PodEntry:
    """One address of the pod network: a pod the runner runs, or a process given a pod's identity."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[tuple[str | None, int, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "ip": self.ip, "labels": dict(self.labels),
                "ports": [list(p) for p in self.ports]}


def container_ports(containers: Iterable[Mapping[str, Any]]) -> tuple[tuple[str | None, int, str], ...]:
    """(name, containerPort, protocol) of every declared container port."""
    return tuple(
        (p.get("name"), int(p["containerPort"]), p.get("protocol") or "TCP")
        for c in containers for p in c.get("ports") or [] if "containerPort" in p
    )


def network_section(
    *,
    enforce: bool,
    pod_cidr: str | None,
    pods: Iterable[PodEntry],
    namespaces: Iterable[Mapping[str, Any]],
    policies: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    return {
        "enforce": enforce,
        "pod_cidr": pod_cidr,
        "pods": sorted((p.to_json() for p in pods), key=lambda p: p["ip"]),
        "namespaces": {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {}) for n in namespaces},
        "policies": sorted(
            ({"metadata": {"namespace": p["metadata"].get("namespace"), "name": p["metadata"]["name"]},
              "spec": p.get("spec") or {}} for p in policies if not p["metadata"].get("deletionTimestamp")),
            key=lambda p: (p["metadata"]["namespace"] or "", p["metadata"]["name"]),
        ),
    }
