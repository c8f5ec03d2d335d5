"""What ``dask-kubeflow status`` and ``doctor`` read: the namespace's objects, RBAC, a real connection.

Unlike ``connect()`` nothing here raises for an API error: every problem is recorded so the commands
can show all of them at once, each with its fix (see ``diagnose.doctor_checks``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import dask.config
import kr8s
from dask_kubernetes.operator._objects import DaskAutoscaler
from distributed import Client
from distributed.versions import get_versions
from kr8s.asyncio.objects import Event, Pod, ResourceQuota, new_class

from .cluster_api import (
    api,
    dask_api_served,
    forbidden,
    get_cluster,
    list_objects,
    run,
    scheduler_selector,
    status_code,
    worker_selector,
)
from .diagnose import compare_versions
from .environment import Environment
from .errors import ClusterNotFoundError, ConnectError, PermissionDeniedError
from .kubernetes import dashboard_link_template, open_cluster

__all__ = ["ACCESS_NEEDED", "ClusterSnapshot", "ProbeResult", "check_access", "probe", "snapshot"]

SelfSubjectAccessReview = new_class("SelfSubjectAccessReview", "authorization.k8s.io/v1", namespaced=False)


@dataclass
class ClusterSnapshot:
    """Everything ``status``/``doctor`` show about one namespace's cluster; read errors are recorded, not raised."""

    namespace: str
    name: str
    api_served: bool | None = None
    cluster: dict[str, Any] | None = None
    clusters: list[str] = field(default_factory=list)
    autoscaler: dict[str, Any] | None = None
    scheduler_pods: list[dict[str, Any]] = field(default_factory=list)
    worker_pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    quotas: list[dict[str, Any]] = field(default_factory=list)
    error: ConnectError | None = None
    api_error: str | None = None
    forbidden: list[PermissionDeniedError] = field(default_factory=list)
    """Reads the API server answered 403 (what RBAC really refused, beyond what access reviews say)."""
    pods_visible: bool = True


async def _snapshot(env: Environment) -> ClusterSnapshot:
    assert env.namespace is not None
    ns, name = env.namespace, env.cluster_name
    snap = ClusterSnapshot(ns, name)
    try:
        snap.api_served = await dask_api_served()
    except (kr8s.ServerError, OSError, ValueError) as err:
        snap.api_error = f"cannot reach the Kubernetes API: {err}"
        return snap
    try:
        snap.cluster = await get_cluster(name, ns)
    except ConnectError as err:
        snap.error = err
        if isinstance(err, ClusterNotFoundError):
            snap.clusters = err.existing
        if isinstance(err, PermissionDeniedError):
            snap.forbidden.append(err)
        return snap

    async def read(kind: type, resource: str, **selectors: str) -> list[dict[str, Any]] | None:
        try:
            return await list_objects(kind, ns, **selectors)
        except kr8s.ServerError as err:
            if status_code(err) == 403:
                denied = forbidden(err, "list", resource, ns)
                if all((d.verb, d.resource) != (denied.verb, denied.resource) for d in snap.forbidden):
                    snap.forbidden.append(denied)
            return None

    autoscalers = await read(DaskAutoscaler, "daskautoscalers.kubernetes.dask.org", field_selector=f"metadata.name={name}")
    snap.autoscaler = autoscalers[0] if autoscalers else None
    scheduler_pods = await read(Pod, "pods", label_selector=scheduler_selector(name))
    worker_pods = await read(Pod, "pods", label_selector=worker_selector(name))
    snap.pods_visible = scheduler_pods is not None
    snap.scheduler_pods, snap.worker_pods = scheduler_pods or [], worker_pods or []
    snap.events = await read(Event, "events") or []
    snap.quotas = await read(ResourceQuota, "resourcequotas") or []
    return snap


def snapshot(env: Environment) -> ClusterSnapshot:
    """Read the namespace's DaskCluster, autoscaler, pods, events and quotas (never raises for API errors)."""
    return run(_snapshot(env))


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


