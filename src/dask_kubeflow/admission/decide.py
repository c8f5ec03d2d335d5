"""The two admission decisions (pure): ``mutate`` fills what the tier fills, ``validate`` refuses
what the tier does not allow. Inputs: the request, the namespace's resolved tier
(``policy.resolve`` -> ``ClusterShape``), who may touch the managed cluster (``Trust``) and, when
``needs_usage`` says so, the namespace's Dask objects (``Usage``). No I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..policy import ClusterShape
from ..render.platform import Platform
from ..render.user_cluster import RequestError, fill_user_cluster, owner_of
from .limits import fill_pod, pod_limit_problems, replicas_problem
from .objects import DASK_RESOURCES, dig, dotted, pod_specs, replicas_path
from .podsecurity import pod_security_problems
from .protect import is_managed, protection
from .review import ALLOW, Request, Trust, Verdict, deny
from .usage import Usage, usage_problem

__all__ = ["mutate", "needs_usage", "validate"]


def _applies(request: Request) -> bool:
    return request.resource in DASK_RESOURCES and request.operation in ("CREATE", "UPDATE", "DELETE")


def _unchanged(request: Request) -> bool:
    """An update that leaves the spec as it was (finalizers, annotations, labels, status)."""
    return request.operation == "UPDATE" and dig(request.obj, ("spec",)) == dig(request.old, ("spec",))


def _replica_problems(request: Request, shape: ClusterShape) -> list[str]:
    path = replicas_path(request.resource, request.subresource)
    if path is None:
        return []
    what = "workers per cluster" if request.resource != "daskautoscalers" else "workers at most"
    problems = [replicas_problem(dotted(path), dig(request.obj, path), shape, what)]
    if request.resource == "daskautoscalers" and not request.subresource:
        minimum, maximum = dig(request.obj, ("spec", "minimum")), dig(request.obj, ("spec", "maximum"))
        if isinstance(minimum, int) and isinstance(maximum, int) and minimum > maximum:
            problems.append(f"spec.minimum ({minimum}) is above spec.maximum ({maximum}); lower the minimum")
    return [p for p in problems if p]


def problems(request: Request, shape: ClusterShape) -> list[str]:
    """Everything about the new object the tier does not allow (limits and pod security)."""
    found = _replica_problems(request, shape)
    for at in pod_specs(request.resource, request.obj):
        found += pod_limit_problems(request.obj or {}, at, shape)
        found += pod_security_problems(request.obj or {}, at, shape)
    return found


def _refused(request: Request, shape: ClusterShape, found: list[str]) -> Verdict:
    listed = "; ".join(found)
    return deny(f"{request.kind} {request.name!r} in namespace {request.namespace!r} is outside tier "
                f"{shape.tier!r}: {listed}")


def needs_usage(request: Request, shape: ClusterShape) -> bool:
    """Does ``validate`` need the namespace's clusters to decide (it may add clusters or workers)?"""
    if not _applies(request) or request.operation == "DELETE" or _unchanged(request):
        return False
    if request.resource == "daskjobs":
        return request.operation == "CREATE"
    if is_managed(request, shape):
        return False
    if request.operation == "UPDATE":  # only more workers can break userClusters on an update
        path = replicas_path(request.resource, request.subresource) or ()
        new, old = dig(request.obj, path), dig(request.old, path)
        return not (isinstance(new, int) and isinstance(old, int) and new <= old)
    return True


def validate(request: Request, shape: ClusterShape, trust: Trust, usage: Usage | None = None) -> Verdict:
    """Allow, or refuse naming the field, the tier, the limit and the fix."""
    if not _applies(request):
        return ALLOW
    refusal = protection(request, shape, trust)
    if refusal is not None:
        return refusal
    if request.operation == "DELETE" or trust.is_controller(request.caller) or _unchanged(request):
        return ALLOW
    found = problems(request, shape)
    if found:
        return _refused(request, shape, found)
    if usage is not None and needs_usage(request, shape):
        problem = usage_problem(request, shape, usage)
        if problem:
            return deny(problem)
    return ALLOW


def _user_cluster(request: Request, shape: ClusterShape, obj: dict[str, Any], platform: Platform | None,
                  delegates: frozenset[str]) -> tuple[dict[str, Any], Verdict | None]:
    """A created DaskCluster: a user cluster rendered from the tier, the creator as its owner (a
    delegate — the gateway, which checked the signed-in user's access — names the user it acts for)."""
    if request.resource != "daskclusters" or request.operation != "CREATE":
        return obj, None
    owner = request.caller.username or None
    if owner in delegates:
        owner = owner_of(obj) or owner
    try:
        return fill_user_cluster(obj, shape, owner, platform), None
    except RequestError as err:
        return obj, deny(f"DaskCluster {request.name!r} in namespace {request.namespace!r}: {err}", 422)


def mutate(request: Request, shape: ClusterShape, platform: Platform | None = None,
           delegates: frozenset[str] = frozenset()) -> Verdict:
    """Fill every container's missing requests and limits from the tier (creates, and updates that
    change the spec), render user clusters from it and record their owner (creates); ``patched``
    is the whole object when anything changed."""
    if not _applies(request) or request.operation == "DELETE" or request.subresource or _unchanged(request):
        return ALLOW
    obj, refused = _user_cluster(request, shape, copy.deepcopy(dict(request.obj or {})), platform, delegates)
    if refused is not None:
        return refused
    changed = [at.where for at in pod_specs(request.resource, obj) if fill_pod(obj, at, shape)]
    if not changed:
        return ALLOW if obj == dict(request.obj or {}) else Verdict(True, patched=obj)
    note = (f"dask-kubeflow filled missing resource requests/limits from tier {shape.tier!r} in "
            f"{', '.join(changed)}")
    return Verdict(True, patched=obj, warnings=(note,))


def is_dask_request(review: Mapping[str, Any]) -> bool:
    resource = (review.get("request", review).get("resource") or {})
    return resource.get("group") == "kubernetes.dask.org" and resource.get("resource") in DASK_RESOURCES
