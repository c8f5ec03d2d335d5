"""The door for hibernated clusters (pure): what opening the dashboard of a sleeping cluster shows.

A hibernated managed cluster keeps its DaskCluster, annotated ``dask.kubeflow.org/hibernated``, with
its scheduler at zero (docs/hibernation.md), so its dashboard URL would be a 502. Instead, after the
usual authorization, the gateway decides here:

- awake: proxy as always;
- hibernated, and the viewer may ``patch daskclusters`` in the namespace (a SubjectAccessReview):
  ask for the wake on the viewer's behalf and show the "waking up" page — but only for a request the
  browser says comes from this site or from the user (``Sec-Fetch-Site`` same-origin/none, or no such
  header); a request another site caused (an ``<img>`` or link elsewhere) gets the page with a *Wake
  it* button instead, which posts to the same-origin-checked wake endpoint: no page elsewhere can
  wake a cluster with a user's login;
- hibernated, viewer without that right: the page says so and who can wake it; nothing is woken;
- waking (asked, or the controller's status record says ``Waking``) and not answering yet: the
  waking page again, without a second request.

The page polls the readiness endpoint (``readiness``) and reloads the address the user asked for once
the scheduler answers; without JavaScript a ``<meta http-equiv=refresh>`` reloads it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from ..kube.names import DASHBOARD_ROOT, MANAGED_BY, MANAGED_BY_LABEL
from ..kube.wake import is_hibernated, wake_requested
from .pages import render

__all__ = ["HIBERNATED", "WAKING", "AWAKE", "Door", "lifecycle_of", "door_for", "caused_by_this_site",
           "waiting_for", "readiness", "readiness_path", "wake_path", "waking_page"]

# The controller's vocabulary in the status ConfigMap (key ``lifecycle``).
AWAKE, HIBERNATED, WAKING = "Awake", "Hibernated", "Waking"
POLL_SECONDS = 2
REFRESH_SECONDS = 5  # the <noscript> fallback


class Door(enum.Enum):
    PROXY = "proxy"  # awake: forward as always
    WAKE = "wake"  # ask for the wake, then the waking page
    WAIT = "wait"  # already waking: the waking page
    CONFIRM = "confirm"  # hibernated, the request came from elsewhere: the page with a Wake button
    SLEEPING = "sleeping"  # hibernated, the viewer may not wake it: who can


def _managed(cluster: Mapping[str, Any]) -> bool:
    return ((cluster.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def lifecycle_of(cluster: Mapping[str, Any], status: Mapping[str, str] | None) -> str:
    """Hibernated / Waking / Awake, from the DaskCluster's annotations and, for the namespace's
    managed cluster, the controller's status record (``status``: its data, None if unread)."""
    if is_hibernated(cluster):
        return WAKING if wake_requested(cluster) else HIBERNATED
    if _managed(cluster) and (status or {}).get("lifecycle") == WAKING:
        return WAKING
    return AWAKE


def caused_by_this_site(headers: Mapping[str, str]) -> bool:
    """Did the user (address bar, bookmark) or a page of this site cause the request? Browsers send
    ``Sec-Fetch-Site`` and pages cannot forge it; a client without it carries no browser login."""
    site = headers.get("Sec-Fetch-Site")
    return site is None or site.strip().lower() in ("same-origin", "none")


def door_for(lifecycle: str, *, may_wake: bool, this_site: bool, method: str = "GET") -> Door:
    """What a dashboard request of an authorized viewer gets (``may_wake``: the SAR's answer)."""
    if lifecycle == AWAKE:
        return Door.PROXY
    if lifecycle == WAKING:
        return Door.WAIT
    if not may_wake:
        return Door.SLEEPING
    return Door.WAKE if this_site and method == "GET" else Door.CONFIRM


