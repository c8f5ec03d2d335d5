"""Hibernate and wake decisions (pure): what one namespace's managed cluster should do now.

Mechanism (docs/hibernation.md): hibernating scales the upstream operator's scheduler Deployment
``<cluster>-scheduler`` to zero and annotates the DaskCluster ``dask.kubeflow.org/hibernated``; the
DaskCluster, its Service, worker group, autoscaler, PodDefault and NetworkPolicy all stay. So the
seed's ``KubeCluster.from_name("dask-cluster")`` still finds its cluster (it then waits for the
scheduler pod, which a wake brings back), and the controller keeps the namespace's desired state.

Inputs are facts the informer keeps plus one probe of the scheduler (connected clients); the output
is an :class:`Action` and when to look again. Nothing here reads a clock: ``now`` is passed in.

Two more decisions live here, both pure:

- the idle timer is state in Kubernetes: the moment a cluster was first seen idle is the DaskCluster's
  ``dask.kubeflow.org/idle-since`` annotation (``idle_mark``), so a controller restart does not restart
  the ``hibernateAfter`` countdown;
- a wake a user is waiting for starts the tier's first worker with the scheduler (``first_workers``),
  and holds the upstream autoscaler off until both are up (``autoscaler_hold``): an autoscaler tick
  between the scheduler answering and the worker connecting would scale the group back to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .clock import parse_rfc3339, rfc3339

__all__ = ["Activity", "Action", "Decision", "decide", "AWAKE", "HIBERNATED", "WAKING", "idle_since", "idle_mark",
           "first_workers", "Hold", "autoscaler_hold", "OPERATOR_COOLDOWN", "WARM_LIMIT"]

AWAKE, HIBERNATED, WAKING = "Awake", "Hibernated", "Waking"
_RECHECK_AWAKE = 30.0  # seconds between looks at an awake cluster with nothing else to wait for


class Action(Enum):
    NONE = "none"
    HIBERNATE = "hibernate"
    WAKE = "wake"


@dataclass(frozen=True)
class Activity:
    """What the namespace's managed cluster and its users are doing (the lifecycle's inputs)."""

    hibernate_after: float | None  # the tier's lifecycle.hibernateAfter in seconds; None: off
    hibernated: bool  # the DaskCluster carries the hibernated annotation
    wake_requested: bool  # ... and the wake-requested annotation
    last_activity: float  # since when it is idle: the idle-since annotation, else now (see ``idle_since``)
    workers: int  # worker pods of the cluster, any phase
    clients: int | None  # Dask clients connected to the scheduler; None: not known (no answer)
    notebooks: int  # notebook pods (any phase but finished) and running Notebooks in the namespace
    jobs: int  # DaskJobs in the namespace not finished yet
    now: float


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    state: str  # Awake | Hibernated | Waking (what status says after the action)
    recheck: float | None  # seconds until the next look; None: only when something changes
    busy: bool = False  # in use right now: the idle timer restarts
    warm: bool = False  # a wake someone is waiting for (a door, not a policy change): start a first worker
    idle: bool = False  # awake, unused, counting down to hibernation


def _wake_reason(a: Activity) -> str | None:
    if a.wake_requested:
        return "a wake was requested (connect(), the dashboard, or dask-kubeflow cluster wake)"
    if a.notebooks:
        return f"{a.notebooks} notebook(s) starting or running in the namespace"
    if a.jobs:
        return f"{a.jobs} DaskJob(s) in the namespace"
    if a.hibernate_after is None:
        return "hibernation is off for this tier now (lifecycle.hibernateAfter unset)"
    return None


def _in_use(a: Activity) -> str | None:
    if a.workers:
        return f"{a.workers} worker(s)"
    if a.clients is None:
        return "the scheduler did not say how many clients it has"
    if a.clients:
        return f"{a.clients} connected client(s)"
    if a.notebooks:
        return f"{a.notebooks} notebook(s)"
    if a.jobs:
        return f"{a.jobs} DaskJob(s)"
    if a.wake_requested:
        return "a wake request"
    return None


def decide(a: Activity) -> Decision:
    """Hibernate a cluster idle for ``hibernate_after``; wake a hibernated one that is wanted."""
    if a.hibernated:
        reason = _wake_reason(a)
        if reason is not None:
            warm = bool(a.wake_requested or a.notebooks or a.jobs)
            return Decision(Action.WAKE, reason, WAKING, recheck=None, busy=True, warm=warm)
        return Decision(Action.NONE, "hibernated; waiting for a notebook, connect(), the dashboard or a DaskJob",
                        HIBERNATED, recheck=None)
    if a.hibernate_after is None:
        return Decision(Action.NONE, "hibernation is off for this tier", AWAKE, recheck=None)
    using = _in_use(a)
    if using is not None:
        return Decision(Action.NONE, f"in use: {using}", AWAKE, recheck=min(_RECHECK_AWAKE, a.hibernate_after),
                        busy=True)
    idle = max(0.0, a.now - a.last_activity)
    if idle >= a.hibernate_after:
        return Decision(Action.HIBERNATE, f"idle for {idle:.0f}s (lifecycle.hibernateAfter is "
                        f"{a.hibernate_after:.0f}s): no worker, client, notebook or DaskJob", HIBERNATED, recheck=None)
    left = a.hibernate_after - idle
    return Decision(Action.NONE, f"idle for {idle:.0f}s; hibernates in {left:.0f}s unless used", AWAKE,
                    recheck=min(_RECHECK_AWAKE, left), idle=True)


def idle_since(annotation: str | None, now: float) -> float:
    """Since when the cluster is idle: the persisted annotation, else now (first seen idle now)."""
    since = parse_rfc3339(annotation)
    return now if since is None else min(since, now)


def idle_mark(decision: Decision, annotation: str | None, now: float) -> str | None:
    """The idle-since annotation's new value when it must change ("" to remove it), None to leave it.

    Set when an awake cluster of a tier that hibernates is first seen idle; removed when it is in use,
    hibernates, wakes, or its tier stops hibernating. One write per change of idleness, none per look."""
    if decision.idle:
        return rfc3339(now) if parse_rfc3339(annotation) is None else None
    return "" if annotation is not None else None


def first_workers(maximum: int, clamp: int | None) -> int:
    """Workers a wake starts with the scheduler: one, unless the tier's maximum or the budget clamp is 0."""
    allowed = maximum if clamp is None else min(maximum, clamp)
    return 1 if allowed >= 1 else 0


