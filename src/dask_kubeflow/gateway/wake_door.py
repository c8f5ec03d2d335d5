"""The gateway's door for hibernated clusters (I/O edge of ``waking``).

- In the dashboard path (app.py): before proxying a GET of a cluster marked hibernated, and instead of
  the 502 when its scheduler does not answer, ``door`` reads the cluster afresh (the gatekeeper's copy
  may be seconds old) with the controller's status record, decides (``waking.door_for``), asks for the
  wake — a SubjectAccessReview that the signed-in user may ``patch daskclusters`` in the namespace, then
  the annotation-only patch as the gateway's ServiceAccount — and renders the page.
- ``GET  /dask/_api/namespaces/<ns>/clusters/<name>/readiness``: what the waking page polls (viewers).
- ``POST /dask/_api/namespaces/<ns>/clusters/<name>/wake``: the clusters page's Wake button and the
  waking page's (same-origin, JSON body, SubjectAccessReview ``patch``; cluster_actions.allowed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from aiohttp import web

from ..kube.names import OPERATOR_CLUSTER_LABEL, STATUS_CONFIGMAP, WAKE_REQUESTED_ANNOTATION, is_dns_label
from ..kube.wake import is_hibernated, wake_requested
from .cluster_actions import API_ROOT, SHARED, allowed, may, read_record
from .clusters_page import observed_phase
from .waking import AWAKE, HIBERNATED, WAKING, Door, caused_by_this_site, door_for, lifecycle_of, readiness, waking_page

__all__ = ["before_proxy", "instead_of_502", "add_routes", "read_status"]

log = logging.getLogger("dask_kubeflow.gateway.wake")
Gateway = Any  # app.Gateway (app.py imports this module)


def _html(text: str, retry_after: int = 5) -> web.Response:
    return web.Response(text=text, status=503, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Retry-After": str(retry_after)})


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def read_status(gateway: Gateway, namespace: str, errors: tuple[type[BaseException], ...]) -> dict[str, str] | None:
    """The controller's status record's data (None when absent or unreadable)."""
    return await read_record(gateway, namespace, STATUS_CONFIGMAP, errors)


def _asked_seconds_ago(cluster: dict[str, Any]) -> float | None:
    stamp = ((cluster.get("metadata") or {}).get("annotations") or {}).get(WAKE_REQUESTED_ANNOTATION)
    try:
        asked = dt.datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return max(0.0, (dt.datetime.now(dt.UTC) - asked).total_seconds())


async def door(request: web.Request, gateway: Gateway, user: str, namespace: str, name: str,
               marked_only: bool = False) -> web.Response | None:
    """The page for a sleeping or waking cluster, after asking for the wake when the user may; None: proxy.
    ``marked_only``: only for a cluster still annotated hibernated (before proxying: a cluster the status
    record still calls Waking may already answer)."""
    ask = gateway.gatekeeper.ask
    cluster = await ask(gateway.directory.get_cluster(namespace, name), f"look up DaskCluster {name} in {namespace}")
    if cluster is None or (marked_only and not is_hibernated(cluster)):
        return None  # deleted meanwhile (the proxy's answer says so), or woken since the gatekeeper's copy
    lifecycle = lifecycle_of(cluster, await read_status(gateway, namespace, request.app[SHARED].errors))
    may_wake = lifecycle == HIBERNATED and await may(gateway, user, namespace, "patch")
    chosen = door_for(lifecycle, may_wake=may_wake, this_site=caused_by_this_site(request.headers),
                      method=request.method)
    if chosen is Door.PROXY:
        return None
    elapsed = _asked_seconds_ago(cluster) if chosen is Door.WAIT else None
    if chosen is Door.WAKE:
        await ask(gateway.directory.request_wake(namespace, name), f"ask to wake DaskCluster {name} in {namespace}")
        log.info("asked to wake %s/%s for %s (dashboard opened)", namespace, name, user)
        elapsed = 0.0
    owner = None
    if chosen is Door.SLEEPING and (owner_of := getattr(gateway.directory, "namespace_owner", None)) is not None:
        owner = await ask(owner_of(namespace), f"look up the owner of namespace {namespace}")
    return _html(waking_page(chosen, user=user, namespace=namespace, cluster=name, elapsed=elapsed, owner=owner))


async def before_proxy(request: web.Request, gateway: Gateway, user: str, namespace: str, name: str,
                       cluster: dict[str, Any]) -> web.Response | None:
    """A plain GET/HEAD of a cluster the gatekeeper's copy shows hibernated goes through the door."""
    if not is_hibernated(cluster):
        return None
    return await door(request, gateway, user, namespace, name, marked_only=True)


