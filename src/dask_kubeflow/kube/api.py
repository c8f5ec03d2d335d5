"""The kr8s client the parts share; create and server-side apply as plain JSON requests.

``await kr8s.asyncio.api()`` re-reads the credentials and asks the server for its version on every
call, and kr8s keeps instances only weakly; holding one per kubeconfig saves two round trips per
request. kr8s re-authenticates by itself when the server answers 401 (rotated tokens).

A client is bound to the event loop it was made on (its httpx connections are), so there is one per
kubeconfig *per loop*: the controller's loop, the ``kube.sync`` bridge thread and each test's loop
get their own, and a loop's clients go away with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import kr8s.asyncio
from kr8s.asyncio import Api

from .errors import API_ERRORS, from_exception
from .names import FIELD_MANAGER
from .resources import Kind, kind_of, ref_of

__all__ = ["Api", "get_api", "get_watch_api", "create", "server_side_apply"]

_APIS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str | None, Api]] = weakref.WeakKeyDictionary()
_APPLY = {"Content-Type": "application/apply-patch+yaml"}


async def _cached(key: str | None, connect: Callable[[], Awaitable[Api]]) -> Api:
    """The client kept under ``key`` for this event loop, connected on first use."""
    apis = _APIS.setdefault(asyncio.get_running_loop(), {})
    if key not in apis:
        try:
            apis[key] = await connect()
        except API_ERRORS as err:
            raise from_exception(err, what="connecting to the Kubernetes API") from err
    return apis[key]


def _kubeconfig(kubeconfig: str | None) -> str | None:
    return kubeconfig or os.environ.get("KUBECONFIG") or None


async def get_api(kubeconfig: str | None = None) -> Api:
    """The client for ``kubeconfig`` (default: ``$KUBECONFIG``, else in-cluster), made once per loop."""
    kubeconfig = _kubeconfig(kubeconfig)
    return await _cached(kubeconfig, lambda: kr8s.asyncio.api(kubeconfig=kubeconfig))


async def get_watch_api(kubeconfig: str | None = None) -> Api:
    """A second client like ``get_api(kubeconfig)``'s for long-lived watches: its own connection pool.

    httpcore 1.0.9's pool closes *every* idle connection once it holds more connections than its
    keep-alive limit (20): it counts all its connections, not the idle ones. A controller keeping
    ~18 watches open in the pool its writes use opened a new TCP connection for about every second
    write (measured: 280 connections for 500 creates beside 13 watches; 8 without them). Watches
    here, requests there, and the request pool stays under the limit. kr8s keeps one client per set
    of arguments: naming the default namespace explicitly makes this one distinct, and otherwise the same.
    """
    api = await get_api(kubeconfig)
    kubeconfig = _kubeconfig(kubeconfig)

    async def connect() -> Api:
        watch = await kr8s.asyncio.api(kubeconfig=kubeconfig, namespace=api.namespace)
        watch.timeout = api.timeout
        return watch

    return await _cached(f"watch:{kubeconfig}", connect)


async def create(api: Api, obj: dict[str, Any], kind: Kind | None = None) -> dict[str, Any]:
    """POST ``obj`` (one namespaced object) and return the stored body, as plain dicts.

    Not kr8s's ``APIObject.create``: it wraps the body and the response in ``python-box`` objects,
    which cost the controller a quarter of its CPU time on a first pass (measured with py-spy:
    benchmarks/README.md, P1). ``kind`` defaults to the managed kind of ``obj``. Failures are
    ``KubeError`` (status 409: an object of that name exists).
    """
    ref = ref_of(obj)
    kind = kind or kind_of(ref)
    try:
        async with api.call_api("POST", version=ref.api_version, namespace=ref.namespace, url=kind.plural,
                                content=json.dumps(obj)) as resp:
            return resp.json()
    except API_ERRORS as err:
        raise from_exception(err, verb="create", resource=kind.resource, namespace=ref.namespace,
                             what=f"create {ref} in namespace {ref.namespace}") from err


async def server_side_apply(api: Api, obj: dict[str, Any], *, force: bool = True) -> dict[str, Any]:
    """Apply ``obj`` under our field manager (taking over fields another manager last set).

    Hand-written because kr8s 0.20's ``APIObject.patch`` sends merge or JSON patches only, never the
    ``application/apply-patch+yaml`` content type server-side apply needs.
    """
    ref = ref_of(obj)
    kind = kind_of(ref)
    try:
        async with api.call_api(
            "PATCH", version=ref.api_version, namespace=ref.namespace, url=f"{kind.plural}/{ref.name}",
            content=json.dumps(obj), headers=_APPLY,
            params={"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"},
        ) as resp:
            return resp.json()
    except API_ERRORS as err:
        raise from_exception(err, verb="patch", resource=kind.resource, namespace=ref.namespace,
                             what=f"apply {ref} in namespace {ref.namespace}") from err
