"""Does a namespace's ResourceQuota leave room for its tier's cluster? (pure)

Kubeflow turns a Profile's ``spec.resourceQuotaSpec`` into ResourceQuota ``kf-resource-quota``.
A quota smaller than the scheduler plus one worker means the operator's pods are refused and the
user sees a cluster that never starts; say so on the namespace, with the numbers and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from dask.utils import format_bytes

from ..policy import ClusterShape
from ..quantity import QuantityError, parse_quantity
from .facts import Quota

__all__ = ["quota_problem"]

# quota key -> (which part of the container resources it limits, is it memory)
_KEYS = {
    "requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
}


def _need(shape: ClusterShape, side: str, resource: str) -> Decimal:
    total = Decimal(0)
    for res in (shape.settings.scheduler.resources, shape.settings.worker.resources):
        part = getattr(getattr(res, side), resource) or (getattr(res.limits, resource) if side == "requests" else None)
        if part is not None:
            total += parse_quantity(part)
    return total


def _show(value: Decimal, resource: str) -> str:
    return format_bytes(int(value)) if resource == "memory" else f"{value.normalize():f}"


def quota_problem(shape: ClusterShape, quotas: Iterable[Quota], profile: str) -> str | None:
    """A message when some quota's ``hard`` limit is below the scheduler plus one worker, else None."""
    for quota in quotas:
        hard = quota.hard
        for key, (side, resource) in _KEYS.items():
            if key not in hard:
                continue
            try:
                allowed = parse_quantity(hard[key])
            except QuantityError:
                continue
            need = _need(shape, side, resource)
            if need > allowed:
                return (
                    f"ResourceQuota {quota.name} allows {key}={hard[key]} but tier {shape.tier!r} needs "
                    f"{_show(need, resource)} for the scheduler and one worker, so the Dask pods would be refused; "
                    f"raise spec.resourceQuotaSpec.hard of Profile {profile} or give this namespace a smaller tier "
                    f"in the policy"
                )
    return None
