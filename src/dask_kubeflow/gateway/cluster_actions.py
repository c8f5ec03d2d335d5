"""The clusters page's JSON API: live rows, create and delete, as Kubeflow's CRUD web apps do them.

- ``GET  /dask/_api/namespaces/<ns>/clusters``: rows (phase from pods and events), the tier's choices,
  recent refusals by the tier, and whether the viewer may create/delete (the page polls it);
- ``POST`` the same path, JSON ``{"name", "workers", "workerCpu", "workerMemory"}``: create a user cluster;
- ``DELETE /dask/_api/namespaces/<ns>/clusters/<name>``: delete a user cluster (never the platform's).

Writes are checked like the Jupyter web app's: the signed-in user must pass a SubjectAccessReview
for ``create``/``delete`` ``daskclusters`` in the namespace, then the gateway's ServiceAccount does
the write, naming the user as owner (the admission webhook believes that annotation from the
gateway only, and renders the cluster from the tier and counts it against ``userClusters``).
Cross-site writes are refused: a write needs the page's own Origin (or Referer) and a JSON body,
which no HTML form can send. ``_api`` is no namespace name (Kubernetes names have no ``_``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..kube.errors import KubeError
from ..kube.names import (DASHBOARD_ROOT, MANAGED_BY, MANAGED_BY_LABEL, MAX_CLUSTER_NAME, OPERATOR_CLUSTER_LABEL,
                          OWNER_ANNOTATION, STATUS_CONFIGMAP, USAGE_CONFIGMAP, is_dns_label)
from ..kube.usage_record import namespace_totals
from ..render.user_cluster import RequestError, Requested, user_cluster_request
from .access_log import TARGET_KEY
from .authz import Outcome
from .browser import origin_refusal, request_host
from .clusters_page import cluster_rows, page_state, tier_choices
from .trust import peer_is_trusted

__all__ = ["API_ROOT", "Shared", "add_routes", "allowed", "may", "read_record", "read_records"]

log = logging.getLogger("dask_kubeflow.gateway.actions")
API_ROOT = f"{DASHBOARD_ROOT}/_api/namespaces"
_DENIED = "denied the request: "
Gateway = Any  # app.Gateway (app.py registers these routes: importing it back would be a cycle)


@dataclass(frozen=True)
class Shared:
    """What the page's own handler in app.py also uses: the Gateway's AppKey, how a request's user
    is identified, the 503 for a failed Kubernetes call, the schedulers' stats, the errors to catch."""

    key: Any
    identify: Callable[..., Any]
    trouble: Callable[..., web.Response]
    stats: Callable[..., Any]
    errors: tuple[type[BaseException], ...]


SHARED = web.AppKey("cluster_actions", Shared)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def _error(message: str, status: int, fix: str = "") -> web.Response:
    return _json({"error": message, "fix": fix}, status)


def _same_site(request: web.Request, gateway: Gateway) -> str | None:
    """Why a write is refused as cross-site (CSRF), or None: the Origin — or, without one, the
    Referer's origin — must be this site (the gateway's websocket rule), the body JSON."""
    origin = request.headers.get("Origin")
    if origin is None and (referer := request.headers.get("Referer")):
        from yarl import URL

        url = URL(referer)
        origin = f"{url.scheme}://{url.raw_authority}" if url.absolute else None
    host = request_host(request.headers, request.host, peer_is_trusted(request.remote, gateway.config))
    refused = origin_refusal(origin, host, gateway.config)
    if refused is None and request.method == "POST" and request.content_type != "application/json":
        refused = f"the request body is {request.content_type or 'missing'}, not application/json"
    return refused


