"""What the controller follows besides Profiles, and the little it keeps of each object."""

from __future__ import annotations

from typing import Any

from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL
from .informer import Source
from ..kube.resources import CONFIG_MAP, MANAGED_KINDS, Kind
from .livestate import snapshot
from .settings import COMPONENT_LABEL

__all__ = ["MANAGED_SOURCES", "NAMESPACES", "CONTRIBUTORS", "QUOTAS", "ALL_SOURCES", "profile_facts"]


def _selector(kind: Kind) -> str:
    base = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    return f"{base},{COMPONENT_LABEL}=status" if kind == CONFIG_MAP else base


def _namespace_facts(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"labels": dict(meta.get("labels") or {}), "owner": (meta.get("annotations") or {}).get("owner"),
            "terminating": bool(meta.get("deletionTimestamp"))}


def _contributor(obj: dict[str, Any]) -> str | None:
    """Kubeflow's sharing model: a RoleBinding annotated user=<email> and role=edit|view."""
    annotations = obj["metadata"].get("annotations") or {}
    return annotations["user"] if annotations.get("user") and annotations.get("role") else None


def _quota(obj: dict[str, Any]) -> dict[str, Any]:
    return {"name": obj["metadata"]["name"], "hard": dict((obj.get("spec") or {}).get("hard") or {})}


MANAGED_SOURCES = [Source(k.api_version, k.kind, k.plural, label_selector=_selector(k), extract=snapshot)
                   for k in MANAGED_KINDS]
NAMESPACES = Source("v1", "Namespace", "namespaces", extract=_namespace_facts,
                    key=lambda obj: str(obj["metadata"]["name"]))
CONTRIBUTORS = Source("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", extract=_contributor)
QUOTAS = Source("v1", "ResourceQuota", "resourcequotas", extract=_quota)
ALL_SOURCES = [*MANAGED_SOURCES, NAMESPACES, CONTRIBUTORS, QUOTAS]


def profile_facts(body: Any) -> dict[str, Any]:
    """What the reconcile needs of a Profile: its name (= its namespace), uid (for Events), owner."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    return {"name": meta.get("name"), "uid": meta.get("uid"), "owner": (spec.get("owner") or {}).get("name")}
