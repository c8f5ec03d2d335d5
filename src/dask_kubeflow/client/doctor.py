"""``dask-kubeflow doctor``'s checks, one small function per stage, in the order a person debugs.

Pure: every stage reads what was already fetched (:class:`Facts`: the environment, the namespace
snapshot, the access reviews, the live probe) and returns its :class:`Check` lines plus whether
later stages can still say anything. Add a stage by writing one function and listing it in
``STAGES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..kube.names import ENV_NAMESPACE, SCHEDULER_PORT
from ..kube.namespace_status import exceeded_lines
from ..kube.usage_record import EXCEEDED, budget_line, budget_notice
from .lifecycle_state import WAKE_DOORS, Hibernation, hibernation
from .diagnose import explain_pods, pod_is_ready, scheduler_owners, worker_owners
from .environment import Environment
from .errors import ClusterNotFoundError, PermissionDeniedError, from_api_failure
from .quota import quota_findings
from .refusals import refusal_lines
from .snapshot import Access, ClusterSnapshot, ProbeResult

__all__ = ["Check", "Facts", "Stage", "STAGES", "doctor_checks"]


@dataclass(frozen=True)
class Check:
    """One line of ``dask-kubeflow doctor``: ``ok`` is None when the check could not run."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Facts:
    """What the stages read. ``snap`` is None off Kubernetes; ``probe`` None when not connected."""

    env: Environment
    snap: ClusterSnapshot | None
    access: Sequence[Access | tuple[str, str, bool | None, str]]
    probe: ProbeResult | None


@dataclass(frozen=True)
class Stage:
    """A stage's lines; ``go_on`` False when later stages have nothing to stand on."""

    checks: tuple[Check, ...]
    go_on: bool = True


def _stop(*checks: Check) -> Stage:
    return Stage(checks, go_on=False)


def environment(facts: Facts) -> Stage:
    env = facts.env
    if env.in_pod or env.kubeconfig:
        where = Check("inside a pod?", True, "yes (Kubernetes in-cluster credentials)" if env.in_pod else
                      (f"no; using kubeconfig {env.kubeconfig} (port-forward)" if env.kubeconfig else "no, and no kubeconfig"))
    else:
        where = Check("inside a pod?", False, "not in a pod and no kubeconfig found",
                      "run inside a Kubeflow notebook, or set KUBECONFIG; off Kubernetes connect() starts an embedded cluster")
    namespace = Check("namespace?", True, f"{env.namespace} (from {env.namespace_source})") if env.namespace else \
        Check("namespace?", False, "no namespace found",
              f"pass --namespace, or set {ENV_NAMESPACE} (the platform's PodDefault sets it in notebooks)")
    return Stage((where, namespace), go_on=facts.snap is not None)


def api_reachable(facts: Facts) -> Stage:
    assert facts.snap is not None
    if facts.snap.api_error:
        failure = facts.snap.api_failure
        if failure is None:
            return _stop(Check("Kubernetes API reachable", False, facts.snap.api_error,
                               "check your kubeconfig / network; inside a pod check the service account token is mounted"))
        err = from_api_failure(failure, facts.env.api_server or "(unknown server)", facts.env.credentials)
        return _stop(Check("Kubernetes API reachable", False, err.problem, err.fix))
    return Stage((Check("Kubernetes API reachable", True, "yes"),))


def operator_installed(facts: Facts) -> Stage:
    assert facts.snap is not None
    if facts.snap.api_served:
        return Stage((Check("Dask operator CRDs installed", True, "kubernetes.dask.org/v1 is served"),))
    return Stage((Check("Dask operator CRDs installed", False, "kubernetes.dask.org/v1 is not served by this cluster",
                        "ask your platform admin to install the dask-kubernetes operator and dask-kubeflow"),))


def _access_check(verb: str, resource: str, allowed: bool | None, why: str, namespace: str) -> Check:
    label = f"may {verb} {resource}"
    if allowed is None:
        return Check(label, None, "could not ask (SelfSubjectAccessReview failed)")
    if allowed:
        return Check(label, True, f"yes (to {why})")
    return Check(label, False, f"no: needed to {why}",
                 f"ask the namespace owner or admin for a Role allowing {verb!r} on {resource!r} in {namespace!r}")


