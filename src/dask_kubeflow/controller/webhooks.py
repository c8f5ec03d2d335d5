"""Admission webhooks served by the controller: kopf handlers around the pure ``admission`` decisions.

``register_webhooks(registry)`` adds, when a serving certificate is there (``tls.crt`` / ``tls.key`` of
the cert-manager Secret, mounted at ``/etc/dask-kubeflow/webhook``, or ``$DASK_KUBEFLOW_WEBHOOK_CERT_DIR``):

- ``@kopf.on.mutate`` ``mutate-dask`` (creates): fills missing requests/limits from the namespace's tier;
- ``@kopf.on.validate`` ``validate-dask``: tier limits, pod security, the managed cluster's
  protection, ``userClusters`` (counting the namespace's Dask objects, only when the decision needs
  it, from the controller's informer cache: ``controller.usage``; live lists only as a fallback);
- the HTTPS server (``settings.admission.server``), ``CertReloadingServer``: it loads a renewed
  certificate into the live TLS context, so rotation never closes the listening socket.

The webhook configurations are ours (deploy/base/webhooks, CA injected by cert-manager), not kopf's
managed ones: ``settings.admission.managed`` stays unset, so the controller needs no RBAC on
admissionregistration and the configuration exists (fail-closed) even while the controller is down.
kopf serves each handler at ``/<handler id>``. Without a certificate nothing is registered: kopf
refuses admission handlers that have no server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import kopf
import kr8s

from ..admission import DASK_RESOURCES, Caller, Request, Trust, Usage, mutate, needs_usage, validate
from ..kube.names import (ENV_INSTALL_NAMESPACE, ENV_OPERATOR_NAMESPACE, INSTALL_NAMESPACE, OPERATOR_NAMESPACE,
                          GATEWAY_SERVICE, TIER_REFUSED_REASON)
from ..kube.resources import DaskAutoscaler, DaskCluster, DaskWorkerGroup
from ..policy import ClusterShape, NamespaceFacts, resolve
from .events import post_event

__all__ = ["CertReloadingServer", "namespace_usage", "refusals_are_not_errors", "register_webhooks", "trust_from_env", "MUTATE_ID",
           "VALIDATE_ID", "ENV_WEBHOOK_CERT_DIR", "ENV_WEBHOOK_PORT", "ENV_WEBHOOK_ADDRESS",
           "ENV_WEBHOOK_CERT_CHECK_SECONDS"]

log = logging.getLogger("dask_kubeflow.controller.webhooks")

ENV_WEBHOOK_CERT_DIR = "DASK_KUBEFLOW_WEBHOOK_CERT_DIR"
ENV_WEBHOOK_PORT = "DASK_KUBEFLOW_WEBHOOK_PORT"
ENV_WEBHOOK_ADDRESS = "DASK_KUBEFLOW_WEBHOOK_ADDRESS"
ENV_WEBHOOK_CERT_CHECK_SECONDS = "DASK_KUBEFLOW_WEBHOOK_CERT_CHECK_SECONDS"  # how often to look for a renewal
USAGE_TIMEOUT = 3.0  # seconds for listing a namespace's Dask objects (the webhook's own timeout is 10)
DEFAULT_WEBHOOK_PORT = 9443
DEFAULT_CERT_DIR = "/etc/dask-kubeflow/webhook"  # where deploy/base/webhooks mounts Secret dask-kubeflow-webhook-tls
MUTATE_ID = "mutate-dask"
VALIDATE_ID = "validate-dask"
CONTROLLER_ACCOUNT = "dask-kubeflow-controller"
OPERATOR_ACCOUNT = "dask-kubernetes-operator"
_OPERATIONS = ["CREATE", "UPDATE", "DELETE"]


def trust_from_env(environ: dict[str, str] | None = None) -> Trust:
    """The controller's and the operator's ServiceAccounts, from where deploy/ installed them."""
    env = os.environ if environ is None else environ
    install = env.get(ENV_INSTALL_NAMESPACE) or INSTALL_NAMESPACE
    operator = env.get(ENV_OPERATOR_NAMESPACE) or OPERATOR_NAMESPACE
    return Trust(controller=frozenset({f"system:serviceaccount:{install}:{CONTROLLER_ACCOUNT}"}),
                 operator=frozenset({f"system:serviceaccount:{operator}:{OPERATOR_ACCOUNT}"}))


def _is_dask(resource: kopf.Resource) -> bool:
    return resource.group == "kubernetes.dask.org" and resource.plural in DASK_RESOURCES


# -- the namespace's tier and Dask objects ---------------------------------------------------------
def _shape(memo: Any, namespace: str) -> ClusterShape:
    """The namespace's tier as the controller resolves it; refuse (retry later) while it cannot tell."""
    controller = memo.controller
    policy = controller.policy.policy if controller.policy is not None else None
    informer = controller.informer
    if policy is None or informer is None or not informer.synced.is_set():
        log.warning("refused a Dask object in namespace %s: the policy and namespaces are not read yet", namespace)
        raise kopf.AdmissionError("dask-kubeflow's controller is starting and has not read the policy or the "
                                  "namespaces yet, so it cannot check this against your tier; retry in a minute "
                                  "(if it persists: kubectl logs deploy/dask-kubeflow-controller)", code=503)
    inputs = controller.inputs(namespace)
    meta, profile = inputs.namespace, inputs.profile
    facts = NamespaceFacts(name=namespace, labels=dict(meta.labels) if meta else {},
                           owner=(profile.owner if profile else None) or (meta.owner if meta else None),
                           contributors=inputs.contributors)
    return resolve(policy, facts)


