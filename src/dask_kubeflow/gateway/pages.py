"""Server-rendered HTML (Jinja2, autoescaped): the clusters page and the error pages users see.

Every error page says what happened and what to do next, in words a user can act on.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from ..kube.names import DASHBOARD_ROOT, scheduler_service


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dask_kubeflow.gateway", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)


def unauthenticated_page(reason: str = "") -> str:
    lines = [
        "The gateway could not tell who you are, so it cannot show Dask dashboards.",
        "Open this page through the Kubeflow central dashboard after signing in.",
    ]
    if reason:
        lines.append(f"Your identity was not accepted because {reason}.")
    return render("message.html", title="Sign in required", heading="Sign in required", user=None, lines=lines)


def forbidden_page(user: str, namespace: str) -> str:
    return render(
        "message.html",
        title="No access",
        heading=f"No access to namespace {namespace}",
        user=user,
        lines=[
            f"You are signed in as {user}, who is neither the owner nor a contributor of "
            f"namespace {namespace}.",
            f"To get access, ask the owner of {namespace} to add {user} as a contributor in the "
            "Kubeflow central dashboard (Manage Contributors). If you expected to have access, "
            "check that you are signed in with the right account.",
        ],
    )


def not_found_page(user: str | None, namespace: str, cluster: str | None, clusters: list[str] | None = None) -> str:
    if cluster is None:
        heading = f"No namespace {namespace}"
        lines = [
            f"There is no namespace called {namespace}.",
            "Check the namespace in the address, or pick one in the central dashboard's namespace selector.",
        ]
    else:
        heading = f"No Dask cluster {cluster} in {namespace}"
        lines = [f"Namespace {namespace} has no Dask cluster called {cluster}."]
        if clusters:
            lines.append(f"Clusters in {namespace}: {', '.join(sorted(clusters))}.")
        else:
            lines.append(f"Namespace {namespace} has no Dask clusters right now.")
    return render(
        "message.html",
        title="Not found",
        heading=heading,
        user=user,
        lines=lines,
        link=(f"{DASHBOARD_ROOT}/?ns={namespace}" if cluster is not None else None),
        link_text=f"All Dask clusters in {namespace}",
    )


def upstream_unavailable_page(user: str | None, namespace: str, cluster: str, phase: str) -> str:
    return render(
        "message.html",
        title="Dashboard unavailable",
        heading=f"The dashboard of {cluster} is not answering",
        user=user,
        lines=[
            f"Dask cluster {cluster} in {namespace} exists (phase: {phase}), but its scheduler did not "
            "answer. It may still be starting, or it may have stopped.",
            "Wait a minute and reload. If it stays like this, check the scheduler pod: "
            f"kubectl -n {namespace} logs deploy/{scheduler_service(cluster)}",
        ],
        link=f"{DASHBOARD_ROOT}/?ns={namespace}",
        link_text=f"All Dask clusters in {namespace}",
    )


def kubernetes_unavailable_page(user: str | None) -> str:
    return render(
        "message.html",
        title="Service unavailable",
        heading="Cannot check your access right now",
        user=user,
        lines=[
            "The Dask gateway could not reach the Kubernetes API to check your access.",
            "Reload in a minute. If this persists, the platform admin should check the "
            "dask-kubeflow gateway's logs and its service account permissions.",
        ],
    )


def read_only_page(user: str | None, method: str) -> str:
    return render(
        "message.html",
        title="Not allowed",
        heading=f"{method} is not allowed through the dashboard gateway",
        user=user,
        lines=[
            "The gateway shows Dask dashboards read-only: it passes GET requests and the "
            "dashboard's websockets, nothing that changes the cluster.",
            "To change the cluster (scale, retire workers), use a Dask client from a notebook "
            "in the namespace, e.g. client.retire_workers(...).",
        ],
    )


def message_page(user: str | None, heading: str, lines: list[str]) -> str:
    """A short refusal page (body on a GET, cross-site websocket, too many connections)."""
    return render("message.html", title=heading, heading=heading, user=user, lines=lines)
