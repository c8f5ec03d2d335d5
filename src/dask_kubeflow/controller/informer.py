"""List-and-watch caches of everything the reconcile reads: Profiles, Namespaces, contributor
RoleBindings, ResourceQuotas and our own objects — the controller's one road in.

Why not kopf (watches or indexes): kopf gives every watched object its own worker task, memory and
logger, and for indexed resources each listed object flips a toggle that wakes every other waiting
object (quadratic: 255,000 wake-ups to list 1,000 objects, measured). At 1,000 profile namespaces
that made a resync take 173 s and 384 MB. Here each object is one small frozen value: a paginated
list per kind (server-side label selector where possible), then a watch from the list's
resourceVersion; a broken or expired (410) watch lists again. ``synced`` is set once every kind has
been listed, so the controller never decides from a half-filled cache — with Profiles listed like
the rest, a namespace without a Profile in the synced cache really has none.

Through kr8s's public ``Api.async_get_kind`` (the URL comes from the kr8s class): kr8s 0.20's
``async_get`` pages (``limit``/``continue``) but hides the list's resourceVersion, and its
``async_watch`` sends neither ``timeoutSeconds`` nor ``allowWatchBookmarks`` and, on 410 Expired,
restarts at the same expired resourceVersion (a loop); so pages and watch lines are read here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kr8s
from kr8s.asyncio import Api
from kr8s.asyncio.objects import APIObject

from ..kube.errors import API_ERRORS, from_exception
from ..kube.retry import Backoff

__all__ = ["Source", "Informer"]

log = logging.getLogger("dask_kubeflow.controller")
_WATCH_SECONDS = 300
# A page of our own objects is ~10 KB of JSON per object before ``extract`` shrinks it, ~50 KB as
# parsed dicts: pages are small and one list runs at a time, so a restart that lists everything
# holds one page, not one page per kind (measured: 200 MB instead of 130 MB at 2,000 namespaces).
_PAGE = 100


class _Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


class _WatchError(Exception):
    """The API server ended a watch with an ERROR event other than 410."""


def _namespace_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("namespace") or "")


@dataclass(frozen=True, eq=False)
class Source:
    """One kind to follow (``cls``: its kr8s class). ``extract`` keeps what the reconcile needs
    (None: not kept); ``key`` is the namespace the object concerns (a Namespace or Profile: itself).
    ``quiet_if_same``: an update whose extract equals the one kept is not passed on (a Namespace's
    status or a user cluster's phase changed, nothing the reconcile reads): no reconcile for it."""

    cls: type[APIObject]
    label_selector: str = ""
    extract: Callable[[dict[str, Any]], Any] = field(default=lambda obj: obj)
    key: Callable[[dict[str, Any]], str] = field(default=_namespace_of)
    quiet_if_same: bool = False

    @property
    def name(self) -> str:
        return str(self.cls.endpoint)


class Informer:
    def __init__(self, api: Api, sources: list[Source],
                 on_change: Callable[[Source, str, dict[str, Any] | None], None]) -> None:
        self.api, self.sources, self.on_change = api, sources, on_change
        # source -> namespace -> name -> extracted
        self._store: dict[Source, dict[str, dict[str, Any]]] = {s: {} for s in sources}
        self._listed: set[Source] = set()
        self._listing = asyncio.Lock()
        self.synced = asyncio.Event()
        self._deleted: dict[Source, list[Callable[[str, Any], None]]] = {}

    def on_deleted(self, source: Source, callback: Callable[[str, Any], None]) -> None:
        """Also call ``callback(namespace, extracted)`` for each object of ``source`` a watch reports
        DELETED, with what ``extract`` kept of its last state (usage accounting: a pod's final status)."""
        self._deleted.setdefault(source, []).append(callback)

    def items(self, source: Source, namespace: str) -> list[Any]:
        return list((self._store[source].get(namespace) or {}).values())

    def namespaces(self, source: Source) -> set[str]:
        return {ns for ns, objs in self._store[source].items() if objs}

    def has(self, source: Source, namespace: str) -> bool:
        return bool(self._store[source].get(namespace))

    async def run(self) -> None:
        await asyncio.gather(*(self._follow(source) for source in self.sources))

    async def _follow(self, source: Source) -> None:
        backoff = Backoff(initial=1.0, maximum=30.0)
        while True:
            try:
                async with self._listing:
                    version = await self._list(source)
                while True:
                    version = await self._watch(source, version)
                    backoff.reset()
            except asyncio.CancelledError:
                raise
            except _Gone:
                log.info("watch of %s expired (410); listing again", source.name)
                continue
            except (*API_ERRORS, _WatchError, ValueError) as err:
                problem = from_exception(err, verb="watch", resource=source.name) if isinstance(err, API_ERRORS) else err
                delay = backoff.next()
                log.warning("watching %s failed (%s); listing again in %.0fs", source.name, problem, delay)
                await asyncio.sleep(delay)

    def _keep(self, source: Source, obj: dict[str, Any]) -> tuple[str, str, Any]:
        obj.setdefault("apiVersion", source.cls.version)
        obj.setdefault("kind", source.cls.kind)
        return source.key(obj), obj["metadata"]["name"], source.extract(obj)

    async def _page(self, source: Source, params: dict[str, Any]) -> dict[str, Any]:
        async with self.api.async_get_kind(source.cls, namespace=kr8s.ALL, label_selector=source.label_selector or None,
                                           params=params) as (_, response):
            return response.json()

    async def _list(self, source: Source) -> str:
        fresh: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {"limit": _PAGE}
        while True:
            page = await self._page(source, dict(params))
            for item in page.get("items") or ():
                namespace, name, kept = self._keep(source, item)
                if kept is not None:
                    fresh.setdefault(namespace, {})[name] = kept
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params["continue"] = token
        old = self._store[source]
        self._store[source] = fresh
        first = source not in self._listed
        for namespace in set(old) | set(fresh):  # a re-list: look again wherever something changed
            if first or old.get(namespace) != fresh.get(namespace):
                self.on_change(source, namespace, None)
        self._listed.add(source)
        if len(self._listed) == len(self.sources):
            self.synced.set()
        return str((page.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, source: Source, version: str) -> str:
        params = {"allowWatchBookmarks": "true", "timeoutSeconds": str(_WATCH_SECONDS)}
        if version:
            params["resourceVersion"] = version
        async with self.api.async_get_kind(source.cls, namespace=kr8s.ALL, label_selector=source.label_selector or None,
                                           params=params, watch=True, timeout=None) as (_, response):
            async for line in response.aiter_lines():
                if line.strip():
                    version = self._event(source, json.loads(line), version)
        return version

    def _event(self, source: Source, event: dict[str, Any], version: str) -> str:
        """Apply one watch event; returns the resourceVersion to resume from."""
        kind_of_event, obj = event.get("type"), event.get("object") or {}
        if kind_of_event == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise _WatchError(f"the API server ended the watch: {obj.get('message') or obj}")
        version = (obj.get("metadata") or {}).get("resourceVersion") or version
        if kind_of_event != "BOOKMARK":
            self._apply(source, str(kind_of_event), obj)
        return version

    def _apply(self, source: Source, kind_of_event: str, obj: dict[str, Any]) -> None:
        namespace, name, kept = self._keep(source, obj)
        by_name = self._store[source].setdefault(namespace, {})
        if kind_of_event == "DELETED" or kept is None:
            existed = by_name.pop(name, None) is not None
            if kind_of_event == "DELETED" and kept is not None:
                for callback in self._deleted.get(source, ()):
                    callback(namespace, kept)
            if not by_name:
                self._store[source].pop(namespace, None)
            if existed:
                self.on_change(source, namespace, None)
        else:
            before = by_name.get(name)
            by_name[name] = kept
            if source.quiet_if_same and before is not None and before == kept:
                return
            self.on_change(source, namespace, obj)
