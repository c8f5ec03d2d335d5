"""Connect to a namespace's existing Dask cluster through the Kubernetes API (kr8s + dask-kubernetes).

``connect_kubernetes`` never creates and never deletes. Inside a pod it first tries the direct way
(``direct.py``: the Service address, with one pods LIST alongside). Otherwise, or when that does not
work out, it looks at the scheduler pods (when none is ready it reads the DaskCluster, turning
404/403 into errors that name the fix, and waits with a visible spinner and a deadline; on timeout
the reason is read from pod status and events), then hands over to
``KubeCluster.from_name(..., shutdown_on_close=False)`` — the same call as the seed's snippet. Both
ways end with one versions table (client, scheduler, workers). Every failure is a ``ConnectError``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dask.config
from distributed.versions import VersionMismatchWarning
from dask_kubernetes.operator import KubeCluster
from distributed import Client
from rich.console import Console

from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.names import DASHBOARD_PREFIX_ANNOTATION, ENV_DASHBOARD_LINK
from .cluster_api import call as run
from .cluster_api import events, get_autoscaler, get_cluster, scheduler_pods, worker_pods
from .diagnose import (
    Diagnosis,
    explain_pods,
    pod_is_ready,
    scheduler_owners,
    summarize_phase,
    worker_owners,
)
from .budget import BudgetCheck
from .cluster import NamespaceCluster
from .direct import try_direct
from .environment import Environment
from .errors import (
    ConnectError,
    PermissionDeniedError,
    SchedulerNotReadyError,
    SchedulerUnreachableError,
    VersionMismatchError,
    WorkersNotReadyError,
    from_api_failure,
)
from .versions import ENV_VERSION_CHECK, check_mode, extra_packages, version_report
from .wake import Waker

__all__ = ["POLL_SECONDS", "VERSION_CHECK_ENV", "connect_kubernetes", "open_cluster", "dashboard_link_template"]

VERSION_CHECK_ENV = ENV_VERSION_CHECK
"""``warn`` (default, as Dask does): warn with the versions table and connect; ``error``: refuse; ``off``."""
POLL_SECONDS = 0.25


@contextmanager
def _spinner(enabled: bool, text: str) -> Iterator[Callable[[str], None]]:
    """A rich spinner on stderr (also rendered in Jupyter); yields a function to update its text."""
    if not enabled:
        yield lambda _text: None
        return
    console = Console(stderr=True)
    with console.status(text, spinner="dots") as status:
        yield lambda detail: status.update(f"{text}: {detail}")


def dashboard_link_template(env: Environment, cluster: dict[str, Any]) -> str | None:
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


def open_cluster(name: str, namespace: str, timeout: float) -> KubeCluster:
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
        if isinstance(err, API_ERRORS):
            kube_err = from_exception(err, verb="list", resource="services", namespace=namespace)
            if kube_err.forbidden():
                raise PermissionDeniedError.from_kube(kube_err) from err
            raise kube_err from err
        raise err
    return box["cluster"]


def fetch_versions(client: Client, packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """``Client.get_versions()``'s answer (Dask's own reports), with its two RPCs sent at once."""
    from distributed.versions import get_versions

    async def both() -> tuple[Any, Any]:
        return await asyncio.gather(
            client.scheduler.versions(packages=list(packages)),
            client.scheduler.broadcast(msg={"op": "versions", "packages": list(packages)}, on_error="ignore"))

    scheduler, workers = client.sync(both)
    return {"scheduler": scheduler, "workers": workers, "client": get_versions(packages)}


def check_versions(client: Client, image: Callable[[], str | None]) -> None:
    """One table of client, scheduler and worker versions (Dask's ``get_versions``); warn or refuse."""
    mode = check_mode()
    if mode == "off":
        return
    report = version_report(fetch_versions(client, extra_packages()), extra_packages())
    if report.ok:
        return
    try:
        shown = image()
    except (ConnectError, KubeError):
        shown = None
    err = VersionMismatchError(report.mismatches(), shown, table=report.table(), mode=mode)
    if mode == "warn":
        warnings.warn(str(err), VersionMismatchWarning, stacklevel=4)
        return
    client.close()
    raise err


def _wait_for_workers(client: Client, env: Environment, n: int, timeout: float, autoscaler: dict | None) -> None:
    name, namespace = env.cluster_name, env.namespace
    assert namespace is not None
    maximum = (autoscaler or {}).get("spec", {}).get("maximum")
    if maximum is not None and n > int(maximum):
        got = len(client.scheduler_info().get("workers", {}))
        client.close()
        raise WorkersNotReadyError(name, namespace, n, got, 0,
                                   f"the cluster's autoscaler allows at most {maximum} workers",
                                   f"use wait_for_workers={maximum} or fewer, or ask your admin for a bigger tier")
    try:
        client.wait_for_workers(n, timeout=max(timeout, 0.1))
        return
    except (TimeoutError, asyncio.TimeoutError):
        pass
    got = len(client.scheduler_info().get("workers", {}))
    pods = run(worker_pods(name, namespace))
    seen = run(events(namespace))
    diagnosis = explain_pods(pods, seen, namespace, what="worker", owners=worker_owners(name))
    if diagnosis is None:
        minimum = (autoscaler or {}).get("spec", {}).get("minimum")
        diagnosis = Diagnosis(
            f"{len(pods)} worker pod(s) exist" + (f"; the autoscaler keeps {minimum} when idle" if minimum is not None else ""),
            "workers start when work is submitted (adaptive scaling); submit work instead of waiting, or wait longer",
        )
    client.close()
    raise WorkersNotReadyError(name, namespace, n, got, timeout, diagnosis.reason, diagnosis.fix)


def _scheduler_image(cluster: dict[str, Any]) -> str | None:
    containers = cluster.get("spec", {}).get("scheduler", {}).get("spec", {}).get("containers") or [{}]
    return containers[0].get("image")


def _slow_connect(env: Environment, deadline: float, timeout: float, show: Callable[[str], None],
                  the_cluster: Callable[[bool], dict[str, Any]]) -> Client:
    """Wait for a ready scheduler pod (explaining on timeout), then the seed's ``from_name``."""
    name, namespace = env.cluster_name, env.namespace
    assert namespace is not None
    pods = run(scheduler_pods(name, namespace))
    waker = Waker(name, namespace)  # a hibernated cluster is asked to wake (wake.py)
    while not any(pod_is_ready(p) for p in pods):
        cluster = the_cluster(True)  # re-read while waiting: its phase is part of what the spinner shows
        waker.nudge(cluster)
        show(waker.waiting_for(summarize_phase(cluster, pods)))
        if time.monotonic() >= deadline:
            seen = run(events(namespace))
            diagnosis = explain_pods(pods, seen, namespace, owners=scheduler_owners(name), cluster=cluster)
            diagnosis = diagnosis or Diagnosis("the scheduler pod became ready just now", "try again")
            raise SchedulerNotReadyError(name, namespace, timeout, diagnosis.reason, diagnosis.fix)
        time.sleep(POLL_SECONDS)
        pods = run(scheduler_pods(name, namespace))
    show("scheduler ready; connecting")
    waker.report()
    template = None
    if not (env.dashboard_link or os.environ.get(ENV_DASHBOARD_LINK)):
        template = dashboard_link_template(env, the_cluster(False))
    try:
        kube = open_cluster(name, namespace, deadline - time.monotonic())
    except ValueError:  # from_name: "Cluster ... doesn't already exist" (pods without a DaskCluster)
        the_cluster(True)
        raise
    with dask.config.set({"distributed.dashboard.link": template} if template else {}):
        link = kube.dashboard_link  # formatted once: the setting never leaks into this process's config
    with warnings.catch_warnings():  # Dask's own handshake warning: check_versions shows one table instead
        warnings.simplefilter("ignore", VersionMismatchWarning)
        client = Client(kube, timeout=max(deadline - time.monotonic(), 5.0))
    client.cluster = NamespaceCluster(name, namespace, kube.scheduler_address, link, kube=kube)
    return client


def _connect(env: Environment, wait_for_workers: int, timeout: float, progress: bool) -> Client:
    name, namespace = env.cluster_name, env.namespace
    assert namespace is not None
    deadline = time.monotonic() + timeout
    cluster: dict[str, Any] | None = None

    def the_cluster(fresh: bool = False) -> dict[str, Any]:
        nonlocal cluster
        if cluster is None or fresh:
            cluster = run(get_cluster(name, namespace))  # raises the ConnectError that explains
        return cluster

    budget = BudgetCheck(name, namespace)  # one read of the usage record, alongside the others
    if wait_for_workers:
        budget.enforce(wait_for_workers, timeout)  # a spent budget: fail now, not at the timeout
    client = try_direct(env, timeout)
    budget.announce()  # before a slow path starts waiting (a hibernated cluster's wake, say)
    with _spinner(progress and client is None, f"Connecting to Dask cluster {namespace}/{name}") as show:
        if client is None:
            client = _slow_connect(env, deadline, timeout, show, the_cluster)
        check_versions(client, lambda: _scheduler_image(the_cluster()))
        if wait_for_workers:
            show(f"waiting for {wait_for_workers} worker(s)")
            autoscaler = run(get_autoscaler(name, namespace))
            _wait_for_workers(client, env, wait_for_workers, deadline - time.monotonic(), autoscaler)
    return client


def connect_kubernetes(
    env: Environment,
    *,
    wait_for_workers: int = 0,
    timeout: float = 120.0,
    progress: bool = True,
) -> Client:
    """A Client on ``env``'s existing DaskCluster; raises a ``ConnectError`` subclass saying what to do.

    Inside a pod with a ready scheduler this costs two API requests, sent at once (the scheduler pods, in
    parallel with the Dask handshake, and the usage record: ``budget.py``) and one versions RPC; the
    DaskCluster is read only to explain a problem.
    """
    if env.namespace is None:
        raise ConnectError(f"no namespace to look for Dask cluster {env.cluster_name!r} in ({env.explain()})",
                           "pass connect(namespace=...) or set DASK_KUBERNETES__NAMESPACE")
    try:
        client = _connect(env, wait_for_workers, timeout, progress)
    except KubeError as err:
        raise from_api_failure(err, env.api_server or "(unknown server)", env.credentials) from None
    except (OSError, TimeoutError) as err:  # the Dask connection itself (the API's errors are KubeErrors)
        raise SchedulerUnreachableError(env.cluster_name, env.namespace, timeout, f"{type(err).__name__}: {err}") from None
    except ValueError as err:  # from_name found no DaskCluster behind the pods
        raise ConnectError(f"Dask cluster {env.cluster_name!r} in {env.namespace!r} could not be opened: {err}",
                           "run `dask-kubeflow doctor` to see what is missing") from None
    if progress:
        print(f"dask-kubeflow: connected to {env.namespace}/{env.cluster_name} ({env.explain()}); "
              f"dashboard: {client.dashboard_link}", file=sys.stderr)
    return client