async def _check_access(namespace: str, in_pod: bool) -> list[tuple[str, str, bool | None, str]]:
    needed = [(*a, "") for a in ACCESS_NEEDED] + ([] if in_pod else [PORT_FORWARD])
    results = []
    for verb, resource, group, why, sub in needed:
        attrs = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
        if sub:
            attrs["subresource"] = sub
        review = SelfSubjectAccessReview({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                          "metadata": {}, "spec": {"resourceAttributes": attrs}}, api=await api())
        full = f"{resource}{'/' + sub if sub else ''}{'.' + group if group else ''}"
        try:
            await review.create()
            allowed: bool | None = bool(review.raw.get("status", {}).get("allowed"))
        except (kr8s.ServerError, kr8s.NotFoundError):
            allowed = None
        results.append((verb, full, allowed, why))
    return results


def check_access(namespace: str, in_pod: bool) -> list[tuple[str, str, bool | None, str]]:
    """(verb, resource, allowed, why) for every call connect() makes; allowed None = could not ask."""
    return run(_check_access(namespace, in_pod))


@dataclass
class ProbeResult:
    """What ``doctor``/``status`` learn by really connecting: reachability, versions, live size, dashboard."""

    scheduler_address: str | None = None
    error: str | None = None
    mismatches: dict[str, tuple[str | None, str | None]] | None = None
    workers: int | None = None
    threads: int | None = None
    memory: int | None = None
    dashboard_link: str | None = None
    dashboard_url: str | None = None
    dashboard_status: int | None = None
    dashboard_error: str | None = None


def _http_status(url: str, timeout: float) -> tuple[int | None, str | None]:
    """HTTP status of a GET (redirects followed), or the error that prevented one."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) URLs we built)
            return response.status, None
    except urllib.error.HTTPError as err:
        return err.code, None
    except (urllib.error.URLError, OSError) as err:
        return None, str(getattr(err, "reason", err))


def probe(env: Environment, cluster: dict[str, Any], timeout: float = 20.0) -> ProbeResult:
    """Connect like ``connect()`` does (never creating/deleting), then check versions and the dashboard.

    A relative dashboard link (``/dask/<ns>/<cluster>/status``, opened on the Kubeflow host) is checked
    against the scheduler's own dashboard port: the gateway forwards that path unchanged.
    """
    assert env.namespace is not None
    result = ProbeResult()
    if (template := dashboard_link_template(env, cluster)) is not None:
        dask.config.set({"distributed.dashboard.link": template})
    try:
        kube = open_cluster(env.cluster_name, env.namespace, timeout)
    except ConnectError as err:
        result.error = err.problem
        return result
    except Exception as err:  # noqa: BLE001 - reported as a failed check, with its type
        result.error = f"{type(err).__name__}: {err}"
        return result
    try:
        result.scheduler_address = kube.scheduler_address
        client = Client(kube, timeout=timeout)
        try:
            result.mismatches = compare_versions(get_versions(), client.sync(client.scheduler.versions, packages=[]))
            info = client.scheduler_info(n_workers=-1)
            workers = info.get("workers", {})
            result.workers = len(workers)
            result.threads = sum(w.get("nthreads", 0) for w in workers.values())
            result.memory = sum(w.get("memory_limit", 0) or 0 for w in workers.values())
            result.dashboard_link = link = client.dashboard_link
        finally:
            client.close()
        if link.startswith("/"):
            host = kube.scheduler_address.split("://", 1)[-1].rsplit(":", 1)[0]
            result.dashboard_url = f"http://{host}:{kube.forwarded_dashboard_port}{link}"
        else:
            result.dashboard_url = link
        result.dashboard_status, result.dashboard_error = _http_status(result.dashboard_url, timeout=min(timeout, 10.0))
    finally:
        kube.close()
    return result
