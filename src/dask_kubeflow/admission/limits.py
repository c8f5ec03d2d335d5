"""Requests, limits and worker counts against the tier (pure).

The tier's values are what ``render`` gives the managed cluster's containers (a side the policy
left out is filled from the other), so a user's cluster may ask for at most what the managed one
gets: requests at most the tier's requests, limits at most the tier's limits. Containers that
leave a value out get the tier's (mutating webhook), so Kubeflow's ``kf-resource-quota`` admits
their pods.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..policy import ClusterShape
from ..quantity import QuantityError, parse_quantity
from ..render.pods import GPU_RESOURCE, container_resources
from .objects import PodSpecAt, dig

__all__ = ["CONTAINER_LISTS", "Ask", "fill_pod", "over_limit", "pod_asks", "pod_limit_problems", "replicas_problem",
           "tier_bounds", "tier_resources"]

# One request or limit a stored object asks for: (where, role, side, resource, value), e.g.
# ("spec.worker.spec.containers[0].resources.requests.cpu", "worker", "requests", "cpu", "4").
Ask = tuple[str, str, str, str, str]

CONTAINER_LISTS = ("initContainers", "containers")
_CHECKED = ("cpu", "memory", GPU_RESOURCE)


def tier_resources(shape: ClusterShape, role: str) -> dict[str, dict[str, str]]:
    """Requests and limits render gives a container of this role (what missing values are filled with)."""
    s = shape.settings
    if role == "scheduler":
        return container_resources(s.scheduler.resources)
    return container_resources(s.worker.resources, gpus=s.worker.gpus if role == "worker" else 0)


def _larger(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if parse_quantity(a) >= parse_quantity(b) else b


def tier_bounds(shape: ClusterShape, role: str) -> dict[str, dict[str, str]]:
    """The most a container of this role may ask for. A scheduler may be as large as a worker:
    ``KubeCluster(resources=...)`` gives the scheduler the workers' resources."""
    own = tier_resources(shape, role)
    if role != "scheduler":
        return own
    worker = tier_resources(shape, "job")
    return {side: {name: v for name in ("cpu", "memory")
                   if (v := _larger(own[side].get(name), worker[side].get(name))) is not None}
            for side in ("requests", "limits")}


def _too_much(value: Any, allowed: str | None) -> bool | None:
    """True if over, False if within, None if ``value`` is no quantity."""
    try:
        asked = parse_quantity(value)
    except (QuantityError, TypeError, ValueError):
        return None
    return asked > parse_quantity(allowed) if allowed is not None else asked > 0


def over_limit(value: Any, allowed: str | None) -> bool | None:
    """True if ``value`` is above ``allowed`` (None: no amount is allowed), False if within, None if
    ``value`` is no quantity."""
    return _too_much(value, allowed)


def _value_problem(where: str, value: Any, allowed: str | None, tier: str) -> str | None:
    over = _too_much(value, allowed)
    if over is None:
        return f"{where} is {value!r}, which is not a Kubernetes quantity; write e.g. 500m, 2 or 4Gi"
    if not over:
        return None
    if allowed is None:
        return f"{where} is {value}, but tier {tier!r} allows none; remove it"
    return (f"{where} is {value}, more than tier {tier!r} allows ({allowed}); set it to {allowed} or less, "
            f"or leave it out to get the tier's value")


def _containers(pod: Mapping[str, Any]) -> list[tuple[str, int, Mapping[str, Any]]]:
    return [(key, i, c) for key in CONTAINER_LISTS for i, c in enumerate(pod.get(key) or ())
            if isinstance(c, Mapping)]


def pod_limit_problems(obj: Mapping[str, Any], at: PodSpecAt, shape: ClusterShape) -> list[str]:
    """Every request or limit of the pod's containers above the tier's."""
    pod, tier = dig(obj, at.path), tier_bounds(shape, at.role)
    problems = []
    for key, index, container in _containers(pod):
        resources = container.get("resources") or {}
        for side in ("requests", "limits"):
            for name, value in (resources.get(side) or {}).items():
                if name in _CHECKED:
                    where = f"{at.where}.{key}[{index}].resources.{side}.{name}"
                    problem = _value_problem(where, value, tier[side].get(name), shape.tier)
                    if problem:
                        problems.append(problem)
    return problems


def pod_asks(obj: Mapping[str, Any], at: PodSpecAt) -> list[Ask]:
    """Every checked request and limit of the pod's containers, as ``Ask`` (the little the
    controller's cache keeps of a user's cluster, to tell when a lowered tier leaves it above)."""
    asks: list[Ask] = []
    for key, index, container in _containers(dig(obj, at.path)):
        resources = container.get("resources") or {}
        for side in ("requests", "limits"):
            for name, value in (resources.get(side) or {}).items():
                if name in _CHECKED:
                    asks.append((f"{at.where}.{key}[{index}].resources.{side}.{name}", at.role, side, name,
                                 str(value)))
    return asks


def _filled(resources: Mapping[str, Any] | None, tier: dict[str, dict[str, str]]) -> dict[str, Any]:
    """``resources`` with every missing cpu/memory request and limit taken from the tier.

    A missing request takes the container's own limit when that is lower than the tier's request
    (Kubernetes refuses a request above the limit)."""
    out = copy.deepcopy(dict(resources or {}))
    requests, limits = dict(out.get("requests") or {}), dict(out.get("limits") or {})
    for name in ("cpu", "memory"):
        if name not in limits and name in tier["limits"]:
            limits[name] = tier["limits"][name]
        if name not in requests and name in tier["requests"]:
            own = limits.get(name)
            lower = own is not None and _too_much(tier["requests"][name], own) is True
            requests[name] = own if lower else tier["requests"][name]
    out["requests"], out["limits"] = requests, limits
    return out


def fill_pod(obj: dict[str, Any], at: PodSpecAt, shape: ClusterShape) -> bool:
    """Fill missing requests/limits in place; True if anything changed."""
    pod, tier, changed = dig(obj, at.path), tier_resources(shape, at.role), False
    for key, index, container in _containers(pod):
        filled = _filled(container.get("resources"), tier)
        if filled != (container.get("resources") or {}):
            pod[key][index] = {**container, "resources": filled}
            changed = True
    return changed


def replicas_problem(where: str, value: Any, shape: ClusterShape, what: str) -> str | None:
    """A worker count above the tier's maximum (per cluster)."""
    maximum = shape.settings.scaling.maximum
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{where} is {value!r}; it must be a whole number of workers (0-{maximum})"
    if value <= maximum:
        return None
    return (f"{where} is {value}, more than tier {shape.tier!r} allows ({maximum} {what}); set it to {maximum} "
            f"or less, or ask your platform admin for a larger tier")
