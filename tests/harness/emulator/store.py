"""The object store: resourceVersions, server-filled metadata, watches, finalizers and garbage collection.

All state changes happen under one lock and each change is one event in a bounded log, so a watch that
starts from a resourceVersion replays exactly what it missed (or gets 410 Expired, as on a real server).
Stored objects are never mutated in place: every write stores a new dict, so events can share them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import apply as ssa
from . import defaults, errors, names, patches
from .resources import Registry, ResourceType, resource_from_crd

EVENT_LOG_SIZE = 50_000
NAMESPACE_DRAIN_DELAY = 1.0  # seconds a deleted namespace stays Terminating before its contents go
Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(eq=False)
class Watcher:
    """One open watch stream: what it selects and where its events go (in its own event loop)."""

    rt: ResourceType
    matches: Callable[[Obj], bool]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def offer(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        event = translate(etype, old, new, self.matches)
        if event is not None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)


def translate(etype: str, old: Obj | None, new: Obj | None, matches: Callable[[Obj], bool]) -> tuple[str, Obj] | None:
    """A store event as seen through a selector: objects entering the selection are ADDED, leaving DELETED."""
    if etype == "ADDED":
        return ("ADDED", new) if new is not None and matches(new) else None
    if etype == "DELETED":
        return ("DELETED", old) if old is not None and matches(old) else None
    was, now = old is not None and matches(old), new is not None and matches(new)
    if was and now:
        return ("MODIFIED", new)
    if now:
        return ("ADDED", new)
    if was:
        return ("DELETED", new)
    return None


def _strip_volatile(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    fields = meta.pop("managedFields", None) or []
    out["metadata"] = meta
    out["__fields"] = [{k: v for k, v in e.items() if k != "time"} for e in fields]
    return out


class Stale(Exception):
    """The object changed between planning a write and committing it (admission ran in between): re-plan."""


@dataclass
class Plan:
    """A write in two halves, so admission can run between them without holding the store's lock.

    `candidate` is what mutating admission sees (the decoded or patched object; a Scale for /scale);
    `finish(admitted)` fills server metadata, isolates status, validates and returns the object to store
    (or `old` itself for a no-op); `Store.commit` stores it if `old` is still the stored object."""

    rt: ResourceType
    old: Obj | None
    candidate: Obj
    finish: Callable[[Obj], Obj]
    created: bool = False

    @property
    def operation(self) -> str:
        return "UPDATE" if self.old is not None else "CREATE"


def _body_dict(body: Any, what: str) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the request body for {what} must be a JSON object (a Kubernetes object)")
    return body


class Store:
    """Kubernetes-shaped in-memory storage, safe to use from several threads."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.lock = threading.RLock()
        self._objects: dict[str, dict[Key, Obj]] = defaultdict(dict)
        self._in_ns: dict[tuple[str, str], dict[str, Obj]] = defaultdict(dict)  # (rkey, ns) -> name -> obj
        self._rv = 0
        self._log: deque[tuple[int, str, str, Obj | None, Obj | None]] = deque(maxlen=EVENT_LOG_SIZE)
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)
        self._dependents: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # owner uid -> (rkey, ns, name)
        self._by_uid: dict[str, tuple[str, str, str]] = {}  # uid -> (rkey, ns, name)
        self.changes: Counter[tuple[str, str, str]] = Counter()  # (rkey, ns, name) -> state changes
        self.generations: Counter[str] = Counter()  # rkey -> changes of that resource (cache keys: RBAC, webhooks)
        # Runs deferred work (delay seconds, callable) on the server's loop; None = run immediately.
        self.scheduler: Callable[[float, Callable[[], None]], None] | None = None

    # ------------------------------------------------------------------ bookkeeping
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, rt: ResourceType, etype: str, old: Obj | None, new: Obj | None) -> None:
        self._log.append((self._rv, rt.key, etype, old, new))
        for watcher in list(self._watchers.get(rt.key, ())):
            watcher.offer(etype, old, new)

    def _index(self, rt: ResourceType, old: Obj | None, new: Obj | None) -> None:
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            meta = obj["metadata"]
            ref = (rt.key, meta.get("namespace", ""), meta["name"])
            if add:
                self._by_uid[meta["uid"]] = ref
            else:
                self._by_uid.pop(meta["uid"], None)
            for owner in meta.get("ownerReferences") or []:
                uid = owner.get("uid")
                if not uid:
                    continue
                if add:
                    self._dependents[uid].add(ref)
                else:
                    self._dependents[uid].discard(ref)
                    if not self._dependents[uid]:
                        del self._dependents[uid]

    def _put(self, rt: ResourceType, old: Obj | None, new: Obj) -> Obj:
        meta = new["metadata"]
        meta["resourceVersion"] = self._bump()
        key = (meta.get("namespace", ""), meta["name"])
        self._index(rt, old, new)
        self._objects[rt.key][key] = new
        self._in_ns[(rt.key, key[0])][key[1]] = new
        self.changes[(rt.key, key[0], key[1])] += 1
        self.generations[rt.key] += 1
        self._emit(rt, "MODIFIED" if old is not None else "ADDED", old, new)
        return new

    def _what(self, rt: ResourceType) -> str:
        return rt.key

    def _not_found(self, rt: ResourceType, name: str) -> errors.ApiError:
        return errors.not_found(self._what(rt), name, rt.group, rt.kind)

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        with self.lock:
            obj = self._objects[rt.key].get((namespace or "", name) if rt.namespaced else ("", name))
            if obj is None:
                raise self._not_found(rt, name)
            return obj

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            return self._objects[rt.key].get((namespace or "", name) if rt.namespaced else ("", name))

    def list(self, rt: ResourceType, matches: Callable[[Obj], bool],
             namespace: str | None = None) -> tuple[list[Obj], str]:
        """Matching objects (of one namespace when given: only that namespace is scanned)."""
        with self.lock:
            pool = self._in_ns.get((rt.key, namespace), {}) if namespace and rt.namespaced \
                else self._objects[rt.key]
            items = [o for o in pool.values() if matches(o)]
            return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])), \
                self.resource_version

    def all_objects(self) -> dict[str, list[Obj]]:
        with self.lock:
            return {k: list(v.values()) for k, v in self._objects.items() if v}

    # ------------------------------------------------------------------ watches
    def open_watch(self, rt: ResourceType, matches: Callable[[Obj], bool], since: str | None,
                   loop: asyncio.AbstractEventLoop, initial: bool,
                   namespace: str | None = None) -> tuple[Watcher, list[tuple[str, Obj]]]:
        """Register a watcher and return the events to send first (existing objects or missed events)."""
        with self.lock:
            watcher = Watcher(rt, matches, loop)
            first: list[tuple[str, Obj]] = []
            if initial or not since or since == "0":
                first = [("ADDED", o) for o in self.list(rt, matches, namespace)[0]]
            else:
                try:
                    start = int(since)
                except ValueError:
                    raise errors.bad_request(f'invalid resourceVersion "{since}": not an integer')
                oldest = self._log[0][0] if self._log else self._rv + 1
                if start < oldest - 1 and start < self._rv:
                    raise errors.ApiError(410, "Expired", f"too old resource version: {start} ({oldest - 1})")
                for rv, rkey, etype, old, new in self._log:
                    if rv > start and rkey == rt.key:
                        event = translate(etype, old, new, matches)
                        if event is not None:
                            first.append(event)
            self._watchers[rt.key].add(watcher)
            return watcher, first

    def close_watch(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers[watcher.rt.key].discard(watcher)

    def close_all_watches(self) -> None:
        with self.lock:
            for watchers in self._watchers.values():
                for watcher in watchers:
                    watcher.close()
                watchers.clear()

    # ------------------------------------------------------------------ writes
    def _check_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        ns = self._objects["namespaces"].get(("", namespace or ""))
        if ns is None:
            raise errors.not_found("namespaces", namespace or "", "", "Namespace")
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                namespace or "", "", "Namespace")

    def _validate_schema(self, rt: ResourceType, obj: Obj, version: str, strict: bool) -> list[str]:
        """Prune/default/validate against the CRD schema; returns warnings for pruned unknown fields."""
        schema = rt.schemas.get(version) or (next(iter(rt.schemas.values())) if rt.schemas else None)
        if schema is None:
            return []
        unknown = schema.normalize(obj)
        name = obj["metadata"].get("name", "")
        if unknown and strict:
            fields = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise errors.bad_request(f"{rt.kind} in version \"{version}\" cannot be handled as a {rt.kind}: "
                                     f"strict decoding error: {fields}")
        causes = schema.causes(obj)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)
        return [f'unknown field "{u}"' for u in unknown]

    def _validate_meta(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        problem = names.name_problem(rt.kind, meta["name"])
        if problem:
            raise errors.invalid(rt.kind, rt.group, meta["name"],
                                 [{"reason": "FieldValueInvalid", "message": problem, "field": "metadata.name"}])
        for what in ("labels", "annotations"):
            value = meta.get(what)
            if value is not None and (not isinstance(value, dict)
                                      or not all(isinstance(v, str) for v in value.values())):
                raise errors.bad_request(f"metadata.{what} must be a map of string keys to string values")

    def plan_create(self, rt: ResourceType, namespace: str | None, body: Any, *, version: str, manager: str,
                    strict: bool = False, warnings: list[str] | None = None, applied: bool = False,
                    created: bool = False) -> Plan:
        """The decoded object a create would store (what mutating admission sees), and how to finish it."""
        obj = copy.deepcopy(_body_dict(body, "create"))
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if obj.get("kind") not in (None, rt.kind):
            raise errors.bad_request(f'the kind "{obj.get("kind")}" in the body does not match the resource '
                                     f'{rt.key}, which holds kind "{rt.kind}"')
        obj["apiVersion"] = rt.api_version(version)
        obj["kind"] = rt.kind
        with self.lock:
            if rt.namespaced:
                if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                    raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                             "sent on the request")
                namespace = namespace or meta.get("namespace") or "default"
                meta["namespace"] = namespace
                self._check_namespace(rt, namespace)
            else:
                meta.pop("namespace", None)

        def finish(candidate: Obj) -> Obj:
            return self._prepare_create(rt, namespace, candidate, version=version, manager=manager, strict=strict,
                                        warnings=warnings, applied=applied)
        return Plan(rt, None, obj, finish, created=created)

    def _prepare_create(self, rt: ResourceType, namespace: str | None, obj: Obj, *, version: str, manager: str,
                        strict: bool, warnings: list[str] | None, applied: bool) -> Obj:
        """Server-filled metadata, defaults and validation of a create (not stored yet)."""
        obj = _body_dict(obj, "the admitted object")
        meta = obj.setdefault("metadata", {})
        obj["apiVersion"], obj["kind"] = rt.api_version(version), rt.kind
        if rt.namespaced:
            meta["namespace"] = namespace
        with self.lock:
            if not meta.get("name"):
                if meta.get("generateName"):
                    meta["name"] = names.generate_name(meta["generateName"])
                else:
                    raise errors.invalid(rt.kind, rt.group, "", [{
                        "reason": "FieldValueRequired", "field": "metadata.name",
                        "message": "Required value: name or generateName is required"}])
            self._validate_meta(rt, obj)
            if self.find(rt, namespace, meta["name"]) is not None:
                raise errors.already_exists(self._what(rt), meta["name"], rt.group, rt.kind)
            for stale in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
                meta.pop(stale, None)
            if not applied:
                meta.pop("managedFields", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = ssa.now()
            if rt.has_generation or rt.crd_name:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if rt.status and rt.crd_name:
                obj.pop("status", None)  # status is ignored on create when it is a subresource
            defaults.on_create(rt.kind, obj)
            found = self._validate_schema(rt, obj, version, strict)
            if warnings is not None:
                warnings.extend(found)
            if rt.kind == "CustomResourceDefinition":
                self._prepare_crd(obj)
            if meta.get("managedFields") is None:
                ssa.record_update(None, obj, manager, obj["apiVersion"])
            return obj

    def commit(self, plan: Plan, obj: Obj) -> Obj:
        """Store what `plan.finish` prepared; `Stale` if the object changed since the plan was made."""
        rt, old = plan.rt, plan.old
        meta = obj["metadata"]
        with self.lock:
            if old is None:
                self._check_namespace(rt, meta.get("namespace"))
                if self.find(rt, meta.get("namespace"), meta["name"]) is not None:
                    raise errors.already_exists(self._what(rt), meta["name"], rt.group, rt.kind)
                self._put(rt, None, obj)
                if rt.kind == "CustomResourceDefinition":
                    self.registry.add(resource_from_crd(obj))
                self._collect_if_ownerless(rt, obj)
                return obj
            if self.find(rt, old["metadata"].get("namespace"), old["metadata"]["name"]) is not old:
                raise Stale(f"{rt.key} {old['metadata']['name']} changed while admission ran")
            if obj is old:
                return old  # a no-op write: no new resourceVersion, no event (as the API server does)
            self._put(rt, old, obj)
            if rt.kind == "CustomResourceDefinition":
                self.registry.add(resource_from_crd(obj))
            self._collect_if_ownerless(rt, obj)
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                if rt.kind == "Namespace":
                    self._finish_namespace(obj)  # only once its contents are gone
                else:
                    self._remove(rt, obj)
            return obj

    def _run(self, plan: Plan, dry_run: bool) -> Obj:
        """Finish and (unless dry run) commit a plan in one critical section (no admission in between)."""
        with self.lock:
            obj = plan.finish(plan.candidate)
            return obj if dry_run else self.commit(plan, obj)

    def create(self, rt: ResourceType, namespace: str | None, body: Any, *, version: str, manager: str,
               dry_run: bool = False, strict: bool = False, warnings: list[str] | None = None,
               applied: bool = False) -> Obj:
        with self.lock:
            plan = self.plan_create(rt, namespace, body, version=version, manager=manager, strict=strict,
                                    warnings=warnings, applied=applied)
            return self._run(plan, dry_run)

    def _prepare_crd(self, obj: Obj) -> None:
        try:
            rt = resource_from_crd(obj)
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io", obj["metadata"]["name"], [{
                "reason": "FieldValueInvalid", "field": "spec",
                "message": f"Invalid value: the CRD cannot be served: missing or malformed {exc}"}])
        expected = f"{rt.plural}.{rt.group}"
        if obj["metadata"]["name"] != expected:
            raise errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io", obj["metadata"]["name"], [{
                "reason": "FieldValueInvalid", "field": "metadata.name",
                "message": f'Invalid value: "{obj["metadata"]["name"]}": must be spec.names.plural+"."+spec.group'
                           f' ("{expected}")'}])
        names_ = obj["spec"]["names"]
        obj["status"] = {
            "acceptedNames": names_, "storedVersions": [rt.versions[0]],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "lastTransitionTime": ssa.now(),
                 "message": "no conflicts found"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "lastTransitionTime": ssa.now(), "message": "the initial names have been accepted"},
            ],
        }

    def _finish(self, rt: ResourceType, old: Obj, new: Obj, *, version: str, manager: str, subresource: str | None,
                strict: bool, applied: bool, warnings: list[str] | None) -> Obj:
        """Common tail of update/patch: immutables, status isolation, validation, generation, no-op detection.
        Returns `old` itself for a no-op, else the object to store (not stored yet: see `commit`)."""
        new = _body_dict(new, "the admitted object")
        new["apiVersion"] = old["apiVersion"] if not rt.crd_name else rt.api_version(version)
        new["kind"] = rt.kind
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        old_meta = old["metadata"]
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation"):
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
            else:
                meta.pop(fixed, None)
        if rt.status:
            if subresource == "status":
                status = new.get("status")
                new = {**copy.deepcopy(old), "status": status} if status is not None else \
                    {k: copy.deepcopy(v) for k, v in old.items() if k != "status"}
                if applied or meta.get("managedFields") is not None:
                    new["metadata"]["managedFields"] = meta.get("managedFields")
                meta = new["metadata"]
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise errors.invalid(rt.kind, rt.group, meta["name"], [{
                    "reason": "FieldValueForbidden", "field": "metadata.finalizers",
                    "message": "Forbidden: no new finalizers can be added if the object is being deleted, "
                               f"found new finalizers {sorted(added)}"}])
        self._validate_meta(rt, new)
        found = self._validate_schema(rt, new, version, strict)
        if warnings is not None:
            warnings.extend(found)
        if rt.kind == "CustomResourceDefinition":
            self._prepare_crd(new)
        if "generation" in old_meta and self._spec_changed(rt, old, new):
            meta["generation"] = old_meta["generation"] + 1
        if not applied:
            ssa.record_update(old, new, manager, new["apiVersion"], subresource)
        if _strip_volatile(new) == _strip_volatile(old):
            return old  # a no-op write: no new resourceVersion, no event (as the API server does)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        return new

    @staticmethod
    def _spec_changed(rt: ResourceType, old: Obj, new: Obj) -> bool:
        ignored = {"metadata", "status"} if (rt.status or not rt.crd_name) else {"metadata"}
        keys = (old.keys() | new.keys()) - ignored
        return any(old.get(k) != new.get(k) for k in keys)

    def _check_rv(self, rt: ResourceType, old: Obj, wanted: Any) -> None:
        if wanted and str(wanted) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(self._what(rt), old["metadata"]["name"], rt.group, rt.kind,
                                  "the object has been modified; please apply your changes to the latest version "
                                  "and try again")

    def _update_plan(self, rt: ResourceType, old: Obj, candidate: Obj, *, version: str, manager: str,
                     subresource: str | None, strict: bool, applied: bool, warnings: list[str] | None,
                     keep_fields: bool = False) -> Plan:
        """A Plan whose finish converts a Scale back (for /scale) and runs `_finish`."""
        def finish(admitted: Obj) -> Obj:
            with self.lock:
                # The candidate is this plan's own copy (a re-plan makes a new one): finished in place.
                new = self._from_scale(rt, old, admitted) if subresource == "scale" else admitted
                if keep_fields:
                    new.setdefault("metadata", {})["managedFields"] = copy.deepcopy(
                        old["metadata"].get("managedFields"))
                return self._finish(rt, old, new, version=version, manager=manager, subresource=subresource,
                                    strict=strict, applied=applied, warnings=warnings)
        return Plan(rt, old, candidate, finish)

    def plan_update(self, rt: ResourceType, namespace: str | None, name: str, body: Any, *, version: str,
                    manager: str, subresource: str | None = None, strict: bool = False,
                    warnings: list[str] | None = None) -> Plan:
        new = copy.deepcopy(_body_dict(body, "update"))
        with self.lock:
            old = self.get(rt, namespace, name)
            body_name = (new.get("metadata") or {}).get("name")
            if body_name and body_name != name:
                raise errors.bad_request(f'the name of the object ({body_name}) does not match the name on the URL '
                                         f'({name})')
            self._check_rv(rt, old, (new.get("metadata") or {}).get("resourceVersion"))
            if subresource == "scale":
                self._from_scale(rt, old, new)  # validate the Scale now (422 before admission, as the server does)
            return self._update_plan(rt, old, new, version=version, manager=manager, subresource=subresource,
                                     strict=strict, applied=False, warnings=warnings, keep_fields=True)

    def update(self, rt: ResourceType, namespace: str | None, name: str, body: Any, *, version: str, manager: str,
               subresource: str | None = None, dry_run: bool = False, strict: bool = False,
               warnings: list[str] | None = None) -> Obj:
        with self.lock:
            plan = self.plan_update(rt, namespace, name, body, version=version, manager=manager,
                                    subresource=subresource, strict=strict, warnings=warnings)
            return self._run(plan, dry_run)

    def plan_patch(self, rt: ResourceType, namespace: str | None, name: str, raw: bytes, content_type: str, *,
                   version: str, manager: str, subresource: str | None = None, force: bool = False,
                   strict: bool = False, warnings: list[str] | None = None) -> Plan:
        """The patched object (a Scale for /scale) as admission sees it; server-side apply may plan a create."""
        kind = content_type.split(";")[0].strip().lower()
        try:
            if kind == "application/apply-patch+yaml":
                body = yaml.load(raw.decode() or "{}", Loader=_YAML_LOADER)
            else:
                body = json.loads(raw.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"the PATCH body is not valid {'YAML' if 'yaml' in kind else 'JSON'}: {exc}")
        with self.lock:
            old = self.find(rt, namespace, name)
            if kind == "application/apply-patch+yaml":
                return self._plan_apply(rt, namespace, name, old, body, version=version, manager=manager,
                                        force=force, subresource=subresource, strict=strict, warnings=warnings)
            if old is None:
                raise self._not_found(rt, name)
            target = self._to_scale(rt, old) if subresource == "scale" else old
            if kind == "application/merge-patch+json":
                new = patches.merge_patch(target, _body_dict(body, "a merge patch"))
            elif kind == "application/json-patch+json":
                new = patches.json_patch(target, body)
            elif kind == "application/strategic-merge-patch+json":
                if rt.crd_name:
                    raise errors.unsupported_media_type(
                        f"the body of the request was in an unknown format - accepted media types include: "
                        f"application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                        f" (strategic merge patch is not supported for custom resources like {rt.key})")
                new = patches.strategic_merge_patch(target, _body_dict(body, "a strategic merge patch"))
            else:
                raise errors.unsupported_media_type(
                    f'the body of the request was in an unknown format "{kind}" - accepted media types include: '
                    "application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml, application/strategic-merge-patch+json")
            new = copy.deepcopy(_body_dict(new, "the patched object"))
            self._check_rv(rt, old, (new.get("metadata") or {}).get("resourceVersion"))
            if subresource == "scale":
                self._from_scale(rt, old, new)  # 422 for a bad Scale before admission
            return self._update_plan(rt, old, new, version=version, manager=manager, subresource=subresource,
                                     strict=strict, applied=False, warnings=warnings)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, raw: bytes, content_type: str, *,
              version: str, manager: str, subresource: str | None = None, force: bool = False,
              dry_run: bool = False, strict: bool = False, warnings: list[str] | None = None) -> tuple[Obj, bool]:
        """Apply a PATCH; returns (object, created) — server-side apply may create."""
        with self.lock:
            plan = self.plan_patch(rt, namespace, name, raw, content_type, version=version, manager=manager,
                                   subresource=subresource, force=force, strict=strict, warnings=warnings)
            return self._run(plan, dry_run), plan.created

    def _plan_apply(self, rt: ResourceType, namespace: str | None, name: str, old: Obj | None, body: Any, *,
                    version: str, manager: str, force: bool, subresource: str | None, strict: bool,
                    warnings: list[str] | None) -> Plan:
        body = _body_dict(body, "server-side apply")
        if not manager:
            raise errors.bad_request("PATCH with application/apply-patch+yaml requires the fieldManager parameter")
        meta = body.get("metadata") or {}
        if not body.get("apiVersion") or not body.get("kind"):
            raise errors.bad_request("server-side apply needs apiVersion and kind in the applied object")
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f'the name of the object ({meta["name"]}) does not match the name on the URL '
                                     f'({name})')
        body = copy.deepcopy(body)
        body.setdefault("metadata", {})["name"] = name
        body["metadata"].pop("managedFields", None)
        if old is None:
            if subresource:
                raise self._not_found(rt, name)
            created = ssa.server_side_apply(None, body, manager, force, rt.api_version(version))
            return self.plan_create(rt, namespace, created, version=version, manager=manager, strict=strict,
                                    warnings=warnings, applied=True, created=True)
        self._check_rv(rt, old, meta.get("resourceVersion"))
        new = ssa.server_side_apply(old, body, manager, force, rt.api_version(version), subresource)
        return self._update_plan(rt, old, new, version=version, manager=manager, subresource=subresource,
                                 strict=strict, applied=True, warnings=warnings)

    # ------------------------------------------------------------------ scale subresource
    def _to_scale(self, rt: ResourceType, obj: Obj) -> Obj:
        if rt.scale is None:
            raise self._not_found(rt, obj["metadata"]["name"])
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": ssa.get_path(obj, tuple(rt.scale.status_replicas.strip(".").split(".")))
                                  or 0}
        if rt.scale.label_selector:
            selector = ssa.get_path(obj, tuple(rt.scale.label_selector.strip(".").split(".")))
            if selector:
                status["selector"] = selector
        return {
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": ssa.get_path(obj, tuple(rt.scale.spec_replicas.strip(".").split("."))) or 0},
            "status": status,
        }

    def scale_view(self, rt: ResourceType, obj: Obj) -> Obj:
        """`obj` seen through its /scale subresource (an autoscaling/v1 Scale)."""
        return self._to_scale(rt, obj)

    def scale(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        with self.lock:
            return self._to_scale(rt, self.get(rt, namespace, name))

    def _from_scale(self, rt: ResourceType, old: Obj, scale: Obj) -> Obj:
        if rt.scale is None:
            raise self._not_found(rt, old["metadata"]["name"])
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", old["metadata"]["name"], [{
                "reason": "FieldValueInvalid", "field": "spec.replicas",
                "message": f"Invalid value: {json.dumps(replicas)}: must be a non-negative integer"}])
        new = copy.deepcopy(old)
        node = new
        path = rt.scale.spec_replicas.strip(".").split(".")
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = replicas
        return new

    # ------------------------------------------------------------------ deletion & garbage collection
    def delete(self, rt: ResourceType, namespace: str | None, name: str, options: Obj | None = None, *,
               dry_run: bool = False) -> Obj:
        options = options or {}
        with self.lock:
            obj = self.get(rt, namespace, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
                raise errors.conflict(self._what(rt), name, rt.group, rt.kind,
                                      f"Precondition failed: UID in precondition: {pre['uid']}, "
                                      f"UID in object meta: {obj['metadata'].get('uid')}")
            self._check_rv(rt, obj, pre.get("resourceVersion"))
            if dry_run:
                return obj
            if obj["metadata"].get("deletionTimestamp"):
                return obj
            policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else
                                                          "Background")
            if policy not in ("Background", "Foreground", "Orphan"):
                raise errors.bad_request(f'propagationPolicy "{policy}" is not one of Background, Foreground, Orphan')
            return self._delete(rt, obj, policy)

    def _delete(self, rt: ResourceType, obj: Obj, policy: str) -> Obj:
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        uid = meta["uid"]
        if policy == "Orphan":
            self._orphan(uid)
        elif policy == "Foreground" and self._dependents.get(uid):
            finalizers.append("foregroundDeletion")
        # Namespaces always pass through Terminating (their contents go first); others only when finalized.
        if not finalizers and rt.kind != "Namespace":
            self._remove(rt, obj)
            return obj
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = ssa.now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
        if rt.kind == "Namespace":
            new["status"] = {"phase": "Terminating"}
        self._put(rt, obj, new)
        if policy == "Foreground":
            self._collect(uid, "Background")
            self._release_foreground(rt, new)
        if rt.kind == "Namespace":
            self._defer(NAMESPACE_DRAIN_DELAY, lambda: self._drain_namespace_named(new["metadata"]["name"]))
        return new

    def _remove(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        current = self._objects[rt.key].get(key)
        if current is None:
            return
        del self._objects[rt.key][key]
        del self._in_ns[(rt.key, key[0])][key[1]]
        self._index(rt, current, None)
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = self._bump()
        self.changes[(rt.key, key[0], key[1])] += 1
        self.generations[rt.key] += 1
        self._emit(rt, "DELETED", gone, None)
        if rt.kind == "CustomResourceDefinition" and rt.crd_name is None:
            self._drop_crd(current)
        self._collect(meta["uid"], "Background")
        self._after_removal(rt, current)

    def _drop_crd(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        for custom in list(self.registry):
            if custom.crd_name == name:
                for obj in list(self._objects[custom.key].values()):
                    self._remove(custom, obj)
        self.registry.remove_crd(name)

    def _collect(self, owner_uid: str, policy: str) -> None:
        """Background cascading deletion: dependents whose owners are all gone are deleted."""
        for rkey, ns, name in sorted(self._dependents.get(owner_uid, set())):
            rt = self._rt_by_key(rkey)
            obj = self._objects[rkey].get((ns, name)) if rt else None
            if rt is None or obj is None or obj["metadata"].get("deletionTimestamp"):
                continue
            live = [o for o in obj["metadata"].get("ownerReferences") or []
                    if o.get("uid") != owner_uid and self._uid_exists(o.get("uid"))]
            if live:
                new = copy.deepcopy(obj)
                new["metadata"]["ownerReferences"] = [o for o in new["metadata"]["ownerReferences"]
                                                      if o.get("uid") != owner_uid]
                self._put(rt, obj, new)
            else:
                self._delete(rt, obj, policy)

    def _orphan(self, owner_uid: str) -> None:
        for rkey, ns, name in sorted(self._dependents.get(owner_uid, set())):
            rt = self._rt_by_key(rkey)
            obj = self._objects[rkey].get((ns, name))
            if rt is None or obj is None:
                continue
            new = copy.deepcopy(obj)
            refs = [o for o in new["metadata"].get("ownerReferences") or [] if o.get("uid") != owner_uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self._put(rt, obj, new)

    def _collect_if_ownerless(self, rt: ResourceType, obj: Obj) -> None:
        """The garbage collector also deletes an object written with ownerReferences none of whose owners
        exists (an owner deleted just before its dependent was created): soon after, not in the write."""
        refs = [o.get("uid") for o in obj["metadata"].get("ownerReferences") or [] if o.get("uid")]
        if not refs or any(self._uid_exists(uid) for uid in refs):
            return
        key = (obj["metadata"].get("namespace"), obj["metadata"]["name"], obj["metadata"]["uid"])

        def collect() -> None:
            current = self.find(rt, key[0], key[1])
            if current is None or current["metadata"]["uid"] != key[2] or current["metadata"].get("deletionTimestamp"):
                return
            if not any(self._uid_exists(o.get("uid")) for o in current["metadata"].get("ownerReferences") or []):
                self._delete(rt, current, "Background")
        self._defer(0, collect)

    def _uid_exists(self, uid: str | None) -> bool:
        return bool(uid) and uid in self._by_uid

    def _rt_by_key(self, rkey: str) -> ResourceType | None:
        plural, _, group = rkey.partition(".")
        return self.registry.by_plural(group, plural)

    def _after_removal(self, rt: ResourceType, obj: Obj) -> None:
        """Finish deletions that waited for this object: foreground owners and terminating namespaces."""
        for owner in obj["metadata"].get("ownerReferences") or []:
            where = self._by_uid.get(owner.get("uid", ""))
            owner_rt = self._rt_by_key(where[0]) if where else None
            candidate = self._objects[where[0]].get(where[1:]) if where else None
            if owner_rt is not None and candidate is not None:
                self._release_foreground(owner_rt, candidate)
        ns = obj["metadata"].get("namespace")
        if ns:
            namespace = self._objects["namespaces"].get(("", ns))
            if namespace is not None and namespace["metadata"].get("deletionTimestamp"):
                self._finish_namespace(namespace)

    def _release_foreground(self, rt: ResourceType, owner: Obj) -> None:
        meta = owner["metadata"]
        if "foregroundDeletion" not in (meta.get("finalizers") or []) or self._dependents.get(meta["uid"]):
            return
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
        self._put(rt, owner, new)
        if not new["metadata"]["finalizers"]:
            self._remove(rt, new)

    def _defer(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` later under the lock (the namespace controller is asynchronous), or now if no loop."""
        def run() -> None:
            with self.lock:
                action()
        if self.scheduler is None:
            run()
        else:
            self.scheduler(delay, run)

    def _drain_namespace_named(self, name: str) -> None:
        namespace = self._objects["namespaces"].get(("", name))
        if namespace is not None and namespace["metadata"].get("deletionTimestamp"):
            self._drain_namespace(namespace)

    def _drain_namespace(self, namespace: Obj) -> None:
        name = namespace["metadata"]["name"]
        for rt in list(self.registry):
            if not rt.namespaced:
                continue
            for obj in list(self._in_ns.get((rt.key, name), {}).values()):
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(rt, obj, "Background")
        self._finish_namespace(namespace)

    def _finish_namespace(self, namespace: Obj) -> None:
        name = namespace["metadata"]["name"]
        if any(objs for (_, ns), objs in self._in_ns.items() if ns == name):
            return
        current = self._objects["namespaces"].get(("", name))
        if current is not None and not current["metadata"].get("finalizers"):
            self._remove(self.registry.by_plural("", "namespaces"), current)  # type: ignore[arg-type]

    def delete_collection(self, rt: ResourceType, matches: Callable[[Obj], bool], options: Obj | None = None,
                          *, dry_run: bool = False, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            items, _ = self.list(rt, matches, namespace)
            return [self.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"], options, dry_run=dry_run)
                    for o in items]

    # ------------------------------------------------------------------ test helpers
    def clear(self, keep_namespaces: set[str]) -> None:
        """Forget every object except CRDs and the given namespaces (no events: tests reset between runs)."""
        with self.lock:
            for rkey, objs in self._objects.items():
                if rkey == "customresourcedefinitions.apiextensions.k8s.io":
                    continue
                for key in list(objs):
                    if rkey == "namespaces" and key[1] in keep_namespaces:
                        continue
                    del objs[key]
            self._dependents.clear()
            self._by_uid.clear()
            self._in_ns.clear()
            self._log.clear()
            for rkey, objs in self._objects.items():
                rt = self._rt_by_key(rkey)
                for (ns, name), obj in objs.items():
                    self._in_ns[(rkey, ns)][name] = obj
                    if rt is not None:
                        self._index(rt, None, obj)
            self.changes.clear()
            for rkey in list(self._objects):
                self.generations[rkey] += 1  # caches keyed on generations see a new cluster