OPERATOR_COOLDOWN = 15.0  # the upstream autoscaler's own pause after each of its scale steps (seconds)
WARM_LIMIT = 300.0  # hold the autoscaler for a first worker at most this long after the wake


@dataclass(frozen=True)
class Hold:
    until: float | None  # cooldown-until to write on the DaskAutoscaler (wall clock); None: no write
    done: bool  # the first worker needs no more holding


def autoscaler_hold(now: float, woken_at: float, written: float, ready: tuple[bool, bool], hold: float) -> Hold:
    """How long the upstream autoscaler must keep still for the first worker after a wake.

    ``ready`` is (scheduler pod Ready, a worker pod Ready); ``written`` the cooldown-until last written.
    While either is still starting, keep it at ``now + hold`` (rewritten when half of it is gone);
    once both are, one last ``now + OPERATOR_COOLDOWN`` — what the autoscaler would have given itself
    had it made the step — gives the worker time to connect; then the autoscaler is free again and
    scales the idle worker away after the tier's ``scaling.idleAfter``. Never past ``WARM_LIMIT``."""
    if now - woken_at > WARM_LIMIT:
        return Hold(None, True)
    if all(ready):
        until = now + OPERATOR_COOLDOWN
        return Hold(until if written < until - 1.0 else None, True)
    return Hold(now + hold if written - now < hold / 2 else None, False)
