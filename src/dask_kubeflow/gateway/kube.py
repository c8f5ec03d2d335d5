"""Every Kubernetes API call the gateway makes, in one place (kr8s, through ``dask_kubeflow.kube``).

The gateway asks four things: may this user see Dask clusters in this namespace (a
SubjectAccessReview, so Kubeflow's owner/contributor RoleBindings decide), does the namespace exist,
which DaskCluster has this name, and what clusters and autoscalers a namespace holds. A call the API
refuses or does not answer raises ``kube.errors.KubeError``; "not found" is an answer, not an error.
"""

from __future__ import annotations

from typing import Any, Protocol

import kr8s

from ..kube.api import Api, get_api
from ..kube.errors import API_ERRORS, from_exception
from ..kube.kinds import DASK_AUTOSCALER, DASK_CLUSTER, DASK_GROUP
from ..kube import wake
from ..kube.resources import ConfigMap, DaskAutoscaler, DaskCluster, Event, Namespace, Pod, SubjectAccessReview

__all__ = ["Directory", "Kr8sDirectory", "access_review"]


class Directory(Protocol):
    """What the gateway needs from Kubernetes; objects are returned as plain manifests (dicts).

    Implementations raise ``KubeError`` (or anything in ``kube.errors.API_ERRORS``) when the API
    cannot answer."""

    async def may_view_clusters(self, user: str, namespace: str) -> bool: ...

    async def namespace_exists(self, namespace: str) -> bool: ...

    async def get_cluster(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_clusters(self, namespace: str) -> list[dict[str, Any]]: ...

    async def list_autoscalers(self, namespace: str) -> list[dict[str, Any]]: ...


def access_review(user: str, namespace: str, verb: str = "get") -> dict[str, Any]:
    """The SubjectAccessReview asking whether ``user`` may ``verb`` DaskClusters in ``namespace``."""
    return {
        "apiVersion": SubjectAccessReview.version,
        "kind": SubjectAccessReview.kind,
        "spec": {
            "user": user,
            "resourceAttributes": {
                "namespace": namespace,
                "verb": verb,
                "group": DASK_GROUP,
                "resource": DASK_CLUSTER.plural,
            },
        },
    }


class Kr8sDirectory:
    """The real directory: the Kubernetes API through kr8s (kubeconfig or in-cluster service account)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> Kr8sDirectory:
        return cls(await get_api(kubeconfig))

    async def may_view_clusters(self, user: str, namespace: str) -> bool:
        return await self.may(user, namespace, "get")

    async def may(self, user: str, namespace: str, verb: str) -> bool:
        """May ``user`` ``verb`` DaskClusters in ``namespace`` (a SubjectAccessReview)?"""
        review = SubjectAccessReview(access_review(user, namespace, verb), api=self.api)
        try:
            await review.create()
        except API_ERRORS as err:
            raise from_exception(err, verb="create", resource="subjectaccessreviews.authorization.k8s.io",
                                 what=f"ask whether {user} may {verb} {DASK_CLUSTER.resource} in namespace "
                                      f"{namespace} (SubjectAccessReview)") from err
        return bool(review.raw.get("status", {}).get("allowed", False))

    # -- the clusters page's writes and its phase/refusal reads (cluster_actions.py) ---------------
    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create a DaskCluster or DaskAutoscaler; a refusal (admission, RBAC) raises ``KubeError``."""
        kind = DaskCluster if manifest["kind"] == DaskCluster.kind else DaskAutoscaler
        obj = kind(manifest, api=self.api)
        try:
            await obj.create()
        except API_ERRORS as err:
            raise from_exception(err, verb="create", resource=kind.endpoint, namespace=obj.namespace or "",
                                 what=f"create {manifest['kind']} {obj.name}") from err
        return obj.raw

    async def delete(self, kind_name: str, namespace: str, name: str) -> bool:
        """Delete a DaskCluster or DaskAutoscaler; False if it was not there."""
        kind = DaskCluster if kind_name == DaskCluster.kind else DaskAutoscaler
        try:
            await kind({"metadata": {"name": name, "namespace": namespace}}, api=self.api).delete()
        except kr8s.NotFoundError:
            return False
        except API_ERRORS as err:
            raise from_exception(err, verb="delete", resource=kind.endpoint, namespace=namespace,
                                 what=f"delete {kind_name} {name} in namespace {namespace}") from err
        return True

    async def list_core(self, kind_name: str, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        """Pods (by label) or Events of a namespace."""
        kind = Pod if kind_name == "Pod" else Event
        selectors = {"label_selector": label_selector} if label_selector else {}
        try:
            return [o.raw async for o in self.api.async_get(kind, namespace=namespace, **selectors)]
        except API_ERRORS as err:
            raise from_exception(err, verb="list", resource=kind.endpoint, namespace=namespace,
                                 what=f"list {kind.endpoint} in namespace {namespace}") from err

    # -- hibernation (wake_door.py): the wake request, the controller's status/usage records ---------
    async def request_wake(self, namespace: str, name: str) -> None:
        """The annotation-only wake patch, as the gateway's ServiceAccount (``KubeError`` if refused)."""
        await wake.request_wake(self.api, name, namespace)

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One of the controller's records (status, usage); None when it does not exist."""
        obj = ConfigMap({"metadata": {"name": name, "namespace": namespace}}, api=self.api)
        try:
            await obj.refresh()
        except kr8s.NotFoundError:
            return None
        except API_ERRORS as err:
            raise from_exception(err, verb="get", resource="configmaps", namespace=namespace,
                                 what=f"get ConfigMap {name} in namespace {namespace}") from err
        return obj.raw

    async def namespace_owner(self, namespace: str) -> str | None:
        """The profile owner Kubeflow records on the Namespace (annotation ``owner``), if any."""
        obj = Namespace({"metadata": {"name": namespace}}, api=self.api)
        try:
            await obj.refresh()
        except kr8s.NotFoundError:
            return None
        except API_ERRORS as err:
            raise from_exception(err, verb="get", resource="namespaces", what=f"get namespace {namespace}") from err
        return (obj.raw.get("metadata", {}).get("annotations") or {}).get("owner")

    async def namespace_exists(self, namespace: str) -> bool:
        try:
            await Namespace({"metadata": {"name": namespace}}, api=self.api).refresh()
        except kr8s.NotFoundError:
            return False
        except API_ERRORS as err:
            raise from_exception(err, verb="get", resource="namespaces", what=f"get namespace {namespace}") from err
        return True

    async def get_cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        cluster = DaskCluster({"metadata": {"name": name, "namespace": namespace}}, api=self.api)
        try:
            await cluster.refresh()
        except kr8s.NotFoundError:
            return None
        except API_ERRORS as err:
            raise from_exception(err, verb="get", resource=DASK_CLUSTER.resource, namespace=namespace,
                                 what=f"get DaskCluster {name} in namespace {namespace}") from err
        return cluster.raw

    async def list_clusters(self, namespace: str) -> list[dict[str, Any]]:
        try:
            return [c.raw async for c in self.api.async_get(DaskCluster, namespace=namespace)]
        except API_ERRORS as err:
            raise from_exception(err, verb="list", resource=DASK_CLUSTER.resource, namespace=namespace,
                                 what=f"list DaskClusters in namespace {namespace}") from err

    async def list_autoscalers(self, namespace: str) -> list[dict[str, Any]]:
        try:
            return [a.raw async for a in self.api.async_get(DaskAutoscaler, namespace=namespace)]
        except API_ERRORS as err:
            raise from_exception(err, verb="list", resource=DASK_AUTOSCALER.resource, namespace=namespace,
                                 what=f"list DaskAutoscalers in namespace {namespace}") from err
