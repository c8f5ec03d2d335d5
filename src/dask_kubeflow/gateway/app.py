"""The gateway's aiohttp application: routes, authorization per request, and its lifecycle."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from yarl import URL

from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.names import DASHBOARD_ROOT, MANAGED_BY, MANAGED_BY_LABEL, STATUS_CONFIGMAP, USAGE_CONFIGMAP
from ..kube.usage_record import namespace_totals
from . import pages, wake_door
from .access_log import TARGET_KEY, USER_KEY
from .authz import Gatekeeper, Outcome, Verdict
from .browser import origin_refusal, request_host, security_headers
from .cluster_actions import Shared, add_routes, read_records
from .clusters_page import cluster_rows, render_clusters_page, render_pick_namespace
from .config import GatewayConfig
from .kube import Directory, Kr8sDirectory
from .metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from .limits import ConnectionLimits, OverLimit
from .proxy import UpstreamUnavailable, has_body, is_websocket_upgrade, proxy_http, proxy_websocket
from .scheduler_stats import fetch_stats
from .trust import Identity, identify, peer_is_trusted
from .upstream import UpstreamResolver, in_cluster_resolver, served_behind_gateway

log = logging.getLogger("dask_kubeflow.gateway")

INDEX = f"{DASHBOARD_ROOT}/"  # the "Dask clusters" page; dashboards live at INDEX<ns>/<cluster>/

# The dashboard only reads (GET, HEAD, websockets). Refusing other methods keeps view-only
# contributors from the scheduler's mutating HTTP API (e.g. POST <prefix>/api/v1/retire_workers).
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})



@dataclass
class Gateway:
    """Everything a request handler needs; one per application."""

    config: GatewayConfig
    resolver: UpstreamResolver
    metrics: GatewayMetrics
    directory: Directory | None = None
    kubeconfig: str | None = None
    gatekeeper: Gatekeeper | None = None
    proxy_session: aiohttp.ClientSession | None = None
    stats_session: aiohttp.ClientSession | None = None
    limits: ConnectionLimits | None = None

    async def start(self) -> None:
        if self.directory is None:
            self.directory = await Kr8sDirectory.connect(self.kubeconfig)
        self.gatekeeper = Gatekeeper(self.directory, self.config)
        self.limits = ConnectionLimits(self.config.max_connections_per_user, self.config.max_upstream_connections)
        self.proxy_session = aiohttp.ClientSession(
            auto_decompress=False,  # pass compressed bodies through untouched
            cookie_jar=aiohttp.DummyCookieJar(),  # one shared session: never keep a user's cookies
            # ConnectionLimits refuses beyond the cap; the connector's limit is only a backstop.
            connector=aiohttp.TCPConnector(limit=self.config.max_upstream_connections + 16),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.config.upstream_connect_timeout),
        )
        self.stats_session = aiohttp.ClientSession(  # bounded by ConnectionLimits, as the proxy's
            cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(limit=0)
        )

    async def stop(self) -> None:
        for session in (self.proxy_session, self.stats_session):
            if session is not None:
                await session.close()


GATEWAY = web.AppKey("gateway", Gateway)
# How a Kubernetes lookup fails: Gatekeeper.ask turns everything into KubeError; a Directory used
# without it may still raise kr8s's or httpx's own errors.
_KUBERNETES_ERRORS = (KubeError, *API_ERRORS)


def _page(html: str, status: int = 200) -> web.Response:
    # The framing and sniffing headers are added to every response by the ``secure`` middleware.
    return web.Response(text=html, status=status, content_type="text/html", headers={"Cache-Control": "no-store"})


def _identify(request: web.Request, gateway: Gateway) -> Identity:
    identity = identify(request.remote, request.headers, gateway.config)
    if not identity.trusted and gateway.config.userid_header in request.headers:
        log.warning(
            "ignored identity header %s=%r from an untrusted source: %s. If this is the ingress "
            "gateway, add its address to --trusted-proxies (or its SPIFFE id to --trusted-principal).",
            gateway.config.userid_header,
            request.headers[gateway.config.userid_header],
            identity.reason,
        )
    request[USER_KEY] = identity.user
    return identity


async def _refusal(gateway: Gateway, verdict: Verdict) -> web.Response:
    user = verdict.identity.user
    if verdict.outcome is Outcome.UNAUTHENTICATED:
        return _page(pages.unauthenticated_page(verdict.identity.reason), 401)
    if verdict.outcome is Outcome.FORBIDDEN:
        return _page(pages.forbidden_page(user or "", verdict.namespace), 403)
    names = None
    if verdict.cluster_name is not None and verdict.detail == "no such cluster":
        assert gateway.directory is not None and gateway.gatekeeper is not None
        listed = await gateway.gatekeeper.ask(
            gateway.directory.list_clusters(verdict.namespace), f"list DaskClusters in {verdict.namespace}"
        )
        names = [c["metadata"]["name"] for c in listed]
    cluster = verdict.cluster_name if verdict.detail != "no such namespace" else None
    return _page(pages.not_found_page(user, verdict.namespace, cluster, names), 404)


# What the gateway's service account must be allowed (deploy/base/gateway/rbac.yaml grants it).
_GATEWAY_RBAC = ("create subjectaccessreviews; get namespaces; get, list, create and delete daskclusters, "
                 "daskautoscalers; patch daskclusters (wake requests); list pods, events; get configmaps "
                 f"{STATUS_CONFIGMAP}, {USAGE_CONFIGMAP}")


def _kubernetes_trouble(gateway: Gateway, identity: Identity, exc: BaseException) -> web.Response:
    """The 503 page for a Kubernetes lookup that failed, and a log line saying what to fix."""
    gateway.metrics.upstream_errors.labels("kubernetes").inc()
    err = from_exception(exc, what="a Kubernetes lookup")
    refused = err.forbidden()
    if refused is not None:
        fix = (f"the API refused '{refused[0]} {refused[1]}' to the gateway's service account: grant it "
               f"in the gateway's ClusterRole ({_GATEWAY_RBAC})")
    elif err.status is None:
        fix = ("the API server did not answer: check that it is up and that the gateway pod can reach it "
               "(NetworkPolicy, kubeconfig); every request asks again")
    elif err.transient:
        fix = "the API server failed or is overloaded: check its health and logs; every request asks again"
    else:
        fix = f"check the gateway's kubeconfig or service account and its RBAC ({_GATEWAY_RBAC})"
    log.error("user %s got a 503 page: %s; %s", identity.user or "-", err, fix)
    return _page(pages.kubernetes_unavailable_page(identity.user), 503)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = request.app[GATEWAY].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def redirect_to_index(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.rel_url.with_path(INDEX))


async def redirect_namespace(request: web.Request) -> web.Response:
    raise web.HTTPFound(URL(INDEX).with_query(ns=request.match_info["namespace"]))


async def redirect_cluster(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.rel_url.raw_path + "/status")  # percent-encoded: safe in a header


# The clusters page asks at most this many schedulers, this many at a time, each holding one of the
# viewer's connection slots: a namespace with a thousand hanging clusters costs its own page time,
# not everyone else's.
MAX_STATS_CLUSTERS = 50
STATS_CONCURRENCY = 8


async def _cluster_stats(gateway: Gateway, user: str, namespace: str, clusters: list[dict]) -> dict:
    """Scheduler stats by cluster name. Only clusters serving under their gateway prefix are asked,
    at the address derived from their namespace and name (upstream.py): the manifest's contents
    never choose what is fetched."""
    assert gateway.stats_session is not None and gateway.limits is not None
    served = [c for c in clusters if served_behind_gateway(namespace, c["metadata"]["name"], c)]
    gate = asyncio.Semaphore(STATS_CONCURRENCY)

    async def one(cluster: dict):
        name = cluster["metadata"]["name"]
        async with gate:
            try:
                with gateway.limits.slot(user):
                    return await fetch_stats(gateway.stats_session, gateway.resolver(namespace, name, cluster),
                                             namespace, cluster, gateway.config.stats_timeout)
            except OverLimit:
                return None

    served = sorted(served, key=lambda c: ((c["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) != MANAGED_BY,
                                           c["metadata"]["name"]))[:MAX_STATS_CLUSTERS]
    answers = await asyncio.gather(*(one(c) for c in served))
    return {c["metadata"]["name"]: s for c, s in zip(served, answers)}


async def clusters_index(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    assert gateway.gatekeeper is not None and gateway.directory is not None
    identity = _identify(request, gateway)
    namespace = request.query.get("ns", "").strip()
    if identity.user is None:
        return _page(pages.unauthenticated_page(identity.reason), 401)
    if not namespace:
        return _page(render_pick_namespace(identity.user))
    request[TARGET_KEY] = (namespace, None)
    try:
        verdict = await gateway.gatekeeper.check_namespace(identity, namespace)
        if verdict.outcome is not Outcome.ALLOWED:
            return await _refusal(gateway, verdict)
        clusters, autoscalers = await gateway.gatekeeper.ask(
            asyncio.gather(
                gateway.directory.list_clusters(namespace), gateway.directory.list_autoscalers(namespace)
            ),
            f"list DaskClusters and DaskAutoscalers in {namespace}",
        )
        status, usage = await read_records(gateway, namespace, _KUBERNETES_ERRORS)
    except _KUBERNETES_ERRORS as exc:
        return _kubernetes_trouble(gateway, identity, exc)
    stats = await _cluster_stats(gateway, identity.user, namespace, clusters)
    rows = cluster_rows(namespace, clusters, autoscalers, stats, status=status)
    return _page(render_clusters_page(namespace, identity.user, rows, namespace_totals(namespace, usage)))


def _browser_refusal(request: web.Request, gateway: Gateway, identity: Identity) -> web.Response | None:
    """A request the dashboard never makes (a body, another method, a cross-site websocket): the
    page refusing it, or ``None`` to proxy it."""
    if request.method not in READ_ONLY_METHODS:
        return _page(pages.read_only_page(identity.user, request.method), 405)
    if has_body(request):
        gateway.metrics.refused.labels("body").inc()
        if request.transport is not None:
            request.transport.pause_reading()  # never read the body; the connection is closed
        response = _page(pages.message_page(identity.user, "Request refused", [
            "The dashboard's requests carry no body; this one did, so it was not forwarded."]), 400)
        response.force_close()
        return response
    if is_websocket_upgrade(request):
        host = request_host(request.headers, request.host, peer_is_trusted(request.remote, gateway.config))
        refused = origin_refusal(request.headers.get("Origin"), host, gateway.config)
        if refused is not None:
            gateway.metrics.refused.labels("origin").inc()
            log.warning("refused a dashboard websocket for %s: %s (a page on another site may be "
                        "trying to use their login; if this is your Kubeflow host, add it with "
                        "--allowed-origin)", identity.user, refused)
            return _page(pages.message_page(identity.user, "Connection refused", [
                f"This dashboard connection was refused: {refused}.",
                "Open the dashboard from the Kubeflow central dashboard or its own address."]), 403)
    return None


async def dashboard_proxy(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    assert gateway.gatekeeper is not None and gateway.limits is not None
    namespace, name = request.match_info["namespace"], request.match_info["cluster"]
    request[TARGET_KEY] = (namespace, name)
    identity = _identify(request, gateway)
    try:
        verdict = await gateway.gatekeeper.check_cluster(identity, namespace, name)
        if verdict.outcome is not Outcome.ALLOWED:
            return await _refusal(gateway, verdict)
    except _KUBERNETES_ERRORS as exc:
        return _kubernetes_trouble(gateway, identity, exc)
    assert verdict.cluster is not None and identity.user is not None
    refusal = _browser_refusal(request, gateway, identity)
    if refusal is not None:
        return refusal
    if not is_websocket_upgrade(request):  # a hibernated cluster: the waking page (wake_door.py)
        try:
            door = await wake_door.before_proxy(request, gateway, identity.user, namespace, name, verdict.cluster)
        except _KUBERNETES_ERRORS as exc:
            return _kubernetes_trouble(gateway, identity, exc)
        if door is not None:
            return door
    try:
        with gateway.limits.slot(identity.user):
            return await _forward(request, gateway, verdict)
    except OverLimit as exc:
        gateway.metrics.refused.labels("per_user_limit" if exc.status == 429 else "global_limit").inc()
        log.warning("refused a dashboard connection: %s", exc.reason)
        return _page(pages.message_page(identity.user, "Too many connections", [
            f"This dashboard connection was refused: {exc.reason}.",
            "Close dashboard tabs or panes you no longer need, then reload."]), exc.status)


async def _forward(request: web.Request, gateway: Gateway, verdict: Verdict) -> web.StreamResponse:
    assert gateway.proxy_session is not None and verdict.cluster is not None and verdict.cluster_name
    namespace, name = verdict.namespace, verdict.cluster_name
    base = gateway.resolver(namespace, name, verdict.cluster)
    try:
        if is_websocket_upgrade(request):
            return await proxy_websocket(request, gateway.proxy_session, base, gateway.config, gateway.metrics)
        return await proxy_http(request, gateway.proxy_session, base, gateway.config, gateway.metrics,
                                security_headers(gateway.config))
    except UpstreamUnavailable as exc:
        gateway.metrics.upstream_errors.labels("dashboard").inc()
        if not is_websocket_upgrade(request):
            door = await wake_door.instead_of_502(request, gateway, verdict.identity.user or "", namespace, name)
            if door is not None:
                return door
        log.warning("dashboard of %s/%s at %s unavailable: %s", namespace, name, base, exc.reason)
        phase = (verdict.cluster.get("status") or {}).get("phase") or "Unknown"
        return _page(pages.upstream_unavailable_page(verdict.identity.user, namespace, name, phase), 502)


@web.middleware
async def secure(request: web.Request, handler) -> web.StreamResponse:
    """Framing, sniffing and referrer rules on every response not already sent (proxied responses
    carry them from ``proxy_http``)."""
    response = await handler(request)
    if not response.prepared:
        response.headers.update(security_headers(request.app[GATEWAY].config))
    return response


@web.middleware
async def measure(request: web.Request, handler) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    route = request.match_info.route.name or "unmatched"
    if route == "dashboard" and is_websocket_upgrade(request):
        route = "dashboard_websocket"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        gateway.metrics.requests.labels(route, str(status)).inc()
        gateway.metrics.latency.labels(route).observe(time.perf_counter() - started)


def make_app(
    config: GatewayConfig,
    *,
    directory: Directory | None = None,
    kubeconfig: str | None = None,
    resolver: UpstreamResolver | None = None,
    metrics: GatewayMetrics | None = None,
) -> web.Application:
    """Build the gateway. Without ``directory`` it connects to Kubernetes with kr8s at startup;
    without ``resolver`` it reaches schedulers by their in-cluster Service names."""
    gateway = Gateway(
        config=config,
        resolver=resolver or in_cluster_resolver(config.cluster_domain),
        metrics=metrics or GatewayMetrics(),
        directory=directory,
        kubeconfig=kubeconfig,
    )
    app = web.Application(middlewares=[measure, secure], client_max_size=64 * 1024)
    app[GATEWAY] = gateway

    async def lifecycle(app: web.Application):
        await gateway.start()
        yield
        await gateway.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics_endpoint, name="metrics")
    app.router.add_get(DASHBOARD_ROOT, redirect_to_index, name="index_redirect")
    app.router.add_get(INDEX, clusters_index, name="clusters")
    # the page's JSON API (create, delete, live rows), before the /dask/{namespace} routes
    add_routes(app, Shared(GATEWAY, _identify, _kubernetes_trouble, _cluster_stats, _KUBERNETES_ERRORS))
    wake_door.add_routes(app)
    app.router.add_route("*", INDEX + "{namespace}", redirect_namespace, name="namespace_redirect")
    app.router.add_route("*", INDEX + "{namespace}/", redirect_namespace, name="namespace_redirect_slash")
    app.router.add_route("*", INDEX + "{namespace}/{cluster}", redirect_cluster, name="cluster_redirect")
    app.router.add_route("*", INDEX + "{namespace}/{cluster}/{tail:.*}", dashboard_proxy, name="dashboard")
    return app

