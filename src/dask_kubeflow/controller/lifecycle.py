"""Hibernate and wake decisions (pure): what one namespace's managed cluster should do now.

Mechanism (docs/hibernation.md): hibernating scales the upstream operator's scheduler Deployment
``<cluster>-scheduler`` to zero and annotates the DaskCluster ``dask.kubeflow.org/hibernated``; the
DaskCluster, its Service, worker group, autoscaler, PodDefault and NetworkPolicy all stay. So the
seed's ``KubeCluster.from_name("dask-cluster")`` still finds its cluster (it then waits for the
scheduler pod, which a wake brings back), and the controller keeps the namespace's desired state.

Inputs are facts the informer keeps plus one probe of the scheduler (connected clients); the output
is an :class:`Action` and when to look again. Nothing here reads a clock: ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Activity", "Action", "Decision", "decide", "AWAKE", "HIBERNATED", "WAKING"]

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
    last_activity: float  # when the cluster was last seen in use (or the controller started)
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
            return Decision(Action.WAKE, reason, WAKING, recheck=None, busy=True)
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
                    recheck=min(_RECHECK_AWAKE, left))
