"""List-and-watch caches of what the reconcile reads: our own objects, Namespaces, contributor
RoleBindings and ResourceQuotas.

Why not kopf indexes: kopf gives every watched object its own worker task, memory and logger, and
for indexed resources each listed object flips a toggle that wakes every other waiting object
(quadratic: 255,000 wake-ups to list 1,000 objects, measured). At 1,000 profile namespaces that
made a resync take 173 s and 384 MB. Here each object is one small dict: a paginated list per kind
(server-side label selector where possible), then a watch from the list's resourceVersion; a
broken or expired (410) watch lists again. ``synced`` is set once every kind has been listed, so
the controller never decides from a half-filled cache. Profiles themselves stay kopf's (handlers).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from kr8s import ServerError
from kr8s._exceptions import APITimeoutError
from kr8s.asyncio import Api

__all__ = ["Source", "Informer"]

log = logging.getLogger("dask_kubeflow.controller")
_WATCH_SECONDS = 300


class _Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


def _namespace_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("namespace") or "")


@dataclass(frozen=True, eq=False)
class Source:
    """One kind to follow. ``extract`` keeps what the reconcile needs (None: not kept);
    ``key`` is the namespace the object concerns (a Namespace concerns itself)."""

    api_version: str
    kind: str
    plural: str
    label_selector: str = ""
    extract: Callable[[dict[str, Any]], Any] = field(default=lambda obj: obj)
    key: Callable[[dict[str, Any]], str] = field(default=_namespace_of)


class Informer:
    def __init__(self, api: Api, sources: list[Source],
                 on_change: Callable[[Source, str, dict[str, Any] | None], None]) -> None:
        self.api, self.sources, self.on_change = api, sources, on_change
        # source -> namespace -> name -> extracted
        self._store: dict[Source, dict[str, dict[str, Any]]] = {s: {} for s in sources}
        self._listed: set[Source] = set()
        self.synced = asyncio.Event()

    def items(self, source: Source, namespace: str) -> list[Any]:
        return list((self._store[source].get(namespace) or {}).values())

    def namespaces(self, source: Source) -> set[str]:
        return {ns for ns, objs in self._store[source].items() if objs}

    def has(self, source: Source, namespace: str) -> bool:
        return bool(self._store[source].get(namespace))

    async def run(self) -> None:
        await asyncio.gather(*(self._follow(source) for source in self.sources))

    async def _follow(self, source: Source) -> None:
        delay = 1.0
        while True:
            try:
                version = await self._list(source)
                while True:
                    version = await self._watch(source, version)
                    delay = 1.0
            except asyncio.CancelledError:
                raise
            except _Gone:
                log.info("watch of %s expired (410); listing again", source.plural)
                continue
            except (ServerError, APITimeoutError, httpx.HTTPError, OSError, ValueError) as err:
                log.warning("watching %s failed (%s); listing again in %.0fs", source.plural, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _keep(self, source: Source, obj: dict[str, Any]) -> tuple[str, str, Any]:
        obj.setdefault("apiVersion", source.api_version)
        obj.setdefault("kind", source.kind)
        return source.key(obj), obj["metadata"]["name"], source.extract(obj)

    async def _list(self, source: Source) -> str:
        fresh: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {"limit": 500}
        if source.label_selector:
            params["labelSelector"] = source.label_selector
        while True:
            async with self.api.call_api("GET", version=source.api_version, url=source.plural,
                                         params=params) as resp:
                page = resp.json()
            for item in page.get("items") or ():
                namespace, name, kept = self._keep(source, item)
                if kept is not None:
                    fresh.setdefault(namespace, {})[name] = kept
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            params = {**params, "continue": token}
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
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(_WATCH_SECONDS)}
        if source.label_selector:
            params["labelSelector"] = source.label_selector
        if version:
            params["resourceVersion"] = version
        async with self.api.call_api("GET", version=source.api_version, url=source.plural, params=params,
                                     stream=True, timeout=None) as resp:
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                kind_of_event, obj = event.get("type"), event.get("object") or {}
                if kind_of_event == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise ValueError(f"watch error: {obj.get('message') or obj}")
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind_of_event != "BOOKMARK":
                    self._apply(source, kind_of_event, obj)
        return version

    def _apply(self, source: Source, kind_of_event: str, obj: dict[str, Any]) -> None:
        namespace, name, kept = self._keep(source, obj)
        by_name = self._store[source].setdefault(namespace, {})
        if kind_of_event == "DELETED" or kept is None:
            existed = by_name.pop(name, None) is not None
            if not by_name:
                self._store[source].pop(namespace, None)
            if existed:
                self.on_change(source, namespace, None)
        else:
            by_name[name] = kept
            self.on_change(source, namespace, obj)