async def _items(api: kr8s.asyncio.Api, cls: Any, namespace: str) -> tuple[dict[str, Any], ...]:
    async with api.async_get_kind(cls, namespace=namespace) as (_, response):
        return tuple(response.json().get("items") or ())


async def namespace_usage(api: kr8s.asyncio.Api, namespace: str) -> Usage:
    """The namespace's DaskClusters, DaskWorkerGroups and DaskAutoscalers (three lists, concurrently)."""
    try:
        clusters, groups, autoscalers = await asyncio.wait_for(asyncio.gather(
            *(_items(api, cls, namespace) for cls in (DaskCluster, DaskWorkerGroup, DaskAutoscaler))), USAGE_TIMEOUT)
    except Exception as err:  # kr8s/httpx errors: cannot count, so cannot allow more
        log.warning("refused a Dask object in namespace %s: cannot list its Dask objects to count them (%s)",
                    namespace, err)
        raise kopf.AdmissionError(f"cannot count the Dask clusters of namespace {namespace!r} to check them "
                                  f"against your tier ({err}); retry in a moment", code=503) from err
    return Usage(clusters, groups, autoscalers)


async def _usage(controller: Any, namespace: str) -> Usage:
    """From the controller's list-and-watch cache (no API call: ~0.05 ms instead of three LISTs,
    ~9 ms); the live lists only if the cache cannot answer (``_shape`` already refuses until it is
    synced, so this is a safety net, never the normal road). Behind by the watch's lag: see docs/admission.md."""
    cached = controller.usage(namespace) if hasattr(controller, "usage") else None
    return cached if cached is not None else await namespace_usage(controller.api, namespace)


def _request(resource: kopf.Resource, kwargs: dict[str, Any]) -> Request:
    new, old = kwargs.get("new"), kwargs.get("old")
    body = kwargs.get("body") or {}
    return Request(resource=resource.plural, operation=str(kwargs.get("operation") or ""),
                   namespace=str(kwargs.get("namespace") or body.get("metadata", {}).get("namespace") or ""),
                   name=str(kwargs.get("name") or body.get("metadata", {}).get("name") or ""),
                   caller=Caller.from_user_info(kwargs.get("userinfo")),
                   obj=dict(new) if new is not None else None, old=dict(old) if old is not None else None,
                   subresource=str(kwargs.get("subresource") or ""), dry_run=bool(kwargs.get("dryrun")))


_POSTING: set[asyncio.Task[None]] = set()
_POSTED: dict[tuple[str, str, str, str], float] = {}  # kr8s re-sends a 403 three times: one Event for them
_REPEAT_SECONDS = 30.0


