"""HTTP glue: a kmock handler that routes Kubernetes API paths to the store and streams watches.

kmock provides the request plumbing (`RawHandler.__call__` parses each request into a
`kmock.Request`), the `Status` error type, and the DSL fallback: any path or subresource the
emulator does not serve itself (for example `pods/portforward`) is handed to kmock's reactions, so a
test or another harness part can add one with `handler[...] << callback`; unmatched ones are 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from . import admission, discovery, errors, openapi, paging, rbac, table
from .errors import ApiError
from .faults import FaultTable
from .identity import ADMIN, Authenticator, UserInfo, impersonated
from .resources import ResourceType
from .sar import RuleTable
from .selectors import Selection
from .store import Plan, Stale, Store

JSON = "application/json"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ACTIONS = {"get": kmock.action.FETCH, "list": kmock.action.LIST, "watch": kmock.action.WATCH,
            "create": kmock.action.CREATE, "patch": kmock.action.UPDATE, "update": kmock.action.UPDATE,
            "delete": kmock.action.DELETE}
_TRUE = ("true", "1", "True")


@dataclass(frozen=True)
class Route:
    group: str
    version: str
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_route(path: str) -> Route | None:
    """`/apis/g/v/namespaces/ns/plural/name/sub` -> Route; None for non-API paths (trailing slashes ok)."""
    segs = [s for s in path.split("/") if s]
    if not segs or segs[0] not in ("api", "apis"):
        return None
    if segs[0] == "api":
        if len(segs) < 2:
            return None
        group, version, rest = "", segs[1], segs[2:]
    else:
        if len(segs) < 3:
            return None
        group, version, rest = segs[1], segs[2], segs[3:]
    if not rest:
        return Route(group, version)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    return Route(group, version, rest[0], namespace, rest[1] if len(rest) > 1 else None,
                 "/".join(rest[2:]) or None)


def verb_of(method: str, route: Route, params: dict[str, str]) -> str:
    if method == "GET":
        if params.get("watch") in _TRUE:
            return "watch"
        return "get" if route.name else "list"
    return {
        "POST": "create", "PUT": "update", "PATCH": "patch",
        "DELETE": "delete" if route.name else "deletecollection",
    }.get(method, method.lower())


def _manager(request: kmock.Request) -> str:
    manager = request.params.get("fieldManager")
    if manager:
        return manager
    agent = request.headers.get("User-Agent", "unknown")
    return re.split(r"[/ ]", agent, maxsplit=1)[0] or "unknown"


store_writes = ("create", "update", "patch", "delete", "deletecollection")


def _authz_name(verb: str, route: Route, params: dict[str, str]) -> str:
    """The name RBAC sees: the URL's, or for list/watch a `metadata.name=` field selector's (as requestInfo does)."""
    if route.name or verb not in ("list", "watch"):
        return route.name or ""
    for term in (params.get("fieldSelector") or "").split(","):
        key, _, value = term.partition("=")
        if key.strip() == "metadata.name" and value and not value.startswith("="):
            return value.strip()
        if key.strip() == "metadata.name" and value.startswith("="):
            return value[1:].strip()
    return ""


def _respond(body: Any, status: int = 200, warnings: list[str] | None = None) -> aiohttp.web.Response:
    escaped = ['299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in warnings or []]
    headers = {"Warning": ", ".join(escaped)} if escaped else None
    return aiohttp.web.Response(body=json.dumps(body).encode(), status=status, content_type=JSON, headers=headers)


def _error(exc: ApiError) -> aiohttp.web.Response:
    return _respond(exc.body(), exc.status)


def _versioned(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}


@attrs.define(kw_only=True)
class ApiHandler(kmock.KubernetesScaffold):
    """The emulator's request handler: kmock's handler with a stateful Kubernetes API in front."""

    store: Store
    rules: RuleTable
    faults: FaultTable
    authenticator: Authenticator = attrs.field(factory=Authenticator)
    authorizer: rbac.Authorizer = attrs.field(default=None)
    webhooks: admission.Webhooks = attrs.field(default=None)
    address: str = "127.0.0.1"
    counts: Counter[tuple[str, str, str, str]] = attrs.field(factory=Counter)
    stopping: bool = False

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.authorizer is None:
            self.authorizer = rbac.Authorizer(self.store)
        if self.webhooks is None:
            self.webhooks = admission.Webhooks(self.store)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """kmock's entry point, with the Kubernetes path parsed here (kmock 0.8 fails on `/api/v1/namespaces`)."""
        body = await raw_request.read()
        try:
            if "yaml" in raw_request.headers.get("Content-Type", "") and "apply-patch" not in raw_request.headers.get(
                    "Content-Type", ""):
                data = yaml.load(body, Loader=_YAML_LOADER) if body else None
            else:
                data = json.loads(body) if body else None
        except (ValueError, yaml.YAMLError):
            data = None
        route = parse_route(raw_request.path)
        params = dict(raw_request.query)
        request = kmock.Request(
            method=raw_request.method, url=raw_request.url, params=params, headers=dict(raw_request.headers),
            cookies=dict(raw_request.cookies), body=body, text=body.decode(errors="replace"), data=data,
            action=_ACTIONS.get(verb_of(raw_request.method, route, params)) if route and route.plural else None,
            resource=kmock.resource(route.group, route.version, route.plural) if route and route.plural else None,
            namespace=route.namespace if route else None, name=route.name if route else None,
            subresource=route.subresource if route else None, raw_request=raw_request,
        )
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as exc:  # a bug in the emulator or a test's kmock reaction: answer a 500 Status
            return await self._render_error(exc)
        finally:
            # kmock keeps every request for assertions; a long-running server must not (it would grow
            # without bound and slow down), so drop this one once it is answered.
            for index in range(len(self._requests) - 1, -1, -1):
                if self._requests[index] is request:
                    del self._requests[index]
                    break

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        path = request.url.path.rstrip("/") or "/"
        try:
            user = self.authenticator.authenticate(request.headers.get("Authorization"))
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            user = self._impersonation(request, user)
            route = parse_route(path)
            if (route is None or route.plural is None) and not user.privileged:
                self._authorize(rbac.Attributes(user, str(request.method.value).lower(), path=request.url.path,
                                                resource_request=False))
            if route is None:
                return await self._serve_other(request, path)
            if route.plural is None:
                return _respond(discovery.resource_list(self.store.registry, route.group, route.version))
            rt = self.store.registry.lookup(route.group, route.version, route.plural)
            if rt is None:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource "
                                                f"({route.plural} in {route.group or 'core'}/{route.version})")
            return await self._serve_resource(request, route, rt, user)
        except ApiError as exc:
            return _error(exc)

    def _impersonation(self, request: kmock.Request, user: UserInfo) -> UserInfo:
        """Honour `Impersonate-User/Group/Uid/Extra-*` headers when the requester may impersonate."""
        raw = request._raw_request
        target = raw.headers.get("Impersonate-User") if raw is not None else None
        if not target or raw is None:
            return user
        groups = list(raw.headers.getall("Impersonate-Group", []))
        extra: dict[str, list[str]] = {}
        for key, value in raw.headers.items():
            if key.lower().startswith("impersonate-extra-"):
                extra.setdefault(key[len("impersonate-extra-"):].lower(), []).append(value)
        as_user = impersonated(target, groups, raw.headers.get("Impersonate-Uid", ""), extra)
        if user.privileged or as_user.username == user.username:
            return as_user
        resource = "serviceaccounts" if target.startswith("system:serviceaccount:") else "users"
        self._authorize(rbac.Attributes(user, "impersonate", "", "", resource, "", target))
        for group in groups:
            self._authorize(rbac.Attributes(user, "impersonate", "", "", "groups", "", group))
        return as_user

    def _authorize(self, a: rbac.Attributes) -> None:
        allowed, reason = self.authorizer.authorize(a)
        if not allowed:
            raise errors.forbidden(rbac.forbidden_message(a, reason), a.name, a.group, a.resource)

    async def _serve_other(self, request: kmock.Request, path: str) -> aiohttp.web.StreamResponse:
        registry = self.store.registry
        if request.method == kmock.method.GET:
            if path == "/api":
                return _respond(discovery.api_versions(self.address))
            if path == "/apis":
                return _respond(discovery.group_list(registry))
            if path.startswith("/apis/") and path.count("/") == 2:
                return _respond(discovery.group(registry, path.split("/")[2]))
            if path == "/version":
                return _respond(discovery.VERSION)
            if path == "/":
                return _respond(discovery.root_paths(registry))
            if path == "/openapi/v3":
                return _respond(openapi.root(registry))
            if path.startswith("/openapi/v3/"):
                return _respond(openapi.group_version(registry, path[len("/openapi/v3/"):]))
            if path in ("/healthz", "/readyz", "/livez"):
                return aiohttp.web.Response(text="ok")
        return await super()._handle(request)  # kmock reactions, else kmock's 404

    # ------------------------------------------------------------------ resources
    async def _serve_resource(self, request: kmock.Request, route: Route, rt: ResourceType,
                              user: UserInfo = ADMIN) -> aiohttp.web.StreamResponse:
        params = dict(request.params)
        verb = verb_of(str(request.method.value).upper(), route, params)
        resource = rt.key + (f"/{route.subresource}" if route.subresource else "")
        name = route.name or ""
        if verb == "create" and isinstance(request.data, dict):
            name = str((request.data.get("metadata") or {}).get("name") or "")
        self.counts[(verb, resource, route.namespace or "", name)] += 1
        if not user.privileged:
            self._authorize(rbac.Attributes(user, verb, route.namespace or "", rt.group, rt.plural,
                                            route.subresource or "", _authz_name(verb, route, params)))

        fault = self.faults.take(verb, rt.plural, rt.group, route.subresource, route.namespace)
        if fault is not None:
            return await self._serve_fault(request, fault.status, rt, route, verb)

        if route.subresource not in (None, *rt.subresources):
            return await super()._handle(request)  # e.g. pods/log, pods/portforward: kmock reactions or 404
        if verb not in rt.verbs and not (route.subresource and verb in ("get", "update", "patch")):
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                            f"({verb} {rt.key})")
        if rt.namespaced is False and route.namespace is not None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({rt.key} is "
                                            "cluster-scoped; drop the namespaces/<ns>/ part of the path)")
        if rt.namespaced and route.namespace is None and verb not in ("list", "watch", "create"):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({rt.key} is "
                                            "namespaced; the path needs namespaces/<ns>/)")

        content_type = request.headers.get("Content-Type", "")
        if verb in ("create", "update") and content_type and "json" not in content_type and "yaml" not in content_type:
            raise errors.unsupported_media_type(
                f'the body of the request was in an unknown format "{content_type}" - accepted media types '
                "include: application/json, application/yaml (the emulator does not decode protobuf)")
        api_version = rt.api_version(route.version)
        manager = _manager(request)
        dry_run = params.get("dryRun") == "All"
        strict = params.get("fieldValidation") == "Strict"
        warnings: list[str] = []
        store = self.store

        if rt.kind == "SubjectAccessReview" and verb == "create":
            return _respond(rbac.review(request.data or {}, self.authorizer, self.rules), 201)
        if rt.kind == "SelfSubjectAccessReview" and verb == "create":
            return _respond(rbac.review(request.data or {}, self.authorizer, self.rules, requester=user), 201)
        if verb in store_writes and rt.group not in admission.EXEMPT_GROUPS and self.webhooks.active():
            return await self._serve_admitted(request, route, rt, verb, user, params, warnings)

        as_table = table.wants_table(request.headers.get("Accept", "")) and route.subresource is None
        include_object = params.get("includeObject") == "Object"
        if verb == "get":
            if route.subresource == "scale":
                return _respond(store.scale(rt, route.namespace, route.name or ""))
            obj = _versioned(store.get(rt, route.namespace, route.name or ""), api_version)
            if as_table:
                return _respond(table.table(rt, route.version, [obj], store.resource_version, include_object))
            return _respond(obj)
        if verb in ("list", "watch"):
            selection = Selection(route.namespace, params.get("labelSelector"), params.get("fieldSelector"),
                                  route.name)
            if verb == "list":
                items, rv = store.list(rt, selection.matches, route.namespace)
                items, list_meta = paging.page(items, rv, params)
                if as_table:
                    body = table.table(rt, route.version, [_versioned(o, api_version) for o in items],
                                       list_meta["resourceVersion"], include_object)
                    body.setdefault("metadata", {}).update(list_meta)
                    return _respond(body)
                return _respond({"kind": f"{rt.kind}List", "apiVersion": api_version, "metadata": list_meta,
                                 "items": [_versioned(o, api_version) for o in items]})
            render = (lambda o: table.table(rt, route.version, [o], o["metadata"]["resourceVersion"],
                                            include_object)) if as_table else None
            return await self._serve_watch(request, rt, selection, api_version, params, render)
        if verb == "create":
            obj = store.create(rt, route.namespace, request.data, version=route.version, manager=manager,
                               dry_run=dry_run, strict=strict, warnings=warnings)
            return _respond(_versioned(obj, api_version), 201, warnings)
        if verb == "update":
            obj = store.update(rt, route.namespace, route.name or "", request.data, version=route.version,
                               manager=manager, subresource=route.subresource, dry_run=dry_run, strict=strict,
                               warnings=warnings)
            return self._written(rt, obj, api_version, route, warnings)
        if verb == "patch":
            obj, created = store.patch(
                rt, route.namespace, route.name or "", request.body, request.headers.get("Content-Type", ""),
                version=route.version, manager=manager, subresource=route.subresource,
                force=params.get("force") in _TRUE, dry_run=dry_run, strict=strict, warnings=warnings)
            if created:
                return _respond(_versioned(obj, api_version), 201, warnings)
            return self._written(rt, obj, api_version, route, warnings)
        options = dict(request.data) if isinstance(request.data, dict) else {}
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if key in params:
                options.setdefault(key, params[key])
        dry_run = dry_run or options.get("dryRun") == ["All"]
        if verb == "delete":
            obj = store.delete(rt, route.namespace, route.name or "", options, dry_run=dry_run)
            return _respond(_versioned(obj, api_version))
        if verb == "deletecollection":
            selection = Selection(route.namespace, params.get("labelSelector"), params.get("fieldSelector"))
            items = store.delete_collection(rt, selection.matches, options, dry_run=dry_run,
                                            namespace=route.namespace)
            return _respond({"kind": f"{rt.kind}List", "apiVersion": api_version,
                             "metadata": {"resourceVersion": store.resource_version},
                             "items": [_versioned(o, api_version) for o in items]})
        raise errors.method_not_allowed(f"the emulator does not serve {request.method} on {rt.key}")

    # ------------------------------------------------------------------ writes through admission webhooks
    async def _serve_admitted(self, request: kmock.Request, route: Route, rt: ResourceType, verb: str,
                              user: UserInfo, params: dict[str, str],
                              warnings: list[str]) -> aiohttp.web.StreamResponse:
        """A write whose webhooks may apply: plan, mutate, finish, validate, commit (re-planned if the object
        changed meanwhile, as the API server's GuaranteedUpdate retries)."""
        store, sub = self.store, route.subresource
        api_version = rt.api_version(route.version)
        dry_run = params.get("dryRun") == "All"
        if verb in ("delete", "deletecollection"):
            return await self._serve_admitted_delete(request, route, rt, verb, user, params)
        manager, strict = _manager(request), params.get("fieldValidation") == "Strict"
        options: dict[str, Any] = {"apiVersion": "meta.k8s.io/v1",
                                   "kind": {"create": "CreateOptions", "update": "UpdateOptions"}.get(verb,
                                                                                                 "PatchOptions")}
        if dry_run:
            options["dryRun"] = ["All"]
        if params.get("fieldManager"):
            options["fieldManager"] = params["fieldManager"]

        def plan() -> Plan:
            if verb == "create":
                return store.plan_create(rt, route.namespace, request.data, version=route.version, manager=manager,
                                         strict=strict, warnings=warnings)
            if verb == "update":
                return store.plan_update(rt, route.namespace, route.name or "", request.data, version=route.version,
                                         manager=manager, subresource=sub, strict=strict, warnings=warnings)
            return store.plan_patch(rt, route.namespace, route.name or "", request.body,
                                    request.headers.get("Content-Type", ""), version=route.version, manager=manager,
                                    subresource=sub, force=params.get("force") in _TRUE, strict=strict,
                                    warnings=warnings)

        for _attempt in range(10):
            planned = plan()
            meta = planned.candidate.get("metadata") or {}
            req = admission.Request(planned.operation, rt, route.version, sub, meta.get("namespace") or "",
                                    route.name or meta.get("name") or "", user, dry_run, options)
            old = store.scale_view(rt, planned.old) if sub == "scale" and planned.old is not None else planned.old
            candidate = await self.webhooks.mutate(req, planned.candidate, old)
            obj = planned.finish(candidate or planned.candidate)
            await self.webhooks.validate(req, store.scale_view(rt, obj) if sub == "scale" else obj, old)
            warnings.extend(req.warnings)
            if dry_run:
                break
            try:
                obj = store.commit(planned, obj)
                break
            except Stale:
                continue
        else:
            raise errors.conflict(rt.key, route.name or "", rt.group, rt.kind,
                                  "the object kept changing while admission webhooks ran; try again")
        if planned.old is None:
            return _respond(_versioned(obj, api_version), 201, warnings)
        return self._written(rt, obj, api_version, route, warnings)

    async def _serve_admitted_delete(self, request: kmock.Request, route: Route, rt: ResourceType, verb: str,
                                     user: UserInfo, params: dict[str, str]) -> aiohttp.web.StreamResponse:
        api_version = rt.api_version(route.version)
        options = dict(request.data) if isinstance(request.data, dict) else {}
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if key in params:
                options.setdefault(key, params[key])
        dry_run = params.get("dryRun") == "All" or options.get("dryRun") == ["All"]
        review_options = {"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions",
                          **{k: v for k, v in options.items() if k not in ("apiVersion", "kind")}}
        if verb == "delete":
            targets = [self.store.get(rt, route.namespace, route.name or "")]
        else:
            selection = Selection(route.namespace, params.get("labelSelector"), params.get("fieldSelector"))
            targets = self.store.list(rt, selection.matches, route.namespace)[0]
        warnings: list[str] = []
        done = []
        for obj in targets:
            meta = obj["metadata"]
            req = admission.Request("DELETE", rt, route.version, None, meta.get("namespace") or "", meta["name"],
                                    user, dry_run, review_options)
            await self.webhooks.mutate(req, None, None)  # the API server passes no objects to mutating DELETE
            await self.webhooks.validate(req, None, obj)
            warnings.extend(req.warnings)
            done.append(self.store.delete(rt, meta.get("namespace"), meta["name"], options, dry_run=dry_run))
        if verb == "delete":
            return _respond(_versioned(done[0], api_version), 200, warnings)
        return _respond({"kind": f"{rt.kind}List", "apiVersion": api_version,
                         "metadata": {"resourceVersion": self.store.resource_version},
                         "items": [_versioned(o, api_version) for o in done]}, 200, warnings)

    def _written(self, rt: ResourceType, obj: dict[str, Any], api_version: str, route: Route,
                 warnings: list[str]) -> aiohttp.web.Response:
        if route.subresource == "scale":
            return _respond(self.store.scale(rt, route.namespace, route.name or ""), 200, warnings)
        return _respond(_versioned(obj, api_version), 200, warnings)

    async def _serve_fault(self, request: kmock.Request, status: int | str, rt: ResourceType, route: Route,
                           verb: str) -> aiohttp.web.StreamResponse:
        if status == "hang":
            raw = request._raw_request
            while not self.stopping and raw is not None and raw.transport is not None \
                    and not raw.transport.is_closing():
                await asyncio.sleep(0.05)
            return _error(ApiError(504, "Timeout", "injected fault: the request hung until the client gave up"))
        code = int(status)
        reason = {409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests",
                  404: "NotFound", 403: "Forbidden", 422: "Invalid"}.get(code, "InternalError")
        name = route.name or ""
        return _error(ApiError(code, reason, f"injected fault: {verb} {rt.key} {name} answers {code} "
                                             "(set with Emulator.fault)",
                               {"name": name, "group": rt.group, "kind": rt.kind}))

    async def _serve_watch(self, request: kmock.Request, rt: ResourceType, selection: Selection, api_version: str,
                           params: dict[str, str], render: Any = None) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        initial = params.get("sendInitialEvents") in _TRUE
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": JSON})
        try:
            watcher, first = self.store.open_watch(rt, selection.matches, params.get("resourceVersion"),
                                                   asyncio.get_running_loop(), initial, selection.namespace)
        except ApiError as exc:
            if exc.status != 410:
                raise
            # As the API server does: a 200 stream whose only event is an ERROR carrying 410 Expired.
            await response.prepare(raw)
            await response.write(json.dumps({"type": "ERROR", "object": exc.body()}).encode() + b"\n")
            await response.write_eof()
            return response
        try:
            await response.prepare(raw)
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
            async with asyncio.timeout(timeout):
                for etype, obj in first:
                    await response.write(self._line(etype, obj, api_version, render))
                if initial:
                    await response.write(json.dumps({"type": "BOOKMARK", "object": {
                        "kind": rt.kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": self.store.resource_version,
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}}).encode() + b"\n")
                while True:
                    event = await watcher.queue.get()
                    if event is None:
                        break
                    await response.write(self._line(event[0], event[1], api_version, render))
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.store.close_watch(watcher)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    @staticmethod
    def _line(etype: str, obj: dict[str, Any], api_version: str, render: Any = None) -> bytes:
        obj = _versioned(obj, api_version)
        return json.dumps({"type": etype, "object": render(obj) if render else obj}).encode() + b"\n"

