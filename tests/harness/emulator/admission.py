"""Dynamic admission: calls the webhooks of the stored `admissionregistration.k8s.io/v1`
Mutating/ValidatingWebhookConfigurations as the API server's webhook admission plugins do
(k8s.io/apiserver/pkg/admission/plugin/webhook): AdmissionReview v1 over HTTPS, server certificate
checked against `clientConfig.caBundle` (read from the store on every call), rules / matchPolicy /
namespaceSelector / objectSelector matching, failurePolicy, timeoutSeconds, sideEffects on dry run,
JSON patches from mutating webhooks, the API server's wording for denials and call failures.

`clientConfig.service` names a Service; there is no cluster network, so a test maps
`<svc>.<ns>:<port>` (or any `host:port` of a `clientConfig.url`) to a local address with
`Emulator.webhook_route(...)`. Without a route the host is connected to as written.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from . import errors, patches
from .errors import ApiError
from .identity import UserInfo
from .resources import ResourceType
from .selectors import label_selector_matches

GROUP = "admissionregistration.k8s.io"
MUTATING = "mutatingwebhookconfigurations"
VALIDATING = "validatingwebhookconfigurations"
# Never sent to webhooks (the API server exempts its own admission configuration; reviews are not stored).
EXEMPT_GROUPS = (GROUP, "authorization.k8s.io", "authentication.k8s.io")
Obj = dict[str, Any]


class CallError(Exception):
    """The webhook could not be called or answered nonsense (ErrCallingWebhook): subject to failurePolicy."""


@dataclass(frozen=True)
class Hook:
    config: str
    spec: Obj

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def fail_open(self) -> bool:
        return self.spec.get("failurePolicy", "Fail") == "Ignore"

    @property
    def timeout(self) -> float:
        return float(min(max(int(self.spec.get("timeoutSeconds") or 10), 1), 30))


@dataclass
class Request:
    """Admission attributes of one request."""

    operation: str  # CREATE | UPDATE | DELETE
    rt: ResourceType
    version: str
    subresource: str | None
    namespace: str
    name: str
    user: UserInfo
    dry_run: bool
    options: Obj = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _rule_matches(rule: Obj, op: str, rt: ResourceType, version: str, sub: str | None, namespace: str) -> bool:
    if not any(o in ("*", op) for o in rule.get("operations") or []):
        return False
    if not any(g in ("*", rt.group) for g in rule.get("apiGroups") or []):
        return False
    if not any(v in ("*", version) for v in rule.get("apiVersions") or []):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and namespace:
        return False
    if scope == "Namespaced" and (rt.kind == "Namespace" or not namespace):
        return False
    for resource in rule.get("resources") or []:
        res, _, want_sub = resource.partition("/")
        if res in ("*", rt.plural) and want_sub in ("*", sub or ""):
            return True
    return False


def match_version(hook: Hook, op: str, rt: ResourceType, version: str, sub: str | None,
                  namespace: str) -> str | None:
    """The version the webhook is called with, or None if its rules do not match (matchPolicy honoured:
    Equivalent, the default, also matches the other served versions of the same resource)."""
    rules = hook.spec.get("rules") or []
    if any(_rule_matches(r, op, rt, version, sub, namespace) for r in rules):
        return version
    if hook.spec.get("matchPolicy", "Equivalent") != "Equivalent":
        return None
    for other in rt.versions:
        if other != version and any(_rule_matches(r, op, rt, other, sub, namespace) for r in rules):
            return other
    return None


def denied(hook: Hook, result: Obj | None) -> ApiError:
    """webhook/errors.ToStatusErr (Kubernetes 1.19 – 1.33): the webhook's status, code < 400 made 400."""
    result = dict(result or {})
    code = result.get("code") if isinstance(result.get("code"), int) else 0
    by = f'admission webhook "{hook.name}" denied the request'
    if result.get("message"):
        message = f"{by}: {result['message']}"
    elif result.get("reason"):
        message = f"{by}: {result['reason']}"
    else:
        message = f"{by} without explanation"
    return ApiError(code if code >= 400 else 400, result.get("reason") or "", message, result.get("details"))


def call_failed(hook: Hook, why: str) -> ApiError:
    message = f'failed calling webhook "{hook.name}": {why}'
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})


