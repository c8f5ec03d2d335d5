"""Every kind the project writes, by apiVersion, kind and REST plural; and object identity (pure).

No kr8s here, so ``render`` (which emits these kinds) and the controller's pure reconcile can use
it; ``kube.resources`` re-exports all of it beside the kr8s classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DASK_GROUP = "kubernetes.dask.org"
DASK_API = f"{DASK_GROUP}/v1"
KUBEFLOW_API = "kubeflow.org/v1"
PODDEFAULT_API = "kubeflow.org/v1alpha1"


@dataclass(frozen=True)
class Kind:
    """An (apiVersion, kind) and its REST plural: what the controller needs to write one."""

    api_version: str
    kind: str
    plural: str

    @property
    def resource(self) -> str:
        """``plural.group`` as RBAC and error messages name it."""
        group = self.api_version.rpartition("/")[0]
        return f"{self.plural}.{group}" if group else self.plural


NETWORK_POLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
POD_DEFAULT = Kind(PODDEFAULT_API, "PodDefault", "poddefaults")
DASK_CLUSTER = Kind(DASK_API, "DaskCluster", "daskclusters")
DASK_AUTOSCALER = Kind(DASK_API, "DaskAutoscaler", "daskautoscalers")
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps")
EVENT = Kind("v1", "Event", "events")  # posted, never updated or pruned: not in MANAGED_KINDS

# What render_namespace can return, in output order (NetworkPolicy first: no Dask pod exists before it
# is isolated). The DaskCluster's labels are copied by the upstream operator onto the Deployments,
# Services, Pods and DaskWorkerGroup it creates: prune only these kinds.
RENDERED_KINDS: tuple[Kind, ...] = (NETWORK_POLICY, POD_DEFAULT, DASK_CLUSTER, DASK_AUTOSCALER)
# What the controller may create, update and prune: the rendered kinds and its status ConfigMap.
MANAGED_KINDS: tuple[Kind, ...] = (*RENDERED_KINDS, CONFIG_MAP)

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
            f"add it to dask_kubeflow.kube.kinds.MANAGED_KINDS and to the controller's RBAC"
        ) from None
