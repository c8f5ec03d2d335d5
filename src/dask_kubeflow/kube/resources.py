"""The kr8s classes of every kind the project reads or writes, and how each is addressed.

One definition per kind: render names the apiVersion/kind it emits, the controller looks up the
plural it writes to, the client and gateway query the same classes. Custom kinds are made with
kr8s's public ``new_class``; built-in kinds are kr8s's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kr8s.asyncio.objects import (  # noqa: F401  (re-exported: the built-in kinds the parts use)
    APIObject,
    ConfigMap,
    Event,
    Namespace,
    NetworkPolicy,
    Pod,
    ResourceQuota,
    RoleBinding,
    new_class,
)

DASK_GROUP = "kubernetes.dask.org"
DASK_API = f"{DASK_GROUP}/v1"
KUBEFLOW_API = "kubeflow.org/v1"
PODDEFAULT_API = "kubeflow.org/v1alpha1"

DaskCluster = new_class("DaskCluster", DASK_API, namespaced=True)
DaskWorkerGroup = new_class("DaskWorkerGroup", DASK_API, namespaced=True, scalable=True,
                            scalable_spec="worker.replicas")
DaskAutoscaler = new_class("DaskAutoscaler", DASK_API, namespaced=True)
DaskJob = new_class("DaskJob", DASK_API, namespaced=True)
PodDefault = new_class("PodDefault", PODDEFAULT_API, namespaced=True)
Profile = new_class("Profile", KUBEFLOW_API, namespaced=False)
SubjectAccessReview = new_class("SubjectAccessReview", "authorization.k8s.io/v1", namespaced=False)
SelfSubjectAccessReview = new_class("SelfSubjectAccessReview", "authorization.k8s.io/v1", namespaced=False)


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
            f"add it to dask_kubeflow.kube.resources.MANAGED_KINDS and to the controller's RBAC"
        ) from None