class Webhooks:
    """The webhook admission plugins: which hooks match a request, and calling them."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.routes: dict[str, str] = {}  # "host:port" -> "127.0.0.1:port"
        self._lock = threading.Lock()
        self._key: Any = None
        self._hooks: dict[str, list[Hook]] = {MUTATING: [], VALIDATING: []}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._session: aiohttp.ClientSession | None = None
        self.calls = 0

    # ------------------------------------------------------------------ configuration
    def hooks(self, plural: str) -> list[Hook]:
        key = (self.store.generations[f"{MUTATING}.{GROUP}"], self.store.generations[f"{VALIDATING}.{GROUP}"])
        with self._lock:
            if key != self._key:
                loaded: dict[str, list[Hook]] = {}
                for which in (MUTATING, VALIDATING):
                    rt = self.store.registry.by_plural(GROUP, which)
                    configs = self.store.list(rt, lambda o: True)[0]  # sorted by name, as the API server orders
                    loaded[which] = [Hook(c["metadata"]["name"], w) for c in configs for w in c.get("webhooks") or []]
                self._key, self._hooks = key, loaded
            return self._hooks[plural]

    def active(self) -> bool:
        """Cheap: is any webhook configuration stored at all?"""
        return bool(self.hooks(MUTATING) or self.hooks(VALIDATING))

    def relevant(self, plural: str, req: Request) -> list[tuple[Hook, str]]:
        if req.rt.group in EXEMPT_GROUPS:
            return []
        out = []
        for hook in self.hooks(plural):
            version = match_version(hook, req.operation, req.rt, req.version, req.subresource, req.namespace)
            if version is not None:
                out.append((hook, version))
        return out

    def _selected(self, hook: Hook, req: Request, obj: Obj | None, old: Obj | None) -> bool:
        if not req.namespace and req.rt.kind != "Namespace":
            ns_ok = True  # cluster-scoped objects are never exempted by namespaceSelector
        elif req.rt.kind == "Namespace":
            ns_ok = label_selector_matches(hook.spec.get("namespaceSelector"),
                                           ((obj or old or {}).get("metadata") or {}).get("labels"), True)
        else:
            ns_rt = self.store.registry.by_plural("", "namespaces")
            namespace = self.store.find(ns_rt, None, req.namespace) or {}
            ns_ok = label_selector_matches(hook.spec.get("namespaceSelector"),
                                           (namespace.get("metadata") or {}).get("labels"), True)
        if not ns_ok:
            return False
        selector = hook.spec.get("objectSelector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            return True
        return any(o is not None and label_selector_matches(selector, (o.get("metadata") or {}).get("labels"))
                   for o in (obj, old))

    # ------------------------------------------------------------------ admission
    async def mutate(self, req: Request, obj: Obj | None, old: Obj | None) -> Obj | None:
        """Run the matching mutating webhooks in order; returns the (patched) object."""
        for hook, version in self.relevant(MUTATING, req):
            if not self._selected(hook, req, obj, old):
                continue
            response = await self._review(hook, version, req, obj, old)
            if response is None:
                continue
            if not response.get("allowed"):
                raise denied(hook, response.get("status"))
            if response.get("patch") and obj is not None:
                obj = self._patched(hook, response, obj)
        return obj

    async def validate(self, req: Request, obj: Obj | None, old: Obj | None) -> None:
        """Run the matching validating webhooks concurrently; the first refusal (in configuration order) wins."""
        hooks = [(h, v) for h, v in self.relevant(VALIDATING, req) if self._selected(h, req, obj, old)]
        if not hooks:
            return
        responses = await asyncio.gather(*(self._review(h, v, req, obj, old) for h, v in hooks),
                                         return_exceptions=True)
        for (hook, _), response in zip(hooks, responses):
            if isinstance(response, BaseException):
                raise response
            if response is not None and not response.get("allowed"):
                raise denied(hook, response.get("status"))

    def _patched(self, hook: Hook, response: Obj, obj: Obj) -> Obj:
        if response.get("patchType") != "JSONPatch":
            raise call_failed(hook, f'received invalid webhook response: patchType "{response.get("patchType")}" '
                                    'is not supported (only "JSONPatch")')
        try:
            operations = json.loads(base64.b64decode(response["patch"], validate=True))
        except (ValueError, binascii.Error) as exc:
            raise errors.ApiError(500, "InternalError", f"Internal error occurred: {exc}")
        try:
            patched = patches.json_patch(obj, operations)
        except ApiError as exc:
            raise ApiError(500, "InternalError", f"Internal error occurred: {exc.message}")
        if not isinstance(patched, dict):
            raise ApiError(500, "InternalError", "Internal error occurred: the JSON patch did not leave an object")
        return patched

    async def _review(self, hook: Hook, version: str, req: Request, obj: Obj | None,
                      old: Obj | None) -> Obj | None:
        """The webhook's `response`; None when a failed call is ignored (failurePolicy: Ignore)."""
        if req.dry_run and hook.spec.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise errors.bad_request(f'admission webhook "{hook.name}" does not support dry run')
        versions = hook.spec.get("admissionReviewVersions") or []
        review_version = "v1" if "v1" in versions else "v1beta1" if "v1beta1" in versions else None
        try:
            if review_version is None:
                raise CallError("webhook does not accept known AdmissionReview versions (v1, v1beta1)")
            body = self._review_body(review_version, version, req, obj, old)
            response = await self._post(hook, body)
        except CallError as exc:
            if hook.fail_open:
                return None
            raise call_failed(hook, str(exc))
        req.warnings.extend(w for w in response.get("warnings") or [] if isinstance(w, str))
        return response

    def _review_body(self, review_version: str, version: str, req: Request, obj: Obj | None,
                     old: Obj | None) -> Obj:
        rt = req.rt
        kind, group = rt.kind, rt.group
        if req.subresource == "scale":
            kind, group, kind_version = "Scale", "autoscaling", "v1"
        else:
            kind_version = version
        convert = (lambda o: o if o is None or req.subresource == "scale"
                   else {**o, "apiVersion": rt.api_version(version)})
        request: Obj = {
            "uid": str(uuid.uuid4()),
            "kind": {"group": group, "version": kind_version, "kind": kind},
            "resource": {"group": rt.group, "version": version, "resource": rt.plural},
            "requestKind": {"group": group, "version": req.version if req.subresource != "scale" else "v1",
                            "kind": kind},
            "requestResource": {"group": rt.group, "version": req.version, "resource": rt.plural},
            "name": req.name, "namespace": req.namespace, "operation": req.operation,
            "userInfo": req.user.as_dict(), "object": convert(obj), "oldObject": convert(old),
            "dryRun": req.dry_run, "options": req.options or None,
        }
        if req.subresource:
            request["subResource"] = request["requestSubResource"] = req.subresource
        if not req.namespace:
            del request["namespace"]
        return {"apiVersion": f"admission.k8s.io/{review_version}", "kind": "AdmissionReview", "request": request}

    # ------------------------------------------------------------------ transport
    def _target(self, hook: Hook) -> tuple[str, str, str]:
        """(URL as the API server writes it, URL actually connected to, TLS server name)."""
        config = hook.spec.get("clientConfig") or {}
        timeout = f"timeout={int(hook.timeout)}s"
        if config.get("service"):
            svc = config["service"]
            host, port = f"{svc.get('name')}.{svc.get('namespace')}.svc", int(svc.get("port") or 443)
            path = svc.get("path") or ""
            shown = f"https://{host}:{port}{path}?{timeout}"
            route = self.routes.get(f"{svc.get('name')}.{svc.get('namespace')}:{port}") \
                or self.routes.get(f"{host}:{port}")
            if route is None:
                raise CallError(f'failed to call webhook: Post "{shown}": service "{svc.get("name")}" has no '
                                f'address in the emulator (map it with Emulator.webhook_route('
                                f'"{svc.get("name")}.{svc.get("namespace")}:{port}", "127.0.0.1:<port>"))')
            return shown, f"https://{route}{path}?{timeout}", host
        url = config.get("url") or ""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise CallError(f'failed to call webhook: clientConfig.url "{url}" is not an https:// URL')
        query = f"{parts.query}&{timeout}" if parts.query else timeout
        shown = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        port = parts.port or 443
        route = self.routes.get(f"{parts.hostname}:{port}")
        actual = urlunsplit(("https", route or parts.netloc, parts.path, query, ""))
        return shown, actual, parts.hostname

    def _ssl(self, hook: Hook) -> ssl.SSLContext:
        bundle = (hook.spec.get("clientConfig") or {}).get("caBundle") or ""
        with self._lock:
            context = self._contexts.get(bundle)
        if context is not None:
            return context
        context = ssl.create_default_context()
        if bundle:
            try:
                pem = base64.b64decode(bundle, validate=True).decode()
                context = ssl.create_default_context(cadata=pem)
            except (ValueError, binascii.Error, ssl.SSLError) as exc:
                raise CallError(f"failed to call webhook: clientConfig.caBundle is not base64 PEM: {exc}")
        with self._lock:
            if len(self._contexts) > 64:
                self._contexts.clear()
            self._contexts[bundle] = context
        return context

    async def _post(self, hook: Hook, body: Obj) -> Obj:
        shown, actual, server_name = self._target(hook)
        context = self._ssl(hook)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        self.calls += 1
        try:
            async with asyncio.timeout(hook.timeout):
                async with self._session.post(actual, json=body, ssl=context, server_hostname=server_name,
                                              headers={"Host": urlsplit(shown).netloc}) as resp:
                    text = await resp.text()
                    status = resp.status
        except TimeoutError:
            raise CallError(f'failed to call webhook: Post "{shown}": context deadline exceeded')
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise CallError(f'failed to call webhook: Post "{shown}": {exc}')
        if status != 200:
            raise CallError(f"failed to call webhook: the server responded with the status code {status}: "
                            f"{text[:200]}")
        return self._verified(body, text)

    @staticmethod
    def _verified(body: Obj, text: str) -> Obj:
        try:
            review = json.loads(text)
        except ValueError as exc:
            raise CallError(f"received invalid webhook response: {exc}")
        response = review.get("response") if isinstance(review, dict) else None
        if not isinstance(response, dict):
            raise CallError("Webhook response was absent")
        want = body["request"]["uid"]
        if response.get("uid") != want:
            raise CallError(f'received invalid webhook response: expected response.uid="{want}", '
                            f'got "{response.get("uid", "")}"')
        return response

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
