"""The kr8s client the parts share, and server-side apply (the one call kr8s has no method for).

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
from typing import Any

import kr8s.asyncio
from kr8s.asyncio import Api

from .errors import API_ERRORS, from_exception
from .names import FIELD_MANAGER
from .resources import kind_of, ref_of

__all__ = ["Api", "get_api", "server_side_apply"]

_APIS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str | None, Api]] = weakref.WeakKeyDictionary()
_APPLY = {"Content-Type": "application/apply-patch+yaml"}


async def get_api(kubeconfig: str | None = None) -> Api:
    """The client for ``kubeconfig`` (default: ``$KUBECONFIG``, else in-cluster), made once per loop."""
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
    apis = _APIS.setdefault(asyncio.get_running_loop(), {})
    if kubeconfig not in apis:
        try:
            apis[kubeconfig] = await kr8s.asyncio.api(kubeconfig=kubeconfig)
        except API_ERRORS as err:
            raise from_exception(err, what="connecting to the Kubernetes API") from err
    return apis[kubeconfig]


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
