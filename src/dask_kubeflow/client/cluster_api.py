"""Every Kubernetes API read of connect(), ``status`` and ``doctor``: the one I/O module of client/.

Reads return the JSON the API server sent (plain dicts, what ``diagnose`` works on), through the
shared kr8s client (``kube.api.get_api``) on the shared loop thread (``kube.sync.run``). A failed
call is a ``kube.errors.KubeError``; a 403 becomes a ``PermissionDeniedError`` naming the RBAC verb
and resource. ``snapshot`` and ``check_access`` never raise for an API error: they record it, so
``doctor`` can show every problem at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from ..kube.api import Api, get_api
from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.names import STATUS_CONFIGMAP, USAGE_CONFIGMAP, pod_selector
from ..kube.namespace_status import from_configmap
from ..kube.usage_record import UsageRecord
from ..kube.usage_record import from_configmap as usage_from_configmap
from ..kube.resources import (
    DASK_API,
    ConfigMap,
    DaskAutoscaler,
    DaskCluster,
    Event,
    Pod,
    ResourceQuota,
    SelfSubjectAccessReview,
)
from ..kube import sync
from ..kube.sync import run
from .errors import (
    ClusterNotFoundError,
    ConnectError,
    KubeconfigError,
    OperatorNotInstalledError,
    PermissionDeniedError,
)
from .snapshot import Access, ClusterSnapshot

__all__ = [
    "ACCESS_NEEDED",
    "check_api",
    "API_TIMEOUT_ENV",
    "api_timeout",
    "call",
    "submit",
    "check_access",
    "dask_api_served",
    "events",
    "get_autoscaler",
    "get_cluster",
    "list_objects",
    "namespace_status",
    "resource_of",
    "scheduler_pods",
    "snapshot",
    "usage_record",
    "worker_pods",
]

log = logging.getLogger("dask_kubeflow")

Obj = dict[str, Any]
T = TypeVar("T")

API_TIMEOUT_ENV = "DASK_KUBEFLOW_API_TIMEOUT"
"""Seconds one Kubernetes API read may take before it counts as "no answer" (default 10)."""


def api_timeout() -> float:
    try:
        return max(float(os.environ.get(API_TIMEOUT_ENV, "10")), 0.05)
    except ValueError:
        return 10.0


async def _bounded(coro: Coroutine[Any, Any, T]) -> T:
    timeout = api_timeout()
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise KubeError(f"the Kubernetes API did not answer within {timeout:g} s", status=None,
                        detail=f"no answer within {timeout:g} s (${API_TIMEOUT_ENV} sets the limit)") from None


def call(coro: Coroutine[Any, Any, T]) -> T:
    """Run a read on the shared loop thread, bounded by ``api_timeout()`` (no answer: a KubeError)."""
    return run(_bounded(coro))


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start a bounded read on the shared loop thread and return its future at once."""
    return sync.submit(_bounded(coro))


async def _api(kubeconfig: str | None = None) -> Api:
    """The shared client; credentials kr8s cannot read become a KubeconfigError."""
    try:
        return await get_api(kubeconfig)
    except KubeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # kr8s parsing the kubeconfig
        raise KubeconfigError(f"cannot use the Kubernetes credentials: {type(err).__name__}: {err}") from None


def resource_of(kind: type) -> str:
    """``plural.group`` of a kr8s class, as RBAC and error messages name it (``pods``, ``daskclusters.kubernetes.dask.org``)."""
    group = kind.version.rpartition("/")[0]
    return f"{kind.endpoint}.{group}" if group else kind.endpoint


def _denied(err: KubeError) -> ConnectError | KubeError:
    """What to raise for ``err``: a 403 as the user-facing ``PermissionDeniedError``, the rest as is."""
    return PermissionDeniedError.from_kube(err) if err.forbidden() else err


async def dask_api_served() -> bool:
    api = await _api()
    try:
        return DASK_API in [v async for v in api.api_versions()]
    except API_ERRORS as err:
        raise from_exception(err, what="listing the API versions this cluster serves") from err


async def list_objects(kind: type, namespace: str, **selectors: str) -> list[Obj]:
    """One LIST request (kr8s's ``get(name)`` retries a missing object for 2 s; we want one answer)."""
    api = await _api()
    try:
        return [obj.raw async for obj in kind.list(api=api, namespace=namespace, **selectors)]
    except API_ERRORS as err:
        raise from_exception(err, verb="list", resource=resource_of(kind), namespace=namespace) from err


async def _list_named(kind: type, name: str, namespace: str) -> list[Obj]:
    return await list_objects(kind, namespace, field_selector=f"metadata.name={name}")


