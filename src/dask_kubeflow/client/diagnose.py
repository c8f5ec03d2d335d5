"""Turn what the Kubernetes API says into one reason and one fix. Pure functions over plain dicts.

``connect()``, ``status`` and ``doctor`` fetch pods, events, API errors and version reports (see
``kubernetes.py``) and hand them here as the JSON the API returned, so every message can be tested
without a cluster. The rules follow what a human would look at: container waiting reasons first
(image pull, crash loop), then the scheduler's own verdict (PodScheduled=False), then events on the
pod and its owners (quota refusals surface as FailedCreate on the ReplicaSet, never on a pod).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .environment import Environment
    from .inspection import ClusterSnapshot, ProbeResult

__all__ = [
    "Check",
    "doctor_checks",
    "Diagnosis",
    "compare_versions",
    "explain_forbidden",
    "explain_pods",
    "pod_is_ready",
    "summarize_phase",
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


@dataclass(frozen=True)
class Check:
    """One line of ``dask-kubeflow doctor``: ``ok`` is None when the check could not run."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


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


def _pod_diagnosis(pod: Obj, events: list[Obj], namespace: str) -> Diagnosis | None:
    name = _get(pod, "metadata", "name", default="?")
    for cs in _container_statuses(pod):
        waiting = _get(cs, "state", "waiting") or {}
        reason = waiting.get("reason", "")
        message = waiting.get("message", "")
        if reason in IMAGE_PULL_REASONS:
            image = cs.get("image") or "the image"
            pull_event = next((e for e in reversed(events) if e.get("reason") in ("Failed", "ErrImagePull")), None)
            why = (pull_event or {}).get("message") or message
            return Diagnosis(
                f"pod {name} cannot pull image {image} ({reason}{': ' + why if why else ''})",
                "check the image name and tag exist and the registry is reachable from the cluster; the image "
                "comes from the platform policy (ask your admin), or an imagePullSecret may be missing",
            )
        last = _get(cs, "lastState", "terminated") or {}
        if reason in CRASH_REASONS or (cs.get("restartCount", 0) > 0 and last):
            exit_code = last.get("exitCode")
            last_reason = last.get("reason") or ""
            tail = (last.get("message") or "").strip().splitlines()[-1:] or []
            parts = [p for p in (f"exit code {exit_code}" if exit_code is not None else "", last_reason, *tail) if p]
            return Diagnosis(
                f"pod {name} is crash-looping ({reason or 'restarting'}, {cs.get('restartCount', 0)} restarts"
                + (f"; last run: {', '.join(parts)}" if parts else "") + ")",
                f"read its log: kubectl logs -n {namespace} {name} --previous"
                + ("; OOMKilled means the pod needs more memory (ask your admin for a bigger tier)" if last_reason == "OOMKilled" else ""),
            )
    conditions = _get(pod, "status", "conditions", default=[]) or []
    unscheduled = next((c for c in conditions if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
    if unscheduled is not None:
        message = unscheduled.get("message") or ""
        failed = next((e for e in reversed(events) if e.get("reason") == "FailedScheduling"), None)
        message = message or (failed or {}).get("message", "")
        if "quota" in message:
            return _quota_diagnosis(message, namespace)
        return Diagnosis(
            f"pod {name} is Pending: the Kubernetes scheduler cannot place it ({message or unscheduled.get('reason', 'Unschedulable')})",
            "the cluster has no node with enough free CPU/memory (or matching selectors/tolerations) for this "
            "pod; wait for the autoscaler to add nodes or ask your admin",
        )
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
        return Diagnosis(f"pod {name} has stopped (phase {phase}: {_get(pod, 'status', 'reason') or _get(pod, 'status', 'message') or 'no reason given'})",
                         f"kubectl logs -n {namespace} {name}; the operator recreates it, or ask your admin")
    return None


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
                "ask your platform admin to check the dask-kubernetes operator is running "
                "(kubectl get pods -n dask-operator)",
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


def doctor_checks(
    env: Environment,
    snap: ClusterSnapshot | None,
    access: list[tuple[str, str, bool | None, str]],
    probe: ProbeResult | None,
) -> list[Check]:
    """Every ``doctor`` line, in the order a person would debug: where, API, operator, RBAC, cluster, pods, network."""
    checks = [
        Check("inside a pod?", True, "yes (Kubernetes in-cluster credentials)" if env.in_pod else
              (f"no; using kubeconfig {env.kubeconfig} (port-forward)" if env.kubeconfig else "no, and no kubeconfig"))
        if env.in_pod or env.kubeconfig else
        Check("inside a pod?", False, "not in a pod and no kubeconfig found",
              "run inside a Kubeflow notebook, or set KUBECONFIG; off Kubernetes connect() starts an embedded cluster"),
        Check("namespace?", True, f"{env.namespace} (from {env.namespace_source})") if env.namespace else
        Check("namespace?", False, "no namespace found",
              "pass --namespace, or set DASK_KUBERNETES__NAMESPACE (the platform's PodDefault sets it in notebooks)"),
    ]
    if snap is None:
        return checks
    ns, name = snap.namespace, snap.name
    if snap.api_error:
        checks.append(Check("Kubernetes API reachable", False, snap.api_error,
                            "check your kubeconfig / network; inside a pod check the service account token is mounted"))
        return checks
    checks.append(Check("Kubernetes API reachable", True, "yes"))
    checks.append(Check("Dask operator CRDs installed", True, "kubernetes.dask.org/v1 is served") if snap.api_served else
                  Check("Dask operator CRDs installed", False, "kubernetes.dask.org/v1 is not served by this cluster",
                        "ask your platform admin to install the dask-kubernetes operator and dask-kubeflow"))
    refused = {(d.verb, d.resource): d for d in snap.forbidden}
    for verb, resource, allowed, why in access:
        label = f"may {verb} {resource}"
        if (verb, resource) in refused:
            checks.append(Check(label, False, f"no: the API server answered 403 Forbidden (needed to {why})",
                                refused.pop((verb, resource)).fix))
        elif allowed is None:
            checks.append(Check(label, None, "could not ask (SelfSubjectAccessReview failed)"))
        elif allowed:
            checks.append(Check(label, True, f"yes (to {why})"))
        else:
            checks.append(Check(label, False, f"no: needed to {why}",
                                f"ask the namespace owner or admin for a Role allowing {verb!r} on {resource!r} in {ns!r}"))
    for denied in refused.values():
        checks.append(Check(f"may {denied.verb} {denied.resource}", False, denied.problem, denied.fix))
    if not snap.api_served:
        return checks
    from .errors import ClusterNotFoundError, PermissionDeniedError

    err = snap.error
    if isinstance(err, ClusterNotFoundError):
        checks.append(Check(f"cluster {name!r} exists", False, err.problem, err.fix))
        return checks
    if isinstance(err, PermissionDeniedError) and snap.cluster is None:
        checks.append(Check(f"cluster {name!r} exists", None, err.problem, err.fix))
        return checks
    if snap.cluster is None:
        checks.append(Check(f"cluster {name!r} exists", False, err.problem if err else "could not read it",
                            err.fix if err else ""))
        return checks
    phase = _get(snap.cluster, "status", "phase") or "no status yet"
    checks.append(Check(f"cluster {name!r} exists", True, f"phase {phase}"))
    if not snap.pods_visible:
        checks.append(Check("scheduler pod ready", None, "cannot tell: listing pods is forbidden (see above)"))
        return checks
    scheduler = explain_pods(snap.scheduler_pods, snap.events, ns, owners=[f"{name}-scheduler"], cluster=snap.cluster)
    checks.append(Check("scheduler pod ready", True, "yes") if scheduler is None else
                  Check("scheduler pod ready", False, scheduler.reason, scheduler.fix))
    if snap.worker_pods:
        workers = explain_pods(snap.worker_pods, snap.events, ns, what="worker", owners=[f"{name}-default-worker"])
        ready = sum(pod_is_ready(p) for p in snap.worker_pods)
        checks.append(Check("worker pods", True, f"{ready}/{len(snap.worker_pods)} ready") if workers is None else
                      Check("worker pods", False, workers.reason, workers.fix))
    if probe is None:
        checks.append(Check("can reach the scheduler?", None, "skipped: the scheduler pod is not ready"))
        return checks
    if probe.error:
        checks.append(Check("can reach the scheduler?", False, probe.error,
                            "inside the cluster check a NetworkPolicy lets this pod reach the scheduler on 8786; "
                            "outside, check you may create pods/portforward"))
        return checks
    checks.append(Check("can reach the scheduler?", True, f"{probe.scheduler_address}, {probe.workers} worker(s)"))
    if probe.mismatches:
        listed = ", ".join(f"{p} {c} here vs {s} on the scheduler" for p, (c, s) in sorted(probe.mismatches.items()))
        pins = " ".join(f"{p}=={s}" for p, (_, s) in sorted(probe.mismatches.items()) if s)
        checks.append(Check("same Dask as the scheduler", False, listed,
                            f"pip install {pins} in the notebook, or ask your admin to align the policy image"))
    else:
        checks.append(Check("same Dask as the scheduler", True, "dask and distributed match"))
    status, error = probe.dashboard_status, probe.dashboard_error
    where = f"{probe.dashboard_link} (checked {probe.dashboard_url})" if probe.dashboard_url != probe.dashboard_link else str(probe.dashboard_link)
    if status is not None and (200 <= status < 400 or status in (401, 403)):
        note = " (login required: open it from the Kubeflow UI)" if status in (401, 403) else ""
        checks.append(Check("dashboard link reachable?", True, f"{where}: HTTP {status}{note}"))
    else:
        checks.append(Check("dashboard link reachable?", False, f"{where}: " + (f"HTTP {status}" if status else f"{error}"),
                            "the scheduler must serve the dashboard under the link's path (--dashboard-prefix); "
                            "ask your admin to check the dask-kubeflow gateway and the cluster's dashboard prefix"))
    return checks
