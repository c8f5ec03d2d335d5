"""Connect to a namespace's existing Dask cluster through the Kubernetes API (kr8s + dask-kubernetes).

``connect_kubernetes`` never creates and never deletes: it checks the DaskCluster exists (turning
404/403 into errors that name the fix), waits for the scheduler pod with a visible spinner and a
deadline (on timeout the reason is read from pod status and events), then hands over to
``KubeCluster.from_name(..., shutdown_on_close=False)`` — the same call as the seed's snippet — and
checks client and scheduler run the same Dask. ``snapshot`` gathers the same facts for ``status`` and
``doctor`` without raising.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dask.config
import kr8s
from dask_kubernetes.operator import KubeCluster
from dask_kubernetes.operator._objects import DaskAutoscaler, DaskCluster
from distributed import Client
from distributed.versions import get_versions
from kr8s.asyncio.objects import Event, Pod, ResourceQuota, new_class
from rich.console import Console

from ..render.constants import DASHBOARD_PREFIX_ANNOTATION, ENV_DASHBOARD_LINK
from .diagnose import Diagnosis, compare_versions, explain_forbidden, explain_pods, pod_is_ready, summarize_phase
from .environment import Environment
from .errors import (
    ClusterNotFoundError,
    ConnectError,
    OperatorNotInstalledError,
    PermissionDeniedError,
    SchedulerNotReadyError,
    SchedulerUnreachableError,
    VersionMismatchError,
    WorkersNotReadyError,
)

__all__ = [
    "DASHBOARD_PREFIX_ANNOTATION",
    "DASK_API",
    "VERSION_CHECK_ENV",
    "ClusterSnapshot",
    "check_access",
    "connect_kubernetes",
    "snapshot",
]

DASK_API = "kubernetes.dask.org/v1"
DASKCLUSTERS = "daskclusters.kubernetes.dask.org"
VERSION_CHECK_ENV = "DASK_KUBEFLOW_VERSION_CHECK"
"""``error`` (default): refuse mismatched dask/distributed; ``warn``: warn and connect; ``off``."""
POLL_SECONDS = 0.25

SelfSubjectAccessReview = new_class("SelfSubjectAccessReview", "authorization.k8s.io/v1", namespaced=False)

T = TypeVar("T")


class _Loop:
    """One daemon thread running an asyncio loop for kr8s calls.

    Notebook kernels already run a loop in the main thread, so ``asyncio.run`` is not an option;
    a single long-lived loop also keeps kr8s's cached API session warm between calls.
    """

    _instance: _Loop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="dask-kubeflow-kr8s", daemon=True).start()

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
        return asyncio.run_coroutine_threadsafe(coro, cls._instance.loop).result(timeout)


def _forbidden(err: kr8s.ServerError, verb: str, resource: str, namespace: str) -> PermissionDeniedError:
    message = str(err.status.get("message", "")) if isinstance(err.status, dict) else str(err)
    verb, resource, user = explain_forbidden(message, verb=verb, resource=resource, namespace=namespace)
    return PermissionDeniedError(verb, resource, namespace, user)


def _status_code(err: kr8s.ServerError) -> int | None:
    return err.response.status_code if err.response is not None else None


async def _api() -> kr8s.asyncio.Api:
    """The kr8s client for the current $KUBECONFIG (in a pod: the service account)."""
    return await kr8s.asyncio.api(kubeconfig=os.environ.get("KUBECONFIG") or None)


async def _dask_api_served() -> bool:
    api = await _api()
    return DASK_API in [v async for v in api.api_versions()]


async def _list(kind: type, namespace: str, **selectors: str) -> list[dict[str, Any]]:
    """One LIST request (kr8s's ``get(name)`` retries a missing object for 2 s; we want one answer)."""
    api = await _api()
    return [obj.raw async for obj in kind.list(api=api, namespace=namespace, **selectors)]


def _scheduler_selector(name: str) -> str:
    return f"dask.org/cluster-name={name},dask.org/component=scheduler"


def _worker_selector(name: str) -> str:
    return f"dask.org/cluster-name={name},dask.org/component=worker"


async def _get_cluster(name: str, namespace: str) -> dict[str, Any]:
    """The DaskCluster as JSON, or the ConnectError saying why it cannot be read."""
    try:
        found = await _list(DaskCluster, namespace, field_selector=f"metadata.name={name}")
        if found:
            return found[0]
    except kr8s.ServerError as err:
        if _status_code(err) == 403:
            raise _forbidden(err, "list", DASKCLUSTERS, namespace) from None
        if _status_code(err) != 404:
            raise
    if not await _dask_api_served():
        raise OperatorNotInstalledError(DASK_API)
    try:
        existing = sorted(c["metadata"]["name"] for c in await _list(DaskCluster, namespace))
    except kr8s.ServerError:
        existing = []
    raise ClusterNotFoundError(name, namespace, existing)


async def _scheduler_pods(name: str, namespace: str) -> list[dict[str, Any]]:
    try:
        return await _list(Pod, namespace, label_selector=_scheduler_selector(name))
    except kr8s.ServerError as err:
        if _status_code(err) == 403:
            raise _forbidden(err, "list", "pods", namespace) from None
        raise


async def _first_look(name: str, namespace: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """DaskCluster and scheduler pods in parallel: one round trip when all is well."""
    cluster, pods = await asyncio.gather(_get_cluster(name, namespace), _scheduler_pods(name, namespace),
                                         return_exceptions=True)
    if isinstance(cluster, BaseException):
        raise cluster
    if isinstance(pods, BaseException):
        raise pods
    return cluster, pods


async def _events(namespace: str) -> list[dict[str, Any]]:
    """Namespace events (empty when RBAC forbids reading them: diagnosis then uses pod status only)."""
    try:
        return await _list(Event, namespace)
    except kr8s.ServerError:
        return []


@contextmanager
def _spinner(enabled: bool, text: str) -> Iterator[Callable[[str], None]]:
    """A rich spinner on stderr (also rendered in Jupyter); yields a function to update its text."""
    if not enabled:
        yield lambda _text: None
        return
    console = Console(stderr=True)
    with console.status(text, spinner="dots") as status:
        yield lambda detail: status.update(f"{text}: {detail}")


def _dashboard_link_template(env: Environment, cluster: dict[str, Any]) -> str | None:
    """The link template to put into dask config, or None to keep the PodDefault's/user's own.

    Schedulers serve the dashboard under the gateway prefix (``/dask/<ns>/<cluster>``): inside a
    notebook the relative link opens on the Kubeflow host; through a port-forward it opens locally.
    """
    if env.dashboard_link or os.environ.get(ENV_DASHBOARD_LINK):
        return None
    prefix = (cluster.get("metadata", {}).get("annotations") or {}).get(DASHBOARD_PREFIX_ANNOTATION)
    if not prefix:
        return None
    prefix = prefix.rstrip("/")
    return f"{prefix}/status" if env.in_pod else "{scheme}://{host}:{port}" + prefix + "/status"


def _open_cluster(name: str, namespace: str, timeout: float) -> KubeCluster:
    """``KubeCluster.from_name`` with a deadline (it waits forever for an unreachable scheduler)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["cluster"] = KubeCluster.from_name(name, namespace=namespace, shutdown_on_close=False, quiet=True)
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name=f"dask-kubeflow-connect-{namespace}-{name}", daemon=True)
    thread.start()
    thread.join(max(timeout, 0.1))
    if thread.is_alive():
        raise SchedulerUnreachableError(name, namespace, timeout, "the scheduler pod is ready but its service "
                                        "did not answer (no route, or the port-forward failed)")
    if "error" in box:
        err = box["error"]
        if isinstance(err, kr8s.ServerError) and _status_code(err) == 403:
            raise _forbidden(err, "list", "services", namespace) from err
        raise err
    return box["cluster"]


def _check_versions(client: Client, image: str | None) -> None:
    mode = os.environ.get(VERSION_CHECK_ENV, "error").lower()
    if mode == "off":
        return
    theirs = client.sync(client.scheduler.versions, packages=[])
    mismatches = compare_versions(get_versions(), theirs)
    if not mismatches:
        return
    err = VersionMismatchError(mismatches, image)
    if mode == "warn":
        warnings.warn(str(err), stacklevel=3)
        return
    client.close()
    raise err


def _wait_for_workers(client: Client, env: Environment, n: int, timeout: float, autoscaler: dict | None) -> None:
    name, namespace = env.cluster_name, env.namespace
    assert namespace is not None
    maximum = (autoscaler or {}).get("spec", {}).get("maximum")
    if maximum is not None and n > int(maximum):
        client.close()
        raise WorkersNotReadyError(name, namespace, n, len(client.scheduler_info()["workers"]), 0,
                                   f"the cluster's autoscaler allows at most {maximum} workers",
                                   f"use wait_for_workers={maximum} or fewer, or ask your admin for a bigger tier")
    try:
        client.wait_for_workers(n, timeout=max(timeout, 0.1))
        return
    except (TimeoutError, asyncio.TimeoutError):
        pass
    got = len(client.scheduler_info()["workers"])
    pods = _Loop.run(_list(Pod, namespace, label_selector=_worker_selector(name)))
    events = _Loop.run(_events(namespace))
    diagnosis = explain_pods(pods, events, namespace, what="worker", owners=[f"{name}-default-worker"])
    if diagnosis is None:
        minimum = (autoscaler or {}).get("spec", {}).get("minimum")
        diagnosis = Diagnosis(
            f"{len(pods)} worker pod(s) exist" + (f"; the autoscaler keeps {minimum} when idle" if minimum is not None else ""),
            "workers start when work is submitted (adaptive scaling); submit work instead of waiting, or wait longer",
        )
    client.close()
    raise WorkersNotReadyError(name, namespace, n, got, timeout, diagnosis.reason, diagnosis.fix)


def connect_kubernetes(
    env: Environment,
    *,
    wait_for_workers: int = 0,
    timeout: float = 120.0,
    progress: bool = True,
) -> Client:
    """A Client on ``env``'s existing DaskCluster; raises a ``ConnectError`` subclass saying what to do."""
    if env.namespace is None:
        raise ConnectError(f"no namespace to look for Dask cluster {env.cluster_name!r} in ({env.explain()})",
                           "pass connect(namespace=...) or set DASK_KUBERNETES__NAMESPACE")
    name, namespace = env.cluster_name, env.namespace
    deadline = time.monotonic() + timeout
    with _spinner(progress, f"Connecting to Dask cluster {namespace}/{name}") as show:
        cluster, pods = _Loop.run(_first_look(name, namespace))
        while not any(pod_is_ready(p) for p in pods):
            show(summarize_phase(cluster, pods))
            if time.monotonic() >= deadline:
                events = _Loop.run(_events(namespace))
                diagnosis = explain_pods(pods, events, namespace, owners=[f"{name}-scheduler"], cluster=cluster)
                diagnosis = diagnosis or Diagnosis("the scheduler pod became ready just now", "try again")
                raise SchedulerNotReadyError(name, namespace, timeout, diagnosis.reason, diagnosis.fix)
            time.sleep(POLL_SECONDS)
            pods = _Loop.run(_scheduler_pods(name, namespace))
        show("scheduler ready; connecting")
        if (template := _dashboard_link_template(env, cluster)) is not None:
            dask.config.set({"distributed.dashboard.link": template})
        kube = _open_cluster(name, namespace, deadline - time.monotonic())
        client = Client(kube, timeout=max(deadline - time.monotonic(), 5.0))
        image = next(iter(cluster.get("spec", {}).get("scheduler", {}).get("spec", {}).get("containers", [])), {}).get("image")
        _check_versions(client, image)
        if wait_for_workers:
            show(f"waiting for {wait_for_workers} worker(s)")
            autoscaler = _Loop.run(_get_autoscaler(name, namespace))
            _wait_for_workers(client, env, wait_for_workers, deadline - time.monotonic(), autoscaler)
    print(f"dask-kubeflow: connected to {namespace}/{name} ({env.explain()}); dashboard: {client.dashboard_link}",
          file=sys.stderr)
    return client


async def _get_autoscaler(name: str, namespace: str) -> dict[str, Any] | None:
    try:
        found = await _list(DaskAutoscaler, namespace, field_selector=f"metadata.name={name}")
    except kr8s.ServerError:
        return None
    return found[0] if found else None


# ---------------------------------------------------------------- status / doctor


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


async def _snapshot(env: Environment) -> ClusterSnapshot:
    assert env.namespace is not None
    snap = ClusterSnapshot(env.namespace, env.cluster_name)
    try:
        snap.api_served = await _dask_api_served()
    except (kr8s.ServerError, OSError, ValueError) as err:
        snap.api_error = f"cannot reach the Kubernetes API: {err}"
        return snap
    try:
        snap.cluster = await _get_cluster(env.cluster_name, env.namespace)
    except ConnectError as err:
        snap.error = err
        if isinstance(err, ClusterNotFoundError):
            snap.clusters = err.existing
        return snap
    snap.autoscaler = await _get_autoscaler(env.cluster_name, env.namespace)
    for attr, kind, selector in (("scheduler_pods", Pod, _scheduler_selector(env.cluster_name)),
                                 ("worker_pods", Pod, _worker_selector(env.cluster_name))):
        try:
            setattr(snap, attr, await _list(kind, env.namespace, label_selector=selector))
        except kr8s.ServerError as err:
            if _status_code(err) == 403 and snap.error is None:
                snap.error = _forbidden(err, "list", "pods", env.namespace)
    snap.events = await _events(env.namespace)
    try:
        snap.quotas = await _list(ResourceQuota, env.namespace)
    except kr8s.ServerError:
        snap.quotas = []
    return snap


def snapshot(env: Environment) -> ClusterSnapshot:
    """Read the namespace's DaskCluster, autoscaler, pods, events and quotas (never raises for API errors)."""
    return _Loop.run(_snapshot(env))


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
                                          "metadata": {}, "spec": {"resourceAttributes": attrs}}, api=await _api())
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
    return _Loop.run(_check_access(namespace, in_pod))


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
    import urllib.error
    import urllib.request

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
    if (template := _dashboard_link_template(env, cluster)) is not None:
        dask.config.set({"distributed.dashboard.link": template})
    try:
        kube = _open_cluster(env.cluster_name, env.namespace, timeout)
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