async def allowed(request: web.Request, verb: str | None) -> tuple[Gateway, str, str] | web.Response:
    """The gateway, user and namespace when the viewer may do ``verb`` (None: view) here."""
    shared = request.app[SHARED]
    gateway = request.app[shared.key]
    assert gateway.gatekeeper is not None
    identity = shared.identify(request, gateway)
    namespace = request.match_info["namespace"]
    request[TARGET_KEY] = (namespace, request.match_info.get("name"))
    if identity.user is None:
        return _error("sign in through the Kubeflow central dashboard", 401)
    if verb is not None and (refused := _same_site(request, gateway)) is not None:
        gateway.metrics.refused.labels("origin").inc()
        log.warning("refused a cross-site %s for %s: %s", request.method, identity.user, refused)
        return _error(f"refused: {refused}", 403, "use the clusters page itself")
    try:
        verdict = await gateway.gatekeeper.check_namespace(identity, namespace)
        if verdict.outcome is not Outcome.ALLOWED:
            status = {Outcome.FORBIDDEN: 403, Outcome.NOT_FOUND: 404}.get(verdict.outcome, 401)
            return _error(f"no access to namespace {namespace} for {identity.user}", status,
                          "ask the namespace owner to add you as a contributor")
        if verb is not None and not await may(gateway, identity.user, namespace, verb):
            return _error(f"{identity.user} may not {verb} Dask clusters in namespace {namespace} "
                          "(a contributor with view access only)", 403,
                          "ask the namespace owner for edit access (Manage Contributors)")
    except shared.errors as exc:
        return shared.trouble(gateway, identity, exc)
    return gateway, identity.user, namespace


async def may(gateway: Gateway, user: str, namespace: str, verb: str) -> bool:
    assert gateway.gatekeeper is not None
    return await gateway.gatekeeper.ask(gateway.directory.may(user, namespace, verb),
                                        f"check whether {user} may {verb} daskclusters in {namespace}")


async def read_record(gateway: Gateway, namespace: str, name: str, errors: tuple) -> dict[str, str] | None:
    """The data of one of the controller's ConfigMaps (status, usage); None when absent or unreadable
    (a gateway role without ``get configmaps`` on those names: the page shows less, and says why in the log)."""
    get = getattr(gateway.directory, "get_configmap", None)
    if get is None:
        return None
    try:
        body = await gateway.gatekeeper.ask(get(namespace, name), f"get ConfigMap {name} in {namespace}")
    except errors as err:
        log.warning("clusters page of %s without ConfigMap %s: %s", namespace, name, err)
        return None
    return (body or {}).get("data") or None


async def read_records(gateway: Gateway, namespace: str, errors: tuple) -> tuple[dict[str, str] | None,
                                                                                 dict[str, str] | None]:
    """The controller's status and usage records of ``namespace``, read together (each as ``read_record``)."""
    status, usage = await asyncio.gather(read_record(gateway, namespace, STATUS_CONFIGMAP, errors),
                                         read_record(gateway, namespace, USAGE_CONFIGMAP, errors))
    return status, usage


async def _read(gateway: Gateway, namespace: str, errors: tuple) -> tuple[list, list, list | None, list | None]:
    """Clusters, autoscalers, then Dask pods and events (None when the gateway may not list them)."""
    directory, ask = gateway.directory, gateway.gatekeeper.ask
    clusters, autoscalers = await ask(asyncio.gather(directory.list_clusters(namespace),
                                                     directory.list_autoscalers(namespace)),
                                      f"list DaskClusters and DaskAutoscalers in {namespace}")

    async def optional(call: Any) -> list | None:
        try:
            return await ask(call, f"list pods/events in {namespace}")
        except errors as err:
            log.warning("clusters page of %s without pods/events (phase from the operator): %s", namespace, err)
            return None

    core = getattr(directory, "list_core", None)
    if core is None:
        return clusters, autoscalers, None, None
    pods, events = await asyncio.gather(optional(core("Pod", namespace, OPERATOR_CLUSTER_LABEL)),
                                        optional(core("Event", namespace)))
    return clusters, autoscalers, pods, events


async def list_endpoint(request: web.Request) -> web.Response:
    checked = await allowed(request, None)
    if isinstance(checked, web.Response):
        return checked
    gateway, user, namespace = checked
    shared = request.app[SHARED]
    try:
        clusters, autoscalers, pods, events = await _read(gateway, namespace, shared.errors)
        may_create, may_delete, may_wake = await asyncio.gather(
            may(gateway, user, namespace, "create"), may(gateway, user, namespace, "delete"),
            may(gateway, user, namespace, "patch"))
        status, usage = await read_records(gateway, namespace, shared.errors)
    except shared.errors as exc:
        return shared.trouble(gateway, shared.identify(request, gateway), exc)
    stats = await shared.stats(gateway, user, namespace, clusters)
    rows = cluster_rows(namespace, clusters, autoscalers, stats, pods, events, status)
    return _json(page_state(namespace, rows, tier_choices(clusters, autoscalers), events or [],
                            may_create=may_create, may_delete=may_delete, may_wake=may_wake,
                            usage=namespace_totals(namespace, usage), status=status))