def waiting_for(lifecycle: str, phase: str, answering: bool, marked: bool) -> str:
    """What the page says it is waiting for (``phase``: the clusters page's phase from the pods;
    ``marked``: the DaskCluster still carries the hibernated annotation)."""
    if answering and not marked:
        return "nothing: the scheduler is answering"
    if lifecycle == HIBERNATED:
        return "a wake request: the cluster is hibernated (idle) and nobody has asked to start it yet"
    if marked:
        return "the dask-kubeflow controller to start the scheduler (the wake is requested)"
    if phase.startswith("Running"):
        return "the scheduler's dashboard to answer"
    if "running but not ready" in phase:  # the scheduler process is up; its dashboard port not yet
        return "the scheduler pod to become ready (it runs; its readiness probe does not pass yet)"
    if phase.startswith("Not running"):
        return f"the scheduler pod, which is not starting: {phase[len('Not running: '):]}"
    detail = phase.partition(": ")[2]
    return "the scheduler pod to start" + (f" ({detail})" if detail else "")


def readiness(lifecycle: str, phase: str, answering: bool, marked: bool) -> dict[str, Any]:
    """The JSON the waking page polls. Ready only once the scheduler answers and the cluster no longer
    carries the hibernated annotation (else the reloaded address would show this page again)."""
    ready = answering and not marked
    return {"lifecycle": AWAKE if ready else lifecycle, "ready": ready, "phase": phase,
            "waitingFor": waiting_for(lifecycle, phase, answering, marked)}


def readiness_path(namespace: str, name: str) -> str:
    return f"{DASHBOARD_ROOT}/_api/namespaces/{namespace}/clusters/{name}/readiness"


def wake_path(namespace: str, name: str) -> str:
    return f"{DASHBOARD_ROOT}/_api/namespaces/{namespace}/clusters/{name}/wake"


def _who_can_wake(namespace: str, owner: str | None) -> str:
    owner_text = f"its owner {owner}" if owner else "its owner"
    return (f"Anyone with edit access to namespace {namespace} ({owner_text}, or a contributor with edit "
            f"rights) can wake it: by opening this page, with the Wake button on the clusters page, or with "
            f"`dask-kubeflow cluster wake -n {namespace}`. It also wakes by itself when a notebook starts in "
            f"{namespace} or a Dask client connects.")


def waking_page(door: Door, *, user: str, namespace: str, cluster: str, elapsed: float | None = None,
                owner: str | None = None, waiting: str = "") -> str:
    """The page for every door but PROXY (autoescaped; values reach its script only as JSON)."""
    asked = door in (Door.WAKE, Door.WAIT)
    if asked:
        heading = f"Waking up {cluster}"
        lines = [f"Dask cluster {cluster} in {namespace} was hibernated (idle) and is starting again"
                 + (" — asked for you just now." if door is Door.WAKE else "."),
                 "This page opens its dashboard as soon as the scheduler answers; usually within a minute."]
    else:
        heading = f"{cluster} is hibernated"
        lines = [f"Dask cluster {cluster} in {namespace} is hibernated: it was idle, so its scheduler was "
                 "stopped to give its CPU and memory back. Its workers, settings and address are kept."]
        if door is Door.SLEEPING:
            lines.append(f"You ({user}) may view this cluster but not wake it. " + _who_can_wake(namespace, owner))
        else:
            lines.append("This request came from another site, so nothing was started. Press Wake it to start "
                         "the scheduler; this page then opens the dashboard when it answers.")
    return render("waking.html", title=heading, heading=heading, user=user, lines=lines, asked=asked,
                  confirm=door is Door.CONFIRM, waiting=waiting or ("the scheduler pod to start" if asked else ""),
                  elapsed=round(elapsed or 0.0), poll_ms=POLL_SECONDS * 1000, refresh=REFRESH_SECONDS,
                  readiness_url=readiness_path(namespace, cluster), wake_url=wake_path(namespace, cluster),
                  clusters_url=f"{DASHBOARD_ROOT}/?ns={namespace}", namespace=namespace)
