"""What is live in the cluster for one namespace, and whether a desired object differs from it.

The live view comes from the informer's caches (fed by watches, so a resync reads nothing from the
API) overlaid with the controller's own recent writes, so an echo of our own write that has not
come back through the watch yet is not mistaken for drift (and written twice). The caches hold
each object packed (``Packer``): a few hundred bytes instead of the tens of kilobytes its parsed
dicts and strings would take.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..kube.resources import ObjectRef, ref_of

__all__ = [
    "APPLIED_HASH_ANNOTATION",
    "LiveState",
    "applied_hash",
    "contains",
    "snapshot",
    "Packer",
    "with_hash",
    "differs",
    "keep_live_replicas",
]

APPLIED_HASH_ANNOTATION = "dask.kubeflow.org/applied-hash"
_RECENT_SECONDS = 10.0


def snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a live object the controller compares: no status, no managedFields.

    Nested values are shared with ``body`` (nothing mutates them): no copy."""
    meta = body.get("metadata") or {}
    out: dict[str, Any] = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "labels", "annotations", "resourceVersion", "uid", "deletionTimestamp")
            if k in meta
        },
    }
    for key, value in body.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            out[key] = value
    return out


class Packer:
    """What the informer keeps of one of our objects: its snapshot as compact JSON, deflated with a
    preset dictionary (``zdict``: what we render for a sample namespace). Our objects in different
    namespaces differ in a few names, so each packs to a few hundred bytes instead of ~10 KB of
    JSON, or tens of kilobytes of parsed dicts. The dictionary is fixed for the process lifetime:
    objects packed with it must be unpacked with it."""

    def __init__(self, zdict: bytes) -> None:
        self.zdict = zdict

    def pack(self, body: Mapping[str, Any]) -> bytes:
        text = json.dumps(snapshot(body), separators=(",", ":")).encode()
        deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=self.zdict)
        return deflate.compress(text) + deflate.flush()

    def unpack(self, data: bytes) -> dict[str, Any]:
        inflate = zlib.decompressobj(-zlib.MAX_WBITS, zdict=self.zdict)
        return json.loads(inflate.decompress(data) + inflate.flush())


def _hashed_part(desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` minus the hash annotation and fields others own (the worker replica count).
    Shallow copies only: render's output is never mutated."""
    body = dict(desired)
    meta = dict(body.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != APPLIED_HASH_ANNOTATION}
    meta["annotations"] = annotations
    body["metadata"] = meta
    if body.get("kind") == "DaskCluster" and isinstance(body.get("spec"), Mapping):
        spec = dict(body["spec"])
        if isinstance(spec.get("worker"), Mapping):
            spec["worker"] = {k: v for k, v in spec["worker"].items() if k != "replicas"}
        body["spec"] = spec
    return body


def applied_hash(desired: Mapping[str, Any]) -> str:
    """Hash of what we render, without fields others own (the worker replica count)."""
    text = json.dumps(_hashed_part(desired), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_hash(desired: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(desired)
    meta = dict(out.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), APPLIED_HASH_ANNOTATION: applied_hash(desired)}
    out["metadata"] = meta
    return out


def keep_live_replicas(desired: dict[str, Any], live: Mapping[str, Any] | None) -> dict[str, Any]:
    """Never fight the autoscaler: once a DaskCluster exists, apply its live worker replica count.

    The rendered count is only the initial size; afterwards whoever scales the cluster owns it.
    """
    if live is None or desired.get("kind") != "DaskCluster":
        return desired
    replicas = (live.get("spec") or {}).get("worker", {}).get("replicas")
    worker = desired.get("spec", {}).get("worker")
    if isinstance(worker, dict):
        if replicas is None:
            worker.pop("replicas", None)
        else:
            worker["replicas"] = replicas
    return desired


def contains(live: Any, desired: Any) -> bool:
    """True when every field we set has the same value live. Servers and other controllers may add
    fields (defaults, annotations, finalizers); lists must match item by item."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(k in live and contains(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired))
        )
    return live == desired


def differs(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """Does applying ``desired`` (hash annotation included) change anything live?"""
    if live is None:
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    return not contains(live, body)


def _rv(obj: Mapping[str, Any] | None) -> int | None:
    value = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    return int(value) if isinstance(value, str) and value.isdigit() else None


@dataclass
class _Recent:
    body: dict[str, Any] | None  # None: we deleted it
    rv: int | None
    at: float


class LiveState:
    """Live managed objects per namespace: cache contents plus our own not-yet-echoed writes."""

    def __init__(self) -> None:
        self._recent: dict[str, dict[ObjectRef, _Recent]] = {}

    def wrote(self, body: Mapping[str, Any]) -> None:
        snap = snapshot(body)
        ref = ref_of(snap)
        self._recent.setdefault(ref.namespace, {})[ref] = _Recent(snap, _rv(snap), time.monotonic())

    def is_echo(self, body: Mapping[str, Any]) -> bool:
        """Is this watch event just our own latest write coming back? (No need to look again.)
        Either way, once the watch has shown our write, the cache is trusted again."""
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace", "")
        recent = self._recent.get(namespace, {})
        ref = ref_of(body) if "name" in meta else None
        rec = recent.get(ref) if ref else None
        if rec is None or rec.body is None or rec.rv is None:
            return False
        seen = _rv(body)
        if seen is not None and seen >= rec.rv:
            del recent[ref]  # type: ignore[arg-type]
            if not recent:
                self._recent.pop(namespace, None)
        return seen == rec.rv

    def deleted(self, ref: ObjectRef, last_seen: Mapping[str, Any] | None) -> None:
        self._recent.setdefault(ref.namespace, {})[ref] = _Recent(None, _rv(last_seen), time.monotonic())

    def view(self, namespace: str, indexed: Iterable[Mapping[str, Any]]) -> dict[ObjectRef, dict[str, Any]]:
        objects = {ref_of(o): dict(o) for o in indexed}
        recent = self._recent.get(namespace)
        if not recent:
            return objects
        now = time.monotonic()
        for ref, rec in list(recent.items()):
            seen = objects.get(ref)
            seen_rv = _rv(seen)
            young = now - rec.at < _RECENT_SECONDS
            if rec.body is None:  # our delete
                if seen is not None and young and (seen_rv is None or rec.rv is None or seen_rv <= rec.rv):
                    del objects[ref]  # the DELETED event has not arrived yet
                else:
                    del recent[ref]
            elif seen is None:
                if young:
                    objects[ref] = rec.body  # the ADDED event has not arrived yet
                else:
                    del recent[ref]
            elif seen_rv is not None and rec.rv is not None and seen_rv < rec.rv and young:
                objects[ref] = rec.body  # the MODIFIED event has not arrived yet
            else:
                del recent[ref]  # the watch has caught up (or someone changed it since)
        if not recent:
            del self._recent[namespace]
        return objects