def _refusal(err: KubeError) -> web.Response:
    text = str(err.detail or err)
    message = text.split(_DENIED, 1)[1] if _DENIED in text else text
    if err.status == 409:
        return _error(message, 409, "pick another name")
    if err.status in (400, 403, 422):
        return _error(message, 422 if _DENIED in text or err.status != 403 else 403,
                      "ask for less, or delete one of your clusters first")
    raise err


async def _body(request: web.Request) -> tuple[str, Requested] | web.Response:
    try:
        data = json.loads(await request.text())
        name = str(data.get("name") or "").strip()
        workers = data.get("workers")
        requested = Requested(workers=int(workers) if workers not in (None, "") else None,
                              worker_cpu=data.get("workerCpu") or None, worker_memory=data.get("workerMemory") or None)
    except (ValueError, TypeError, AttributeError, RequestError) as err:
        return _error(f"the request is not a cluster to create: {err}", 400)
    if not is_dns_label(name) or len(name) > MAX_CLUSTER_NAME:
        return _error(f"{name!r} cannot be a Dask cluster name", 400,
                      f"use at most {MAX_CLUSTER_NAME} lowercase letters, digits and '-'")
    return name, requested


async def create_endpoint(request: web.Request) -> web.Response:
    checked = await allowed(request, "create")
    if isinstance(checked, web.Response):
        return checked
    gateway, user, namespace = checked
    parsed = await _body(request)
    if isinstance(parsed, web.Response):
        return parsed
    name, requested = parsed
    cluster, autoscaler = user_cluster_request(namespace, name, requested)
    cluster["metadata"]["annotations"][OWNER_ANNOTATION] = user  # believed from the gateway only
    directory = gateway.directory
    try:
        created = await directory.create(cluster)
        if any(c.get("name") == "placeholder" for c in created["spec"]["worker"]["spec"].get("containers", [])):
            await directory.delete("DaskCluster", namespace, name)
            return _error("dask-kubeflow's admission webhooks are not installed, so nothing renders clusters "
                          "from your tier", 503, "ask your platform admin to install deploy/base/webhooks")
        try:
            await directory.create(autoscaler)
        except KubeError:
            await directory.delete("DaskCluster", namespace, name)
            raise
    except KubeError as err:
        log.info("create of %s/%s for %s refused: %s", namespace, name, user, err)
        return _refusal(err)
    log.info("created user cluster %s/%s for %s", namespace, name, user)
    return _json({"created": name}, 201)


async def delete_endpoint(request: web.Request) -> web.Response:
    checked = await allowed(request, "delete")
    if isinstance(checked, web.Response):
        return checked
    gateway, user, namespace = checked
    name, directory = request.match_info["name"], gateway.directory
    try:
        cluster = await directory.get_cluster(namespace, name) if is_dns_label(name) else None
        if cluster is None:
            return _error(f"namespace {namespace} has no Dask cluster {name}", 404)
        if (cluster["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY:
            return _error(f"{name} is the namespace's shared cluster, managed by the platform; it cannot be "
                          "deleted here", 403, "idle it costs no workers; delete only clusters of your own")
        await directory.delete("DaskCluster", namespace, name)
        for autoscaler in await directory.list_autoscalers(namespace):
            if (autoscaler.get("spec") or {}).get("cluster") == name:
                await directory.delete("DaskAutoscaler", namespace, autoscaler["metadata"]["name"])
    except KubeError as err:
        return _refusal(err)
    log.info("deleted user cluster %s/%s for %s", namespace, name, user)
    return _json({"deleted": name})


def add_routes(app: web.Application, shared: Shared) -> None:
    """Register before the ``/dask/{namespace}/...`` routes (first match wins)."""
    app[SHARED] = shared
    app.router.add_get(API_ROOT + "/{namespace}/clusters", list_endpoint, name="clusters_api")
    app.router.add_post(API_ROOT + "/{namespace}/clusters", create_endpoint, name="clusters_create")
    app.router.add_delete(API_ROOT + "/{namespace}/clusters/{name}", delete_endpoint, name="clusters_delete")
