"""Turn what the Kubernetes API says into one reason and one fix. Pure functions over plain dicts.

``connect()``, ``status`` and ``doctor`` fetch pods, events, API errors and version reports (see
``cluster_api.py``) and hand them here as the JSON the API returned, so every message can be tested
without a cluster. The rules follow what a human would look at: container waiting reasons first
(image pull, crash loop), then the scheduler's own verdict (PodScheduled=False), then events on the
pod and its owners (quota refusals surface as FailedCreate on the ReplicaSet, never on a pod).
Nothing here imports the I/O modules; ``doctor.py`` builds its checks from these answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..kube.names import OPERATOR_POD_LABELS, default_worker_group, scheduler_service

# The operator runs wherever the install put it (params.env): find it by its pod labels, in any namespace.
_OPERATOR_SELECTOR = ",".join(f"{k}={v}" for k, v in OPERATOR_POD_LABELS.items())

__all__ = [
    "Diagnosis",
    "compare_versions",
    "explain_forbidden",
    "explain_pods",
    "pod_is_ready",
    "scheduler_owners",
    "summarize_phase",
    "worker_owners",
]

Obj = Mapping[str, Any]

IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CRASH_REASONS = {"CrashLoopBackOff", "RunContainerError", "CreateContainerError", "CreateContainerConfigError"}
VERSION_PACKAGES = ("dask", "distributed")


@dataclass(frozen=True)
class Diagnosis:
    """Why something is not ready (``reason``) and what to do (``fix``)."""

    reason: str
    fix: str


def _get(obj: Obj | None, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return default
        obj = obj[key]
    return obj


def pod_is_ready(pod: Obj) -> bool:
    """Running with condition Ready=True (what ``kubectl get pods`` shows as 1/1)."""
    if _get(pod, "status", "phase") != "Running":
        return False
    conditions = _get(pod, "status", "conditions", default=[]) or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _events_for(events: Iterable[Obj], names: set[str]) -> list[Obj]:
    """Events about any object in ``names``, newest last (by lastTimestamp/eventTime, then count)."""
    picked = [e for e in events if _get(e, "involvedObject", "name") in names or _get(e, "regarding", "name") in names]
    return sorted(picked, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or _get(e, "metadata", "creationTimestamp") or ""))


def _quota_diagnosis(message: str, namespace: str) -> Diagnosis:
    quota = re.search(r"exceeded quota: ([^,\s]+)", message)
    detail = re.search(r"(requested: .*)", message)
    name = quota.group(1) if quota else "the namespace's ResourceQuota"
    return Diagnosis(
        f"the namespace quota is exhausted: ResourceQuota {name} refused the pod"
        + (f" ({detail.group(1)})" if detail else ""),
        f"free quota in {namespace!r} (stop idle notebooks or other Dask work: "
        f"kubectl get resourcequota -n {namespace}), or ask your admin for a larger quota or a smaller worker size",
    )


def _container_statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _image_pull_diagnosis(pod_name: str, cs: Obj, events: list[Obj]) -> Diagnosis:
    waiting = _get(cs, "state", "waiting") or {}
    reason, message = waiting.get("reason", ""), waiting.get("message", "")
    image = cs.get("image") or "the image"
    pull_event = next((e for e in reversed(events) if e.get("reason") in ("Failed", "ErrImagePull")), None)
    why = (pull_event or {}).get("message") or message
    return Diagnosis(
        f"pod {pod_name} cannot pull image {image} ({reason}{': ' + why if why else ''})",
        "check the image name and tag exist and the registry is reachable from the cluster; the image "
        "comes from the platform policy (ask your admin), or an imagePullSecret may be missing",
    )


def _crash_diagnosis(pod_name: str, cs: Obj, namespace: str) -> Diagnosis:
    reason = _get(cs, "state", "waiting", "reason", default="")
    last = _get(cs, "lastState", "terminated") or {}
    exit_code = last.get("exitCode")
    last_reason = last.get("reason") or ""
    tail = (last.get("message") or "").strip().splitlines()[-1:] or []
    parts = [p for p in (f"exit code {exit_code}" if exit_code is not None else "", last_reason, *tail) if p]
    return Diagnosis(
        f"pod {pod_name} is crash-looping ({reason or 'restarting'}, {cs.get('restartCount', 0)} restarts"
        + (f"; last run: {', '.join(parts)}" if parts else "") + ")",
        f"read its log: kubectl logs -n {namespace} {pod_name} --previous"
        + ("; OOMKilled means the pod needs more memory (ask your admin for a bigger tier)" if last_reason == "OOMKilled" else ""),
    )


def _container_diagnosis(pod: Obj, events: list[Obj], namespace: str) -> Diagnosis | None:
    """A container that cannot pull its image or keeps crashing."""
    name = _get(pod, "metadata", "name", default="?")
    for cs in _container_statuses(pod):
        reason = _get(cs, "state", "waiting", "reason", default="")
        if reason in IMAGE_PULL_REASONS:
            return _image_pull_diagnosis(name, cs, events)
        if reason in CRASH_REASONS or (cs.get("restartCount", 0) > 0 and _get(cs, "lastState", "terminated")):
            return _crash_diagnosis(name, cs, namespace)
    return None


def _unscheduled_diagnosis(pod: Obj, events: list[Obj], namespace: str) -> Diagnosis | None:
    """The Kubernetes scheduler's verdict (PodScheduled=False): no node fits, or the quota refused."""
    conditions = _get(pod, "status", "conditions", default=[]) or []
    unscheduled = next((c for c in conditions if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
    if unscheduled is None:
        return None
    message = unscheduled.get("message") or ""
    failed = next((e for e in reversed(events) if e.get("reason") == "FailedScheduling"), None)
    message = message or (failed or {}).get("message", "")
    if "quota" in message:
        return _quota_diagnosis(message, namespace)
    return Diagnosis(
        f"pod {_get(pod, 'metadata', 'name', default='?')} is Pending: the Kubernetes scheduler cannot place it "
        f"({message or unscheduled.get('reason', 'Unschedulable')})",
        "the cluster has no node with enough free CPU/memory (or matching selectors/tolerations) for this "
        "pod; wait for the autoscaler to add nodes or ask your admin",
    )


def _phase_diagnosis(pod: Obj, events: list[Obj], namespace: str) -> Diagnosis | None:
    """What the pod's phase (Pending, Running but not ready, stopped) and its warning events say."""
    name = _get(pod, "metadata", "name", default="?")
    phase = _get(pod, "status", "phase")
    if phase == "Pending":
        latest = next((e for e in reversed(events) if e.get("type") == "Warning"), None)
        if latest is not None:
            message = latest.get("message", "")
            if "quota" in message:
                return _quota_diagnosis(message, namespace)
            return Diagnosis(f"pod {name} is Pending: {latest.get('reason')}: {message}",
                             f"kubectl describe pod -n {namespace} {name}")
        return Diagnosis(f"pod {name} is still Pending (no warning events yet)",
                         f"wait a little longer (connect(timeout=...)), or kubectl describe pod -n {namespace} {name}")
    if phase == "Running" and not pod_is_ready(pod):
        unhealthy = next((e for e in reversed(events) if e.get("reason") == "Unhealthy"), None)
        return Diagnosis(
            f"pod {name} is running but not ready" + (f" ({unhealthy.get('message')})" if unhealthy else ""),
            f"its readiness probe fails; read its log: kubectl logs -n {namespace} {name}",
        )
    if phase in ("Failed", "Succeeded"):
        why = _get(pod, "status", "reason") or _get(pod, "status", "message") or "no reason given"
        return Diagnosis(f"pod {name} has stopped (phase {phase}: {why})",
                         f"kubectl logs -n {namespace} {name}; the operator recreates it, or ask your admin")
    return None


def _pod_diagnosis(pod: Obj, events: list[Obj], namespace: str) -> Diagnosis | None:
    for rule in (_container_diagnosis, _unscheduled_diagnosis, _phase_diagnosis):
        if (found := rule(pod, events, namespace)) is not None:
            return found
    return None


def scheduler_owners(cluster: str) -> list[str]:
    """What creates a cluster's scheduler pod (its Deployment, whose ReplicaSets share the prefix)."""
    return [scheduler_service(cluster)]


def worker_owners(cluster: str) -> list[str]:
    """Prefix of what creates the default worker group's pods (``<cluster>-default-worker-<hex>``)."""
    return [f"{default_worker_group(cluster)}-worker"]


def explain_pods(
    pods: Iterable[Obj],
    events: Iterable[Obj],
    namespace: str,
    *,
    what: str = "scheduler",
    owners: Iterable[str] = (),
    cluster: Obj | None = None,
) -> Diagnosis | None:
    """Why the ``what`` pods are not ready, or None when at least one is ready.

    ``owners`` are names of Deployments/ReplicaSets that should create the pods: quota refusals and
    other FailedCreate events land on them when no pod can exist. ``cluster`` (the DaskCluster) tells
    whether the operator has acted at all.
    """
    pods = list(pods)
    events = list(events)
    if any(pod_is_ready(p) for p in pods):
        return None
    for pod in pods:
        found = _pod_diagnosis(pod, _events_for(events, {_get(pod, "metadata", "name")}), namespace)
        if found is not None:
            return found
    owner_names = set(owners)
    owner_events = [e for e in _events_for(events, owner_names) if e.get("type") == "Warning"]
    owner_events += [e for e in events if e not in owner_events and e.get("reason") == "FailedCreate"
                     and any(str(_get(e, "involvedObject", "name", default="")).startswith(o) for o in owner_names)]
    if owner_events:
        message = owner_events[-1].get("message", "")
        if "exceeded quota" in message or "quota" in message:
            return _quota_diagnosis(message, namespace)
        kind = _get(owner_events[-1], "involvedObject", "kind", default="")
        return Diagnosis(f"no {what} pod could be created: {kind} {owner_events[-1].get('reason')}: {message}",
                         f"kubectl get events -n {namespace} --sort-by=.lastTimestamp")
    if not pods:
        phase = _get(cluster, "status", "phase") if cluster is not None else None
        if cluster is not None and not phase:
            return Diagnosis(
                f"no {what} pod exists and the DaskCluster has no status: the Dask operator is not acting on it",
                "ask your platform admin to check the dask-kubernetes operator is running in the operator's "
                f"namespace (kubectl get pods -A -l {_OPERATOR_SELECTOR})",
            )
        return Diagnosis(f"no {what} pod exists yet" + (f" (cluster phase {phase})" if phase else ""),
                         f"wait a little longer, or kubectl get pods,events -n {namespace}")
    return None


_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<ns>[^"]+)")?'
)


def explain_forbidden(message: str, *, verb: str, resource: str, namespace: str) -> tuple[str, str, str | None]:
    """(verb, resource, user) from a 403 message of the API server; falls back to what was attempted.

    The API server says e.g. ``User "system:serviceaccount:ns:default-editor" cannot get resource
    "daskclusters" in API group "kubernetes.dask.org" in the namespace "ns"``.
    """
    match = _FORBIDDEN.search(message or "")
    if not match:
        return verb, resource, None
    found = match.group("resource")
    if match.group("group"):
        found = f"{found}.{match.group('group')}"
    return match.group("verb"), found, match.group("user")


def compare_versions(client: Obj, scheduler: Obj, packages: Iterable[str] = VERSION_PACKAGES) -> dict[str, tuple[str | None, str | None]]:
    """Packages whose versions differ, from two ``distributed.versions.get_versions()`` reports."""
    ours = client.get("packages", {}) or {}
    theirs = scheduler.get("packages", {}) or {}
    return {p: (ours.get(p), theirs.get(p)) for p in packages if ours.get(p) != theirs.get(p)}


def summarize_phase(cluster: Obj | None, scheduler_pods: Iterable[Obj]) -> str:
    """A short state for the progress line: DaskCluster phase plus the scheduler pod's state."""
    phase = _get(cluster, "status", "phase") or "Created (no status yet)"
    pods = list(scheduler_pods)
    if not pods:
        return f"cluster {phase}; waiting for the scheduler pod"
    pod = pods[0]
    waiting = next((_get(cs, "state", "waiting", "reason") for cs in _container_statuses(pod) if _get(cs, "state", "waiting")), None)
    state = "ready" if pod_is_ready(pod) else (waiting or _get(pod, "status", "phase") or "Pending")
    return f"cluster {phase}; scheduler pod {state}"