async def get_cluster(name: str, namespace: str) -> Obj:
    """The DaskCluster as JSON, or the ConnectError saying why it cannot be read."""
    try:
        if found := await _list_named(DaskCluster, name, namespace):
            return found[0]
    except KubeError as err:
        if not err.not_found:
            raise _denied(err) from None
    if not await dask_api_served():
        raise OperatorNotInstalledError(DASK_API)
    try:
        existing = sorted(c["metadata"]["name"] for c in await list_objects(DaskCluster, namespace))
    except KubeError as err:
        if err.status is None:
            raise
        existing = []
    raise ClusterNotFoundError(name, namespace, existing)


async def scheduler_pods(name: str, namespace: str) -> list[Obj]:
    try:
        return await list_objects(Pod, namespace, label_selector=pod_selector(name, "scheduler"))
    except KubeError as err:
        raise _denied(err) from None


async def worker_pods(name: str, namespace: str) -> list[Obj]:
    try:
        return await list_objects(Pod, namespace, label_selector=pod_selector(name, "worker"))
    except KubeError as err:
        raise _denied(err) from None


async def _answered_or_none(read: Awaitable[list[Obj]]) -> list[Obj] | None:
    """The read's objects; None when the API server refused it (any HTTP error); no answer raises."""
    try:
        return await read
    except KubeError as err:
        if err.status is None:
            raise
        return None


async def events(namespace: str) -> list[Obj]:
    """Namespace events (empty when RBAC forbids reading them: diagnosis then uses pod status only)."""
    return await _answered_or_none(list_objects(Event, namespace)) or []


async def get_autoscaler(name: str, namespace: str) -> Obj | None:
    found = await _answered_or_none(_list_named(DaskAutoscaler, name, namespace))
    return found[0] if found else None