def _first_in_a_while(key: tuple[str, str, str, str]) -> bool:
    now = time.monotonic()
    if len(_POSTED) > 1000:
        _POSTED.clear()
    if now - _POSTED.get(key, -_REPEAT_SECONDS) < _REPEAT_SECONDS:
        return False
    _POSTED[key] = now
    return True


def _record_refusal(api: Any, request: Request, message: str) -> None:
    """A refusal becomes a Warning Event in the namespace (``TIER_REFUSED_REASON``), posted in the
    background: ``status``, ``doctor`` and the clusters page show it (which cluster, which limit)."""
    key = (request.namespace, request.kind, request.name, message)
    if request.dry_run or api is None or not _first_in_a_while(key):
        return
    involved = {"apiVersion": "kubernetes.dask.org/v1", "kind": request.kind, "name": request.name,
                "namespace": request.namespace}
    who = request.caller.username or "someone"
    task = asyncio.create_task(post_event(api, involved=involved, namespace=request.namespace,
                                          reason=TIER_REFUSED_REASON, warning=True,
                                          message=f"{request.operation} {request.kind} {request.name} by {who} "
                                                  f"refused: {message}"))
    _POSTING.add(task)
    task.add_done_callback(_POSTING.discard)


# -- the handlers ----------------------------------------------------------------------------------
def _handlers(trust: Trust, delegates: frozenset[str] = frozenset()) -> tuple[Any, Any]:
    async def validate_dask(resource: kopf.Resource, memo: Any, **kwargs: Any) -> None:
        request = _request(resource, kwargs)
        shape = _shape(memo, request.namespace)
        usage = None
        if needs_usage(request, shape):
            usage = await _usage(memo.controller, request.namespace)
        verdict = validate(request, shape, trust, usage)
        if not verdict.allowed:
            log.info("refused %s %s %s/%s for %s: %s", request.operation, request.kind, request.namespace,
                     request.name, request.caller.username, verdict.message)
            _record_refusal(memo.controller.api, request, verdict.message)
            raise kopf.AdmissionError(verdict.message, code=verdict.code)

    async def mutate_dask(resource: kopf.Resource, memo: Any, patch: kopf.Patch, warnings: list[str],
                          **kwargs: Any) -> None:
        request = _request(resource, kwargs)
        verdict = mutate(request, _shape(memo, request.namespace),
                         getattr(getattr(memo.controller, "settings", None), "platform", None), delegates)
        if not verdict.allowed:
            log.info("refused %s %s %s/%s for %s: %s", request.operation, request.kind, request.namespace,
                     request.name, request.caller.username, verdict.message)
            raise kopf.AdmissionError(verdict.message, code=verdict.code)
        if verdict.patched is not None:
            spec, meta = verdict.patched.get("spec"), verdict.patched.get("metadata") or {}
            patch.fns.append(lambda body: body.__setitem__("spec", spec))
            for key in ("labels", "annotations"):  # user clusters: labels, owner, dashboard prefix
                if meta.get(key) is not None:
                    patch.fns.append(lambda body, key=key: body["metadata"].__setitem__(key, meta[key]))
            warnings.extend(verdict.warnings)

    return validate_dask, mutate_dask


