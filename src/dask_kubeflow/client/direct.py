"""The fast way in: dial the scheduler's Service address while one API request checks the pods.

Inside a notebook pod the scheduler's address is known without asking anyone: the PodDefault sets
``$DASK_KUBEFLOW_SCHEDULER_ADDRESS`` and the operator names the Service ``<cluster>-scheduler``. So
``connect()`` opens the Dask connection and, at the same time, makes one LIST of the scheduler pods
(RBAC: a 403 is still a ``PermissionDeniedError``; readiness: no ready pod means the slow path, which
waits and explains). The Dask handshake itself proves the scheduler answers. When anything here
does not work out, ``try_direct`` returns None and ``connect()`` takes the slow, explaining path
(``KubeCluster.from_name``, as the seed does).
"""

from __future__ import annotations

import concurrent.futures
import os
import warnings
from typing import Any

from distributed import Client
from distributed.versions import VersionMismatchWarning

from ..kube.names import (
    ENV_CLUSTER,
    ENV_DASHBOARD_LINK,
    ENV_NAMESPACE,
    ENV_SCHEDULER_ADDRESS,
    gateway_prefix,
    scheduler_address,
)
from .cluster import NamespaceCluster
from .cluster_api import scheduler_pods, submit
from .diagnose import pod_is_ready
from .environment import Environment

__all__ = ["DIRECT_TIMEOUT", "direct_address", "try_direct"]

DIRECT_TIMEOUT = 5.0
"""Seconds the direct Dask connection may take before the slow path takes over."""


def _poddefaults_cluster(env: Environment, default: bool = False) -> bool:
    """Whether ``env`` names the cluster the PodDefault's environment describes (same namespace and name)."""
    cluster, namespace = os.environ.get(ENV_CLUSTER), os.environ.get(ENV_NAMESPACE)
    if cluster is None and namespace is None:
        return default
    return env.cluster_name == (cluster or env.cluster_name) and env.namespace == (namespace or env.namespace)


def direct_address(env: Environment) -> str | None:
    """The scheduler address to dial from this pod, or None outside a pod (no cluster DNS there)."""
    if not env.in_pod or env.namespace is None:
        return None
    if _poddefaults_cluster(env) and os.environ.get(ENV_SCHEDULER_ADDRESS):
        return os.environ[ENV_SCHEDULER_ADDRESS]
    return scheduler_address(env.namespace, env.cluster_name)


def _dashboard_link(env: Environment) -> str:
    """The PodDefault's link for its own cluster; the gateway path of any other cluster."""
    assert env.namespace is not None
    configured = env.dashboard_link or os.environ.get(ENV_DASHBOARD_LINK)
    if configured and _poddefaults_cluster(env, default=True):
        return configured
    return f"{gateway_prefix(env.namespace, env.cluster_name)}/status"


def _open(address: str, timeout: float) -> Client:
    # Dask's own handshake warns about mismatched versions; connect() shows one table instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VersionMismatchWarning)
        return Client(address, timeout=timeout, set_as_default=True)


def _discard(future: concurrent.futures.Future[Client]) -> None:
    """Close the client an abandoned attempt still makes, whenever it finishes."""
    def close(done: concurrent.futures.Future[Client]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().close()
    future.add_done_callback(close)


def try_direct(env: Environment, timeout: float) -> Client | None:
    """A Client on ``env``'s cluster through its Service address, or None (take the slow path).

    Raises what the pods LIST raises (``PermissionDeniedError``, ``KubeError``): those are answers.
    """
    address = direct_address(env)
    if address is None or env.namespace is None:
        return None
    pods = submit(scheduler_pods(env.cluster_name, env.namespace))
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dask-kubeflow-connect")
    client = pool.submit(_open, address, min(timeout, DIRECT_TIMEOUT))
    pool.shutdown(wait=False)
    done, _ = concurrent.futures.wait([pods, client], return_when=concurrent.futures.FIRST_COMPLETED)
    if client not in done and pods.exception() is None and not any(pod_is_ready(p) for p in pods.result()):
        _discard(client)  # no ready scheduler: the slow path waits for it, with a reason
        return None
    try:
        found: list[dict[str, Any]] = pods.result()
    except BaseException:
        _discard(client)
        raise
    try:
        result = client.result()
    except (OSError, TimeoutError):
        return None
    if not found:  # something answers at that address, but the cluster has no scheduler pod
        result.close()
        return None
    result.cluster = NamespaceCluster(env.cluster_name, env.namespace, address, _dashboard_link(env))
    return result