def rbac(facts: Facts) -> Stage:
    """Each permission connect() needs: a 403 the API really answered beats what the review said."""
    assert facts.snap is not None
    refused = {(d.verb, d.resource): d for d in facts.snap.forbidden}
    checks = []
    for verb, resource, allowed, why in facts.access:
        if (denied := refused.pop((verb, resource), None)) is not None:
            checks.append(Check(f"may {verb} {resource}", False,
                                f"no: the API server answered 403 Forbidden (needed to {why})", denied.fix))
        else:
            checks.append(_access_check(verb, resource, allowed, why, facts.snap.namespace))
    checks += [Check(f"may {d.verb} {d.resource}", False, d.problem, d.fix) for d in refused.values()]
    return Stage(tuple(checks))


def cluster_exists(facts: Facts) -> Stage:
    snap = facts.snap
    assert snap is not None
    if not snap.api_served:
        return _stop()
    label, err = f"cluster {snap.name!r} exists", snap.error
    if isinstance(err, ClusterNotFoundError):
        return _stop(Check(label, False, err.problem, err.fix))
    if isinstance(err, PermissionDeniedError) and snap.cluster is None:
        return _stop(Check(label, None, err.problem, err.fix))
    if snap.cluster is None:
        return _stop(Check(label, False, err.problem if err else "could not read it", err.fix if err else ""))
    phase = (snap.cluster.get("status") or {}).get("phase") or "no status yet"
    return Stage((Check(label, True, f"phase {phase}"),))


def controller_record(facts: Facts) -> Stage:
    """What the dask-kubeflow controller last reported for the namespace (its status ConfigMap)."""
    record = facts.snap.controller if facts.snap is not None else None
    if record is None:
        return Stage((Check("controller status", None, "could not read the dask-kubeflow-status ConfigMap"),))
    phase, message = record.get("phase") or "unknown", record.get("message") or ""
    if phase == "Error":
        error = record.get("lastError") or message
        return Stage((Check("controller status", False, f"the dask-kubeflow controller reports Error: {error}",
                            "the message says what to change; most need your platform admin (policy, Profile "
                            "quota): send them this line"),))
    if phase == "NotManaged":
        return Stage((Check("controller status", None, "no dask-kubeflow-status record here (no Kubeflow "
                            "Profile for this namespace, or the controller is not running)"),))
    tier = f" (tier {record['tier']})" if record.get("tier") else ""
    return Stage((Check("controller status", True, f"{phase}{tier}" + (f": {message}" if message else "")),))


def usage(facts: Facts) -> Stage:
    """This month's usage and the tier's budget, from the controller's usage record (none: nothing to say)."""
    record = facts.snap.usage if facts.snap is not None else None
    if record is None:
        return Stage(())
    used = Check("usage this month", True, f"{record.core_hours:.2f} core-hours, {record.memory_gib_hours:.2f} "
                 f"memory GiB-hours in {record.period} (requests × time Running)")
    notice = budget_notice(record)
    if notice is None or notice.state != EXCEEDED:  # a warning is no failure yet: the line says whom to ask
        return Stage((used, Check("budget", True, budget_line(record))))
    return Stage((used, Check("budget", False, budget_line(record), notice.fix)))


def _hibernation(snap: ClusterSnapshot) -> Hibernation | None:
    found = hibernation(snap.cluster, snap.controller)
    if found is not None and not found.asleep and any(pod_is_ready(p) for p in snap.scheduler_pods):
        return None  # woken; the record says so at the controller's next look
    return found


def hibernated(facts: Facts) -> Stage:
    """A hibernated cluster is not broken: it gave its scheduler back while idle, and wakes on use."""
    assert facts.snap is not None and facts.snap.cluster is not None
    found = _hibernation(facts.snap)
    return Stage(() if found is None else (Check("hibernation", True, found.detail),))


def quota(facts: Facts) -> Stage:
    """Every ResourceQuota of the namespace against the scheduler, one worker and the tier's maximum."""
    snap = facts.snap
    assert snap is not None and snap.cluster is not None
    pods = [*snap.scheduler_pods, *snap.worker_pods]
    findings = quota_findings(snap.cluster, snap.autoscaler, snap.quotas, pods, snap.namespace)
    return Stage(tuple(Check(f"quota {f.quota}", f.ok, f.detail, f.fix) for f in findings))


def scheduler_pod(facts: Facts) -> Stage:
    snap = facts.snap
    assert snap is not None and snap.cluster is not None
    if not snap.pods_visible:
        return _stop(Check("scheduler pod ready", None, "cannot tell: listing pods is forbidden (see above)"))
    if (asleep := _hibernation(snap)) is not None and asleep.asleep:
        return _stop(Check("scheduler pod ready", None, f"no scheduler while hibernated: {WAKE_DOORS} starts it"))
    found = explain_pods(snap.scheduler_pods, snap.events, snap.namespace, owners=scheduler_owners(snap.name),
                         cluster=snap.cluster)
    if found is None:
        return Stage((Check("scheduler pod ready", True, "yes"),))
    return Stage((Check("scheduler pod ready", False, found.reason, found.fix),))