def register_webhooks(registry: kopf.OperatorRegistry, environ: dict[str, str] | None = None) -> bool:
    """Register the handlers and the server when a certificate directory is configured; True if so."""
    env = dict(os.environ if environ is None else environ)
    cert_dir = env.get(ENV_WEBHOOK_CERT_DIR) or (DEFAULT_CERT_DIR if (Path(DEFAULT_CERT_DIR) / "tls.crt").exists()
                                                  else None)
    if not cert_dir:
        return False
    port = int(env.get(ENV_WEBHOOK_PORT) or DEFAULT_WEBHOOK_PORT)
    address = env.get(ENV_WEBHOOK_ADDRESS) or "0.0.0.0"
    check_seconds = float(env.get(ENV_WEBHOOK_CERT_CHECK_SECONDS) or 10)
    install = env.get(ENV_INSTALL_NAMESPACE) or INSTALL_NAMESPACE  # the gateway creates for the user it checked
    gateway = frozenset({f"system:serviceaccount:{install}:{GATEWAY_SERVICE}"})
    validate_dask, mutate_dask = _handlers(trust_from_env(env), gateway)
    logging.getLogger("kopf.objects").addFilter(refusals_are_not_errors)
    common: dict[str, Any] = dict(subresource="*", registry=registry, side_effects=False)
    kopf.on.mutate(_is_dask, id=MUTATE_ID, operations=["CREATE"], **common)(mutate_dask)
    kopf.on.validate(_is_dask, id=VALIDATE_ID, operations=_OPERATIONS, **common)(validate_dask)

    @kopf.on.startup(id="webhook-server", registry=registry)
    async def webhook_server(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.admission.server = CertReloadingServer(
            addr=address, port=port, certfile=Path(cert_dir) / "tls.crt", pkeyfile=Path(cert_dir) / "tls.key",
            file_check_interval=check_seconds)
        log.info("serving admission webhooks on https://%s:%d/{%s,%s} (certificate from %s)", address, port,
                 MUTATE_ID, VALIDATE_ID, cert_dir)

    return True


def refusals_are_not_errors(record: logging.LogRecord) -> bool:
    """Drop kopf's "Webhook 'validate-dask' failed permanently: <why>" ERROR line, one per refusal.

    A request the tier refuses is the user's mistake, not the controller's: the handlers above log
    each refusal themselves (INFO, with who and what; WARNING when the controller cannot decide).
    """
    message = record.getMessage()
    return not (message.startswith("Webhook ") and " failed permanently: " in message
                and any(f"'{handler}'" in message for handler in (MUTATE_ID, VALIDATE_ID)))


# -- the HTTPS server ------------------------------------------------------------------------------
def _digest(paths: list[Path]) -> str:
    hasher = hashlib.sha256()
    for path in paths:
        try:
            hasher.update(path.read_bytes())
        except OSError:
            hasher.update(b"missing")
    return hasher.hexdigest()


class CertReloadingServer(kopf.WebhookServer):
    """kopf's ``WebhookServer`` with one difference: a renewed certificate (cert-manager rewrites the
    mounted Secret) is loaded into the running server's TLS context. kopf's own server stops its
    socket and starts a new one, refusing connections in between — under failurePolicy Fail, failed
    writes. Here new handshakes present the new certificate and nothing stops listening."""

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        assert self.certfile is not None and self.pkeyfile is not None
        files = [Path(self.certfile), Path(self.pkeyfile)]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.pkeyfile, self.password)

        async def serve(request: aiohttp.web.Request) -> aiohttp.web.Response:
            try:
                data = await request.json()
                response = await fn(data, webhook=request.match_info.get("id"), headers=dict(request.headers),
                                    sslpeer=request.transport.get_extra_info("peercert") if request.transport else None)
            except Exception as err:  # a bad body, or a request kopf cannot match (its WebhookError)
                log.warning("bad admission request to /%s: %s", request.match_info.get("id"), err)
                raise aiohttp.web.HTTPBadRequest(reason=str(err) or None) from err
            return aiohttp.web.json_response(response)

        app = aiohttp.web.Application()
        app.add_routes([aiohttp.web.post("/{id:.*}", serve)])
        runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            port = self.port or DEFAULT_WEBHOOK_PORT
            site = aiohttp.web.TCPSite(runner, self.addr or None, port, ssl_context=context, reuse_address=True)
            await site.start()
            yield kopf.WebhookClientConfig(url=f"https://{self.host or self.addr or 'localhost'}:{port}")
            await self._reload_forever(context, files)
        finally:
            await runner.cleanup()

    async def _reload_forever(self, context: ssl.SSLContext, files: list[Path]) -> None:
        digest = _digest(files)
        while True:
            await asyncio.sleep(self.file_check_interval)
            current = _digest(files)
            if current == digest:
                continue
            try:
                context.load_cert_chain(files[0], files[1], self.password)
            except (OSError, ssl.SSLError) as err:  # half-written files: try again at the next check
                log.warning("renewed webhook certificate in %s not loadable yet (%s); retrying", files[0].parent, err)
                continue
            digest = current
            log.info("loaded the renewed webhook certificate from %s", files[0].parent)
