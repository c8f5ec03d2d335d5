"""The phase ``status`` shows: our own reading of the pods, events and quotas (pure).

The operator's ``DaskCluster.status.phase`` says ``Running`` once it has created the Deployments,
even when no scheduler pod can ever start (a quota refusal lands on the ReplicaSet). Users need
the truth: is there a ready scheduler, and if not, why.
"""

from __future__ import annotations

from .lifecycle_state import hibernation
from .diagnose import explain_pods, pod_is_ready, scheduler_owners
from .quota import quota_findings
from .snapshot import ClusterSnapshot

__all__ = ["cluster_phase"]


def cluster_phase(snap: ClusterSnapshot) -> str:
    """``Running``, ``Starting`` or ``Not running``, with the reason, and the operator's phase when it differs."""
    operator = ((snap.cluster or {}).get("status") or {}).get("phase") or "no status yet"
    if not snap.pods_visible:
        return f"{operator} (the operator's phase: listing pods is forbidden, so it could not be checked)"
    if any(pod_is_ready(p) for p in snap.scheduler_pods):
        ready = sum(pod_is_ready(p) for p in snap.worker_pods)
        ours = "Running"
        detail = f"scheduler ready, {ready} worker(s) ready"
    elif (asleep := hibernation(snap.cluster, snap.controller)) is not None:
        return asleep.phase + ("" if operator == "Running" else f" (the operator reports {operator})")
    else:
        too_small = [f for f in quota_findings(snap.cluster or {}, snap.autoscaler, snap.quotas,
                                               [*snap.scheduler_pods, *snap.worker_pods], snap.namespace)
                     if not f.ok and "scheduler" in f.detail and "maximum" not in f.detail]
        found = explain_pods(snap.scheduler_pods, snap.events, snap.namespace, owners=scheduler_owners(snap.name),
                             cluster=snap.cluster)
        if too_small:
            ours, detail = "Not running", too_small[0].detail
        elif found is None or "yet" in found.reason:
            ours, detail = "Starting", found.reason if found else "the scheduler pod is not ready yet"
        else:
            ours, detail = "Not running", found.reason
    return f"{ours}: {detail}" + ("" if operator == ours else f" (the operator reports {operator})")