class _Recorder:
    """Reads for a snapshot: a refused read is None, and its 403 is kept (once per verb and resource)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.forbidden: list[PermissionDeniedError] = []

    async def read(self, kind: type, **selectors: str) -> list[Obj] | None:
        try:
            return await list_objects(kind, self.namespace, **selectors)
        except KubeError as err:
            if err.status is None:
                raise
            if err.forbidden():
                self.denied(PermissionDeniedError.from_kube(err))
            return None

    def denied(self, err: PermissionDeniedError) -> None:
        if all((d.verb, d.resource) != (err.verb, err.resource) for d in self.forbidden):
            self.forbidden.append(err)


async def _find_cluster(namespace: str, name: str) -> ClusterSnapshot | Obj:
    """The DaskCluster, or the snapshot that explains why there is none to look at."""
    try:
        served = await dask_api_served()
    except (KubeError, ConnectError) as err:
        return ClusterSnapshot(namespace, name, api_error=_api_error(err), api_failure=err)
    try:
        return await get_cluster(name, namespace)
    except ConnectError as err:
        return ClusterSnapshot(
            namespace, name, api_served=served, error=err,
            clusters=tuple(err.existing) if isinstance(err, ClusterNotFoundError) else (),
            forbidden=(err,) if isinstance(err, PermissionDeniedError) else (),
        )


async def _snapshot(namespace: str, name: str) -> ClusterSnapshot:
    found = await _find_cluster(namespace, name)
    if isinstance(found, ClusterSnapshot):
        return found
    reads = _Recorder(namespace)
    autoscalers = await reads.read(DaskAutoscaler, field_selector=f"metadata.name={name}")
    schedulers = await reads.read(Pod, label_selector=pod_selector(name, "scheduler"))
    workers = await reads.read(Pod, label_selector=pod_selector(name, "worker"))
    return ClusterSnapshot(
        namespace, name, api_served=True, cluster=found,
        autoscaler=autoscalers[0] if autoscalers else None,
        scheduler_pods=tuple(schedulers or ()), worker_pods=tuple(workers or ()),
        events=tuple(await reads.read(Event) or ()),
        quotas=tuple(await reads.read(ResourceQuota) or ()),
        controller=_record(namespace, await reads.read(ConfigMap, field_selector=f"metadata.name={STATUS_CONFIGMAP}")),
        usage=_usage(namespace, await reads.read(ConfigMap, field_selector=f"metadata.name={USAGE_CONFIGMAP}")),
        forbidden=tuple(reads.forbidden), pods_visible=schedulers is not None,
    )


def _record(namespace: str, found: list[Obj] | None) -> dict[str, Any] | None:
    return None if found is None else from_configmap(namespace, found[0] if found else None)


def _usage(namespace: str, found: list[Obj] | None) -> UsageRecord | None:
    return usage_from_configmap(namespace, found[0]) if found else None


async def usage_record(namespace: str) -> UsageRecord | None:
    """The controller's usage record of ``namespace`` (one LIST of the ConfigMap by name, as the status
    record is read). None when there is none, it is unreadable, or the read failed: what it says is advice,
    never a reason for connect() to fail."""
    try:
        found = await _list_named(ConfigMap, USAGE_CONFIGMAP, namespace)
    except Exception as err:  # forbidden, no answer, bad credentials: connect() goes on without it
        log.debug("namespace %s: usage record not read (%s)", namespace, err)
        return None
    record = _usage(namespace, found)
    if found and record is None:
        log.debug("namespace %s: usage record %s is malformed; ignored", namespace, USAGE_CONFIGMAP)
    return record


def _api_error(err: KubeError | ConnectError) -> str:
    if isinstance(err, ConnectError):
        return err.problem
    return f"cannot reach the Kubernetes API: {err.detail}" if err.status is None else \
        f"the Kubernetes API answered HTTP {err.status}: {err.detail}"


def snapshot(namespace: str, name: str) -> ClusterSnapshot:
    """Read the namespace's DaskCluster, autoscaler, pods, events, quotas and the controller's status
    record (never raises for API errors: they are recorded, ``api_error`` when nothing could be read)."""
    try:
        return call(_snapshot(namespace, name))
    except (KubeError, ConnectError) as err:
        return ClusterSnapshot(namespace, name, api_error=_api_error(err), api_failure=err)


ACCESS_NEEDED: tuple[tuple[str, str, str, str], ...] = (
    # verb, resource, group, why
    # (kr8s reads single objects with a LIST + field selector, so "list" is what RBAC must allow)
    ("list", "daskclusters", "kubernetes.dask.org", "find the cluster"),
    ("list", "daskautoscalers", "kubernetes.dask.org", "show the worker minimum and maximum"),
    ("list", "pods", "", "see the scheduler and workers"),
    ("list", "services", "", "find the scheduler address"),
    ("list", "events", "", "explain pods that do not start"),
)
PORT_FORWARD = ("create", "pods", "", "port-forward from outside the cluster", "portforward")


async def _review(namespace: str, verb: str, resource: str, group: str, sub: str) -> bool | None:
    """Whether this user may ``verb`` the resource (None: the review itself failed)."""
    attrs = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
    if sub:
        attrs["subresource"] = sub
    review = SelfSubjectAccessReview({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                      "metadata": {}, "spec": {"resourceAttributes": attrs}}, api=await _api())
    try:
        await review.create()
    except API_ERRORS as err:
        if from_exception(err).status is None:
            raise from_exception(err, verb="create", resource="selfsubjectaccessreviews.authorization.k8s.io") from err
        return None
    return bool(review.raw.get("status", {}).get("allowed"))


async def _check_access(namespace: str, in_pod: bool) -> list[Access]:
    needed = [(*a, "") for a in ACCESS_NEEDED] + ([] if in_pod else [PORT_FORWARD])
    results = []
    for verb, resource, group, why, sub in needed:
        full = f"{resource}{'/' + sub if sub else ''}{'.' + group if group else ''}"
        results.append(Access(verb, full, await _review(namespace, verb, resource, group, sub), why))
    return results


def check_access(namespace: str, in_pod: bool) -> list[Access]:
    """(verb, resource, allowed, why) for every call connect() makes; allowed None = could not ask."""
    return call(_check_access(namespace, in_pod))


async def _namespace_status(namespace: str) -> dict[str, Any]:
    try:
        found = await _list_named(ConfigMap, STATUS_CONFIGMAP, namespace)
    except KubeError as err:
        if not err.not_found:
            raise RuntimeError(f"cannot read the dask-kubeflow status of namespace {namespace}: {err.detail}") from None
        found = []
    return from_configmap(namespace, found[0] if found else None)


def namespace_status(namespace: str) -> dict[str, Any]:
    """What the controller last reported for ``namespace`` (its status ConfigMap, see
    ``kube.namespace_status.from_configmap``); raises RuntimeError saying why it could not be read."""
    return call(_namespace_status(namespace))


def check_api(kubeconfig: str | None = None) -> None:
    """Raise the ConnectError that says why the Kubernetes API cannot be used with these credentials
    (``kubeconfig``, else ``$KUBECONFIG``, else the pod's service account); return when it answers.
    What the server commands check before they start, so a bad kubeconfig is two lines, not a retry loop."""
    from .environment import in_cluster_server, kubeconfig_context
    from .errors import from_api_failure

    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    if path and not any(os.path.isfile(p) for p in path.split(os.pathsep) if p):
        raise KubeconfigError(f"kubeconfig {path} does not exist",
                              "pass the path of an existing kubeconfig (--kubeconfig or KUBECONFIG); inside the "
                              "cluster leave both unset to use the pod's service account")
    server = kubeconfig_context(path)[1] if path else in_cluster_server(os.environ)
    try:
        call(_api(kubeconfig))
    except (KubeError, ConnectError) as err:
        where = f"kubeconfig {path}" if path else "the pod's service account"
        raise from_api_failure(err, server or "(unknown server)", where) from None
