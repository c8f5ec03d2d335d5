"""User clusters from Python: ``create_cluster``, ``delete_cluster``, ``list_clusters``.

A user cluster is a DaskCluster of one's own beside the namespace's shared one, shaped by the tier.
The client does not know the tier (the policy is the controller's): it sends a DaskCluster carrying
only the name and the requested sizes (``render.user_cluster.user_cluster_request``), and the
controller's admission webhooks render it from the tier and hold it to ``userClusters``. A
refusal is raised as ``ClusterRefusedError`` with the webhook's own words (which limit, what to do).
Connect to one with ``dask_kubeflow.connect(cluster_name=NAME)``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ..kube import sync
from ..kube.api import get_api
from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL, MAX_CLUSTER_NAME, gateway_prefix, is_dns_label
from ..kube.resources import DaskAutoscaler, DaskCluster
from ..render.user_cluster import (RequestError, Requested, is_user_cluster, owner_of, requested_of,
                                   user_cluster_request)
from .cluster_api import call, list_objects, scheduler_pods
from .diagnose import explain_pods, pod_is_ready, scheduler_owners
from .errors import ConnectError

__all__ = ["ClusterInfo", "ClusterRefusedError", "create_cluster", "delete_cluster", "list_clusters",
           "refusal_text"]

_DENIED = "denied the request: "
POLL_SECONDS = 0.5


class ClusterRefusedError(ConnectError):
    """The API server (the tier's admission webhook, or RBAC) refused to create or delete a cluster."""


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    namespace: str
    managed: bool
    user_cluster: bool
    owner: str | None
    max_workers: int | None
    ready: bool | None = None

    @property
    def dashboard_path(self) -> str:
        return f"{gateway_prefix(self.namespace, self.name)}/status"

    @property
    def snippet(self) -> str:
        """The two lines to paste into a notebook."""
        return f'import dask_kubeflow\nclient = dask_kubeflow.connect(cluster_name="{self.name}")'


def refusal_text(err: KubeError | Exception) -> str:
    """The webhook's message without the API server's ``admission webhook "..." denied the request:``."""
    text = str(getattr(err, "detail", "") or err)
    return text.split(_DENIED, 1)[1] if _DENIED in text else text


def _namespace(namespace: str | None) -> str:
    if namespace:
        return namespace
    from .environment import detect

    env = detect()
    if env.namespace is None:
        raise ConnectError(f"no namespace to work in ({env.explain()})",
                           "pass namespace=... (or --namespace), or run this in a Kubeflow notebook")
    return env.namespace


def _check_name(name: str) -> None:
    if not is_dns_label(name) or len(name) > MAX_CLUSTER_NAME:
        raise ConnectError(f"{name!r} cannot be a Dask cluster name",
                           f"use at most {MAX_CLUSTER_NAME} lowercase letters, digits and '-', starting and "
                           "ending with a letter or digit, e.g. 'my-analysis'")


def _refused(err: BaseException, doing: str, namespace: str) -> ConnectError:
    problem = from_exception(err, what=doing, namespace=namespace)
    if problem.status in (400, 403, 409, 422):
        fix = ("see `dask-kubeflow cluster list` for the clusters of this namespace"
               if problem.status != 403 or _DENIED in str(problem.detail) else
               "ask the namespace owner for edit access (Manage Contributors in the central dashboard)")
        return ClusterRefusedError(f"cannot {doing}: {refusal_text(problem)}", fix)
    return ClusterRefusedError(f"cannot {doing}: {problem}", "retry in a minute; if it persists, run "
                               "`dask-kubeflow doctor`")


async def _create(namespace: str, name: str, requested: Requested) -> dict[str, Any]:
    api = await get_api()
    cluster, autoscaler = user_cluster_request(namespace, name, requested)
    created = DaskCluster(cluster, api=api)
    try:
        await created.create()
    except API_ERRORS as err:
        raise _refused(err, f"create Dask cluster {name!r} in namespace {namespace!r}", namespace) from None
    if any(c.get("name") == "placeholder" for c in created.raw["spec"]["worker"]["spec"].get("containers", [])):
        await created.delete()
        raise ClusterRefusedError(
            f"Dask cluster {name!r} was stored as sent: dask-kubeflow's admission webhooks are not installed, "
            "so nothing rendered it from your tier (deleted again)",
            "ask your platform admin to install deploy/base/webhooks (docs/admission.md)")
    try:
        await DaskAutoscaler(autoscaler, api=api).create()
    except API_ERRORS as err:
        await created.delete()
        raise _refused(err, f"create the autoscaler of {name!r} (the cluster was deleted again)",
                       namespace) from None
    return created.raw


async def _wait_ready(namespace: str, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pods: list[Any] = []
    while time.monotonic() < deadline:
        pods = await scheduler_pods(name, namespace)
        if any(pod_is_ready(p) for p in pods):
            return
        await asyncio.sleep(POLL_SECONDS)
    found = explain_pods(pods, [], namespace, owners=scheduler_owners(name))
    reason = found.reason if found else "its scheduler pod is not ready yet"
    raise ConnectError(f"Dask cluster {name!r} in {namespace!r} was created but is not ready after "
                       f"{timeout:.0f}s: {reason}", found.fix if found else
                       f"run `dask-kubeflow status --cluster {name}`, or wait and connect later")


def create_cluster(name: str, workers: int | None = None, worker_cpu: str | None = None,
                   worker_memory: str | None = None, *, namespace: str | None = None, wait: bool = True,
                   timeout: float = 300.0) -> ClusterInfo:
    """Create Dask cluster ``name`` of your own, shaped by the namespace's tier.

    ``workers`` is the most it autoscales to (it idles at 0), ``worker_cpu``/``worker_memory`` each
    worker's size (at most the tier's; left out: the tier's). With ``wait`` it returns once the
    scheduler is ready. Raises ``ClusterRefusedError`` naming the tier's limit when it is over it."""
    _check_name(name)
    try:
        requested = Requested(workers=workers, worker_cpu=worker_cpu, worker_memory=worker_memory)
    except RequestError as err:
        raise ConnectError(str(err), "see `dask-kubeflow cluster create --help`") from None
    ns = _namespace(namespace)
    raw = call(_create(ns, name, requested))
    if wait:
        sync.run(_wait_ready(ns, name, timeout), timeout + 30)  # `call` bounds one read, not a wait
    return _info(ns, raw, [])


async def _delete(namespace: str, name: str) -> None:
    api = await get_api()
    doing = f"delete Dask cluster {name!r} in namespace {namespace!r}"
    try:
        await DaskCluster({"metadata": {"name": name, "namespace": namespace}}, api=api).delete()
    except API_ERRORS as err:
        problem = from_exception(err, what=doing, namespace=namespace)
        if problem.not_found:
            raise ConnectError(f"cannot {doing}: there is no such cluster",
                               "see `dask-kubeflow cluster list`") from None
        raise _refused(err, doing, namespace) from None
    for autoscaler in await list_objects(DaskAutoscaler, namespace):
        if (autoscaler.get("spec") or {}).get("cluster") == name:
            try:
                await DaskAutoscaler(autoscaler, api=api).delete()
            except API_ERRORS:
                pass  # gone already, or the operator's garbage collection will take it


def delete_cluster(name: str, *, namespace: str | None = None) -> None:
    """Delete Dask cluster ``name`` (one's own; the namespace's shared cluster is refused)."""
    call(_delete(_namespace(namespace), name))


def _info(namespace: str, cluster: dict[str, Any], autoscalers: list[Any]) -> ClusterInfo:
    name = cluster["metadata"]["name"]
    maximum = next(((a.get("spec") or {}).get("maximum") for a in autoscalers
                    if (a.get("spec") or {}).get("cluster") == name), None)
    if maximum is None and is_user_cluster(cluster):
        try:
            maximum = requested_of(cluster).workers
        except RequestError:
            maximum = None
    labels = cluster["metadata"].get("labels") or {}
    return ClusterInfo(name=name, namespace=namespace, managed=labels.get(MANAGED_BY_LABEL) == MANAGED_BY,
                       user_cluster=is_user_cluster(cluster), owner=owner_of(cluster), max_workers=maximum)


async def _list(namespace: str) -> list[ClusterInfo]:
    clusters, autoscalers = await asyncio.gather(list_objects(DaskCluster, namespace),
                                                 list_objects(DaskAutoscaler, namespace))
    infos = [_info(namespace, c, autoscalers) for c in clusters]
    return sorted(infos, key=lambda i: (not i.managed, i.name))


def list_clusters(*, namespace: str | None = None) -> list[ClusterInfo]:
    """Every Dask cluster of the namespace: the shared one first, then the users'."""
    ns = _namespace(namespace)
    try:
        return call(_list(ns))
    except KubeError as err:
        raise _refused(err, f"list the Dask clusters of namespace {ns!r}", ns) from None