async def instead_of_502(request: web.Request, gateway: Gateway, user: str, namespace: str,
                         name: str) -> web.Response | None:
    """The scheduler did not answer: the door's page if the cluster is hibernated or waking, else None."""
    try:
        return await door(request, gateway, user, namespace, name)
    except request.app[SHARED].errors as err:
        log.warning("could not tell whether %s/%s is hibernated (showing the 502 page): %s", namespace, name, err)
        return None


async def _phase(gateway: Gateway, namespace: str, cluster: dict[str, Any], errors: tuple) -> str:
    core = getattr(gateway.directory, "list_core", None)
    if core is None:
        return observed_phase(namespace, cluster, None, None)
    name = cluster["metadata"]["name"]
    try:
        pods, events = await gateway.gatekeeper.ask(
            asyncio.gather(core("Pod", namespace, f"{OPERATOR_CLUSTER_LABEL}={name}"), core("Event", namespace)),
            f"list the pods and events of {namespace}/{name}")
    except errors as err:
        log.warning("readiness of %s/%s without pods/events: %s", namespace, name, err)
        pods = events = None
    return observed_phase(namespace, cluster, pods, events)


async def _named_cluster(gateway: Gateway, namespace: str, name: str) -> dict[str, Any] | None:
    """The DaskCluster the URL names (None: no such cluster, or not a name a cluster can have)."""
    if not is_dns_label(name):
        return None
    return await gateway.gatekeeper.ask(gateway.directory.get_cluster(namespace, name),
                                        f"look up DaskCluster {name} in {namespace}")


async def readiness_endpoint(request: web.Request) -> web.Response:
    checked = await allowed(request, None)
    if isinstance(checked, web.Response):
        return checked
    gateway, user, namespace = checked
    shared, name = request.app[SHARED], request.match_info["name"]
    try:
        cluster = await _named_cluster(gateway, namespace, name)
        if cluster is None:
            return _json({"error": f"namespace {namespace} has no Dask cluster {name}"}, 404)
        lifecycle = lifecycle_of(cluster, await read_status(gateway, namespace, shared.errors))
        phase = await _phase(gateway, namespace, cluster, shared.errors)
    except shared.errors as exc:
        return shared.trouble(gateway, shared.identify(request, gateway), exc)
    answering = (await shared.stats(gateway, user, namespace, [cluster])).get(name) is not None
    return _json({"cluster": name, **readiness(lifecycle, phase, answering, is_hibernated(cluster))})


async def wake_endpoint(request: web.Request) -> web.Response:
    checked = await allowed(request, "patch")
    if isinstance(checked, web.Response):
        return checked
    gateway, user, namespace = checked
    shared, name = request.app[SHARED], request.match_info["name"]
    try:
        cluster = await _named_cluster(gateway, namespace, name)
        if cluster is None:
            return _json({"error": f"namespace {namespace} has no Dask cluster {name}"}, 404)
        if not is_hibernated(cluster):
            return _json({"cluster": name, "asked": False, "lifecycle": AWAKE})
        if not wake_requested(cluster):
            await gateway.gatekeeper.ask(gateway.directory.request_wake(namespace, name),
                                         f"ask to wake DaskCluster {name} in {namespace}")
            log.info("asked to wake %s/%s for %s (Wake button)", namespace, name, user)
    except shared.errors as exc:
        return shared.trouble(gateway, shared.identify(request, gateway), exc)
    return _json({"cluster": name, "asked": True, "lifecycle": WAKING}, 202)


def add_routes(app: web.Application) -> None:
    """Register with cluster_actions' routes, before the ``/dask/{namespace}/...`` ones."""
    app.router.add_get(API_ROOT + "/{namespace}/clusters/{name}/readiness", readiness_endpoint, name="clusters_readiness")
    app.router.add_post(API_ROOT + "/{namespace}/clusters/{name}/wake", wake_endpoint, name="clusters_wake")
