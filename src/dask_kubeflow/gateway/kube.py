"""Every Kubernetes API call the gateway makes, in one place (kr8s).

The gateway asks four things: may this user see Dask clusters in this namespace (a
SubjectAccessReview, so Kubeflow's owner/contributor RoleBindings decide), does the namespace exist,
which DaskCluster has this name, and what clusters and autoscalers a namespace holds.
"""

from __future__ import annotations

from typing import Any, Protocol

import kr8s
import kr8s.asyncio
from kr8s.asyncio.objects import Namespace, new_class

DASK_GROUP = "kubernetes.dask.org"
DASKCLUSTER_RESOURCE = "daskclusters"

SubjectAccessReview = new_class(
    "SubjectAccessReview", "authorization.k8s.io/v1", namespaced=False
)
DaskCluster = new_class("DaskCluster", f"{DASK_GROUP}/v1", namespaced=True)
DaskAutoscaler = new_class("DaskAutoscaler", f"{DASK_GROUP}/v1", namespaced=True)


class Directory(Protocol):
    """What the gateway needs from Kubernetes; objects are returned as plain manifests (dicts)."""

    async def may_view_clusters(self, user: str, namespace: str) -> bool: ...

    async def namespace_exists(self, namespace: str) -> bool: ...

    async def get_cluster(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_clusters(self, namespace: str) -> list[dict[str, Any]]: ...

    async def list_autoscalers(self, namespace: str) -> list[dict[str, Any]]: ...


def access_review(user: str, namespace: str) -> dict[str, Any]:
    """The SubjectAccessReview asking whether ``user`` may get DaskClusters in ``namespace``."""
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "resourceAttributes": {
                "namespace": namespace,
                "verb": "get",
                "group": DASK_GROUP,
                "resource": DASKCLUSTER_RESOURCE,
            },
        },
    }


class Kr8sDirectory:
    """The real directory: the Kubernetes API through kr8s (kubeconfig or in-cluster service account)."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        self.api = api

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> "Kr8sDirectory":
        return cls(await kr8s.asyncio.api(kubeconfig=kubeconfig))

    async def may_view_clusters(self, user: str, namespace: str) -> bool:
        review = SubjectAccessReview(access_review(user, namespace), api=self.api)
        await review.create()
        return bool(review.raw.get("status", {}).get("allowed", False))

    async def namespace_exists(self, namespace: str) -> bool:
        try:
            await Namespace({"metadata": {"name": namespace}}, api=self.api).refresh()
        except kr8s.NotFoundError:
            return False
        return True

    async def get_cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        cluster = DaskCluster({"metadata": {"name": name, "namespace": namespace}}, api=self.api)
        try:
            await cluster.refresh()
        except kr8s.NotFoundError:
            return None
        return cluster.raw

    async def list_clusters(self, namespace: str) -> list[dict[str, Any]]:
        return [c.raw async for c in self.api.async_get(DaskCluster, namespace=namespace)]

    async def list_autoscalers(self, namespace: str) -> list[dict[str, Any]]:
        return [a.raw async for a in self.api.async_get(DaskAutoscaler, namespace=namespace)]
