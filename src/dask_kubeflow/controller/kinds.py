"""The kinds the controller may create, update and prune, and how kr8s addresses each.

Only kinds listed here are ever written; a rendered object of any other kind is an error
(reported on the namespace), never a guess at an API path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Kind", "MANAGED_KINDS", "ObjectRef", "kind_of", "ref_of", "STATUS_KIND"]


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


MANAGED_KINDS: tuple[Kind, ...] = (
    Kind("kubernetes.dask.org/v1", "DaskCluster", "daskclusters"),
    Kind("kubernetes.dask.org/v1", "DaskAutoscaler", "daskautoscalers"),
    Kind("kubeflow.org/v1alpha1", "PodDefault", "poddefaults"),
    Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Kind("v1", "ConfigMap", "configmaps"),
)
STATUS_KIND = MANAGED_KINDS[-1]

_by_key = {(k.api_version, k.kind): k for k in MANAGED_KINDS}


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of one namespaced object: what 'the same object' means for apply and prune."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def ref_of(obj: dict[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def kind_of(ref: ObjectRef) -> Kind:
    try:
        return _by_key[(ref.api_version, ref.kind)]
    except KeyError:
        known = ", ".join(f"{k.kind} ({k.api_version})" for k in MANAGED_KINDS)
        raise ValueError(
            f"{ref.kind} ({ref.api_version}) is not a kind the controller manages (known: {known}); "
            f"add it to dask_kubeflow.controller.kinds.MANAGED_KINDS and to the controller's RBAC"
        ) from None
