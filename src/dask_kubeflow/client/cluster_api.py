"""The Kubernetes API as connect(), status and doctor use it: kr8s on one loop thread, 403s named.

Every read returns the JSON the API server sent (plain dicts, what ``diagnose`` works on). A 403 becomes
a ``PermissionDeniedError`` naming the RBAC verb and resource, read from the server's message or, when
that says nothing (or in the emulator), from the request itself.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import kr8s
from dask_kubernetes.operator._objects import DaskAutoscaler, DaskCluster
from kr8s.asyncio.objects import Event, Pod

from .diagnose import explain_forbidden
from .errors import ClusterNotFoundError, OperatorNotInstalledError, PermissionDeniedError

__all__ = [
    "DASK_API",
    "DASKCLUSTERS",
    "api",
    "events",
    "forbidden",
    "get_autoscaler",
    "get_cluster",
    "list_objects",
    "run",
    "scheduler_pods",
    "status_code",
]

DASK_API = "kubernetes.dask.org/v1"
DASKCLUSTERS = "daskclusters.kubernetes.dask.org"

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
    def get(cls) -> _Loop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
        return cls._instance


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a kr8s coroutine on the shared loop thread and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _Loop.get().loop).result(timeout)


def forbidden(err: kr8s.ServerError, verb: str, resource: str, namespace: str) -> PermissionDeniedError:
    """The 403 as an error naming verb and resource: from the server's message, else from the request."""
    message = str(err.status.get("message", "")) if isinstance(err.status, dict) else str(err)
    if err.response is not None:
        verb, resource = request_verb_resource(err.response.request.method, err.response.request.url.path,
                                                verb, resource)
    verb, resource, user = explain_forbidden(message, verb=verb, resource=resource, namespace=namespace)
    return PermissionDeniedError(verb, resource, namespace, user)


def request_verb_resource(method: str, path: str, verb: str, resource: str) -> tuple[str, str]:
    """RBAC verb and resource of an API request: ``GET /apis/g/v/namespaces/ns/plural`` → (list, plural.g)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return verb, resource
    group = parts[1] if parts[0] == "apis" else ""
    rest = parts[3:] if parts[0] == "apis" else parts[2:]
    if len(rest) >= 2 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return verb, resource
    plural, named, sub = rest[0], len(rest) > 1, rest[2] if len(rest) > 2 else ""
    verbs = {"GET": "get" if named else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
             "DELETE": "delete" if named else "deletecollection"}
    full = plural + (f"/{sub}" if sub else "") + (f".{group}" if group else "")
    return verbs.get(method.upper(), verb), full


def status_code(err: kr8s.ServerError) -> int | None:
    return err.response.status_code if err.response is not None else None


_APIS: dict[str | None, kr8s.asyncio.Api] = {}


async def api() -> kr8s.asyncio.Api:
    """The kr8s client for the current $KUBECONFIG (in a pod: the service account), made once.

    ``await kr8s.asyncio.api()`` re-reads the credentials and asks the server for its version on
    every call, and kr8s keeps instances only weakly; holding one here saves two round trips per
    request. kr8s itself re-authenticates when the server answers 401/403 (rotated tokens).
    """
    kubeconfig = os.environ.get("KUBECONFIG") or None
    if kubeconfig not in _APIS:
        _APIS[kubeconfig] = await kr8s.asyncio.api(kubeconfig=kubeconfig)
    return _APIS[kubeconfig]


async def dask_api_served() -> bool:
    client = await api()
    return DASK_API in [v async for v in client.api_versions()]


async def list_objects(kind: type, namespace: str, **selectors: str) -> list[dict[str, Any]]:
    """One LIST request (kr8s's ``get(name)`` retries a missing object for 2 s; we want one answer)."""
    client = await api()
    return [obj.raw async for obj in kind.list(api=client, namespace=namespace, **selectors)]


def scheduler_selector(name: str) -> str:
    return f"dask.org/cluster-name={name},dask.org/component=scheduler"


def worker_selector(name: str) -> str:
    return f"dask.org/cluster-name={name},dask.org/component=worker"


async def get_cluster(name: str, namespace: str) -> dict[str, Any]:
    """The DaskCluster as JSON, or the ConnectError saying why it cannot be read."""
    try:
        found = await list_objects(DaskCluster, namespace, field_selector=f"metadata.name={name}")
        if found:
            return found[0]
    except kr8s.ServerError as err:
        if status_code(err) == 403:
            raise forbidden(err, "list", DASKCLUSTERS, namespace) from None
        if status_code(err) != 404:
            raise
    if not await dask_api_served():
        raise OperatorNotInstalledError(DASK_API)
    try:
        existing = sorted(c["metadata"]["name"] for c in await list_objects(DaskCluster, namespace))
    except kr8s.ServerError:
        existing = []
    raise ClusterNotFoundError(name, namespace, existing)


async def scheduler_pods(name: str, namespace: str) -> list[dict[str, Any]]:
    try:
        return await list_objects(Pod, namespace, label_selector=scheduler_selector(name))
    except kr8s.ServerError as err:
        if status_code(err) == 403:
            raise forbidden(err, "list", "pods", namespace) from None
        raise


async def events(namespace: str) -> list[dict[str, Any]]:
    """Namespace events (empty when RBAC forbids reading them: diagnosis then uses pod status only)."""
    try:
        return await list_objects(Event, namespace)
    except kr8s.ServerError:
        return []


async def get_autoscaler(name: str, namespace: str) -> dict[str, Any] | None:
    try:
        found = await list_objects(DaskAutoscaler, namespace, field_selector=f"metadata.name={name}")
    except kr8s.ServerError:
        return None
    return found[0] if found else None
