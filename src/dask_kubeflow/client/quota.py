"""Does the namespace's ResourceQuota leave room for its Dask cluster? (pure, over the API's JSON)

Read from what ``doctor`` already fetched: the DaskCluster's pod specs (what the tier gives the
scheduler and each worker), the autoscaler's maximum, the namespace's ResourceQuotas (``hard`` and
``used``) and the cluster's own pods. Two different problems get two different answers:

- **too small for this tier**: ``hard`` is below the scheduler plus one worker (nothing will ever
  start) or below the tier's maximum (the cluster can never grow that far) — only the admin can fix it;
- **exhausted by other pods**: the quota is big enough, but what other pods of the namespace use
  leaves too little — the user can free it (idle notebooks, other Dask clusters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dask.utils import format_bytes

from ..kube.names import TIER_LABEL
from ..quantity import QuantityError, parse_quantity

__all__ = ["QuotaFinding", "quota_findings"]

Obj = Mapping[str, Any]

# quota key -> (container resources side, resource); "pods" counts pods
_KEYS = {
    "requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
    "pods": ("count", "pods"), "count/pods": ("count", "pods"),
}


@dataclass(frozen=True)
class QuotaFinding:
    """One quota's verdict: ``ok`` False is a failing ``doctor`` check."""

    quota: str
    ok: bool
    detail: str
    fix: str = ""


def _containers(pod_spec: Obj | None) -> list[Obj]:
    return list(((pod_spec or {}).get("spec") or pod_spec or {}).get("containers") or [])


def _pod_needs(containers: Iterable[Obj], side: str, resource: str) -> Decimal:
    """What one pod with these containers counts against a quota key (requests default to limits)."""
    if side == "count":
        return Decimal(1)
    total = Decimal(0)
    for container in containers:
        resources = container.get("resources") or {}
        value = (resources.get(side) or {}).get(resource)
        if value is None and side == "requests":
            value = (resources.get("limits") or {}).get(resource)
        if value is not None:
            try:
                total += parse_quantity(value)
            except QuantityError:
                pass
    return total


def _show(value: Decimal, resource: str) -> str:
    if resource == "memory":
        return format_bytes(int(value))
    return f"{value.normalize():f}"


def _parse(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except (QuantityError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Shape:
    tier: str
    scheduler: list[Obj]
    worker: list[Obj]
    maximum: int


def _shape(cluster: Obj, autoscaler: Obj | None) -> _Shape:
    spec = cluster.get("spec") or {}
    labels = (cluster.get("metadata") or {}).get("labels") or {}
    maximum = ((autoscaler or {}).get("spec") or {}).get("maximum")
    replicas = (spec.get("worker") or {}).get("replicas") or 1
    return _Shape(labels.get(TIER_LABEL) or "of this cluster", _containers((spec.get("scheduler") or {}).get("spec")),
                  _containers((spec.get("worker") or {}).get("spec")), int(maximum if maximum is not None else replicas))


def _judge_key(name: str, key: str, hard: Decimal, used: Decimal, ours: Decimal, shape: _Shape,
               namespace: str) -> QuotaFinding | None:
    side, resource = _KEYS[key]
    sched, worker = (_pod_needs(shape.scheduler, side, resource), _pod_needs(shape.worker, side, resource))
    tier, first = f"tier {shape.tier!r}" if shape.tier != "of this cluster" else "this cluster", sched + worker
    admin_fix = (f"ask your platform admin to raise {key} of ResourceQuota {name} (the Profile's "
                 f"spec.resourceQuotaSpec.hard) or to give namespace {namespace} a smaller tier in the policy")
    if hard < first:
        return QuotaFinding(name, False, f"too small for this tier: ResourceQuota {name} allows {key}="
                            f"{_show(hard, resource)} but {tier} needs {_show(first, resource)} for the scheduler "
                            f"and one worker, so the Dask pods are refused", admin_fix)
    others = max(used - ours, Decimal(0))
    if hard - others < first:
        return QuotaFinding(name, False, f"exhausted by other pods: ResourceQuota {name} allows {key}="
                            f"{_show(hard, resource)}, other pods use {_show(others, resource)}, and the scheduler "
                            f"plus one worker need {_show(first, resource)}",
                            f"free quota in {namespace!r}: stop idle notebooks or other Dask clusters "
                            f"(kubectl get pods -n {namespace}; kubectl describe resourcequota {name} -n {namespace})")
    full = sched + worker * shape.maximum
    if worker and hard < full:
        fits = int((hard - sched) / worker)
        return QuotaFinding(name, False, f"too small for this tier's maximum: ResourceQuota {name} allows {key}="
                            f"{_show(hard, resource)}, room for {fits} of the {shape.maximum} workers {tier} may "
                            f"scale to ({_show(full, resource)} needed)", admin_fix)
    return None


def quota_findings(cluster: Obj, autoscaler: Obj | None, quotas: Sequence[Obj], pods: Iterable[Obj],
                   namespace: str) -> list[QuotaFinding]:
    """One finding per quota: failing ones say which kind of problem, with the numbers and the fix."""
    shape, pods = _shape(cluster, autoscaler), list(pods)
    findings = []
    for quota in quotas:
        name = (quota.get("metadata") or {}).get("name", "?")
        status = quota.get("status") or {}
        hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        problem = None
        for key in [k for k in _KEYS if k in hard]:
            side, resource = _KEYS[key]
            limit = _parse(hard[key])
            if limit is None:
                continue
            ours = sum((_pod_needs(_containers(p), side, resource) for p in pods), Decimal(0))
            problem = _judge_key(name, key, limit, _parse(used.get(key, "0")) or Decimal(0), ours, shape, namespace)
            if problem is not None:
                break
        findings.append(problem or QuotaFinding(name, True, f"ResourceQuota {name} leaves room for the scheduler "
                                                f"and {shape.maximum} worker(s)"))
    return findings