def workers(facts: Facts) -> Stage:
    snap = facts.snap
    assert snap is not None
    if not snap.worker_pods:
        return Stage(())
    found = explain_pods(snap.worker_pods, snap.events, snap.namespace, what="worker", owners=worker_owners(snap.name))
    if found is None:
        ready = sum(pod_is_ready(p) for p in snap.worker_pods)
        return Stage((Check("worker pods", True, f"{ready}/{len(snap.worker_pods)} ready"),))
    return Stage((Check("worker pods", False, found.reason, found.fix),))


def reachability(facts: Facts) -> Stage:
    probe = facts.probe
    if probe is None:
        return _stop(Check("can reach the scheduler?", None, "skipped: the scheduler pod is not ready"))
    if probe.error:
        return _stop(Check("can reach the scheduler?", False, probe.error,
                           f"inside the cluster check a NetworkPolicy lets this pod reach the scheduler on "
                           f"{SCHEDULER_PORT}; outside, check you may create pods/portforward"))
    return Stage((Check("can reach the scheduler?", True, f"{probe.scheduler_address}, {probe.workers} worker(s)"),))


def versions(facts: Facts) -> Stage:
    """Client, scheduler and workers run the same packages (the table itself prints below the checks)."""
    assert facts.probe is not None
    report, mismatches = facts.probe.versions, facts.probe.mismatches or {}
    label = "same versions as the cluster"
    if report is not None and report.ok or report is None and not mismatches:
        shown = f"{len(report.rows)} packages match (table below)" if report is not None else "dask and distributed match"
        return Stage((Check(label, True, shown),))
    if report is not None:
        mismatches = report.mismatches()
    listed = ", ".join(f"{p} {c} here vs {s} on the scheduler" for p, (c, s) in sorted(mismatches.items()))
    pins = " ".join(f"{p}=={s}" for p, (_, s) in sorted(mismatches.items()) if s and p != "python")
    return Stage((Check(label, False, listed or "the workers differ (table below)",
                        (f"pip install {pins} in the notebook, or " if pins else "")
                        + "ask your admin to align the policy image with the notebook image"),))


def dashboard(facts: Facts) -> Stage:
    probe = facts.probe
    assert probe is not None
    status, error = probe.dashboard_status, probe.dashboard_error
    where = (f"{probe.dashboard_link} (checked {probe.dashboard_url})" if probe.dashboard_url != probe.dashboard_link
             else str(probe.dashboard_link))
    if status is not None and (200 <= status < 400 or status in (401, 403)):
        note = " (login required: open it from the Kubeflow UI)" if status in (401, 403) else ""
        return Stage((Check("dashboard link reachable?", True, f"{where}: HTTP {status}{note}"),))
    return Stage((Check("dashboard link reachable?", False, f"{where}: " + (f"HTTP {status}" if status else f"{error}"),
                        "the scheduler must serve the dashboard under the link's path (--dashboard-prefix); "
                        "ask your admin to check the dask-kubeflow gateway and the cluster's dashboard prefix"),))


STAGES: tuple[Callable[[Facts], Stage], ...] = (
    environment, api_reachable, operator_installed, rbac, controller_record, usage, cluster_exists, hibernated,
    quota, scheduler_pod, workers, reachability, versions, dashboard,
)


def doctor_checks(
    env: Environment,
    snap: ClusterSnapshot | None,
    access: Sequence[Access | tuple[str, str, bool | None, str]],
    probe: ProbeResult | None,
) -> list[Check]:
    """Every ``doctor`` line: each stage in ``STAGES`` until one says the rest cannot be told."""
    facts = Facts(env, snap, access, probe)
    checks: list[Check] = []
    for stage in STAGES:
        result = stage(facts)
        checks += result.checks
        if not result.go_on:
            break
    over = exceeded_lines(snap.controller) if snap is not None else []
    if over:  # the controller's record: clusters of users left above a tier the admin lowered
        checks.append(Check("clusters within the tier?", False, "\n".join(over),
                            "each line names the cluster, the limit and what to do"))
    lines = refusal_lines(snap.events) if snap is not None else []
    if lines:  # the tier's admission webhook refused writes here recently (its Events)
        checks.append(Check("refused by the tier?", False, "\n".join(lines),
                            "ask for less (the message names the limit), or delete a cluster of your own first"))
    return checks
