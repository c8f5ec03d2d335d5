"""One namespace's reconcile: resolve the policy, render, apply what differs, prune the rest.

``plan`` is pure (the typed facts the informer keeps → desired objects and the status to report);
``reconcile`` does the I/O and returns the ``Changes`` it made, or raises ``TemporaryError`` /
``PermanentError`` (``results``). Only objects carrying our managed-by label are ever updated or
deleted; an object of the same name made by someone else is reported and left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kr8s.asyncio import Api

from ..admission import Exceedance, Usage, exceedances
from ..kube.errors import KubeError
from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL, OPT_OUT_LABEL, STATUS_CONFIGMAP
from ..kube.resources import RENDERED_KINDS, ObjectRef, ref_of
from ..policy import NamespaceFacts, Policy, resolve
from ..render import Platform, render_namespace
from . import apply
from .livestate import LiveState, differs, keep_live_replicas, with_hash
from .quota import quota_problem
from .usage import clamp_workers
from .results import Changes, PermanentError, TemporaryError
from .facts import NamespaceMeta, ProfileFacts, Quota

__all__ = ["NamespaceInputs", "Plan", "plan", "safe_plan", "reconcile"]

_PRUNABLE = {(k.api_version, k.kind) for k in RENDERED_KINDS}


@dataclass(frozen=True)
class NamespaceInputs:
    """Everything the informer knows about one namespace."""

    name: str
    profile: ProfileFacts | None  # None: no Profile
    namespace: NamespaceMeta | None  # None: no Namespace (yet)
    contributors: tuple[str, ...] = ()
    quotas: tuple[Quota, ...] = ()
    max_workers: int | None = None  # the autoscaler maximum while the budget is spent (usage.py)
    dask: Usage | None = None  # the namespace's Dask objects as the webhook counts them (users' too)


@dataclass(frozen=True)
class Plan:
    desired: list[dict[str, Any]]
    phase: str  # Ready | Disabled | OptedOut | Removed | Waiting | Error
    tier: str = ""
    message: str = ""
    facts: NamespaceFacts | None = None
    problem: str = ""  # reported as an error; the objects are applied anyway (nothing is torn down)
    exceeded: tuple[Exceedance, ...] = ()  # user clusters above the tier (a lowered policy)


def plan(inputs: NamespaceInputs, policy: Policy, platform: Platform | None = None) -> Plan:
    """What the namespace should contain now. Pure: no I/O."""
    if inputs.profile is None:
        return Plan([], "Removed", message="no Profile for this namespace; managed objects are removed")
    if inputs.namespace is None:
        return Plan([], "Waiting", message="the Profile's namespace does not exist yet")
    labels = dict(inputs.namespace.labels)
    facts = NamespaceFacts(
        name=inputs.name,
        labels=labels,
        owner=inputs.profile.owner or inputs.namespace.owner,
        contributors=inputs.contributors,
    )
    if labels.get(OPT_OUT_LABEL, "").lower() == "true":
        return Plan([], "OptedOut", facts=facts, message=(
            f"namespace label {OPT_OUT_LABEL}=true: no managed Dask cluster here; "
            f"remove the label to get it back"))
    tier = resolve(policy, facts)
    shape = clamp_workers(tier, inputs.max_workers)
    desired = render_namespace(facts, shape, platform)  # platform: where the install runs (settings)
    if not desired:
        return Plan([], "Disabled", tier=shape.tier, facts=facts, message=(
            f"tier {shape.tier!r} has enabled: false in the policy; no managed Dask cluster here"))
    names = ", ".join(str(ref_of(o)) for o in desired)
    problem = quota_problem(shape, inputs.quotas, inputs.profile.name) or ""
    exceeded = exceedances(tier, inputs.dask) if inputs.dask is not None else ()  # the tier's limits, unclamped
    return Plan(desired, "Ready", tier=shape.tier, facts=facts, message=f"tier {shape.tier!r}: {names}",
                problem=problem, exceeded=exceeded)


def safe_plan(inputs: NamespaceInputs, policy: Policy, platform: Platform | None = None) -> Plan:
    """``plan``, with a namespace render refuses (an invalid name) as an ``Error`` plan."""
    try:
        return plan(inputs, policy, platform)
    except ValueError as err:
        return Plan([], "Error", message=str(err), problem=str(err))


def _ours(obj: Mapping[str, Any] | None) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


@dataclass
class _Progress:
    """What one reconcile did so far and what went wrong (internal: reconcile returns ``Changes``)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    transient: bool = False

    def failed(self, err: KubeError | ValueError) -> None:
        self.errors.append(str(err))
        self.transient = self.transient or (isinstance(err, KubeError) and err.transient)

    def result(self) -> Changes:
        changes = Changes(tuple(self.created), tuple(self.updated), tuple(self.pruned))
        if self.errors:
            error = TemporaryError if self.transient else PermanentError
            raise error("; ".join(self.errors), changes)
        return changes


async def _apply_one(api: Api, state: LiveState, desired: dict[str, Any], live: dict[str, Any] | None,
                     progress: _Progress) -> None:
    ref = ref_of(desired)
    body = with_hash(keep_live_replicas(desired, live))
    if not differs(body, live):
        return
    if live is None:
        try:
            state.wrote(await apply.create(api, body))
            progress.created.append(str(ref))
            return
        except apply.AlreadyExists:
            live = await apply.get(api, ref)
            if live is not None and not _ours(live):
                progress.errors.append(
                    f"{ref} already exists and was not made by dask-kubeflow (no label "
                    f"{MANAGED_BY_LABEL}={MANAGED_BY}); it is left alone. Delete or rename it to get the "
                    f"managed one")
                return
            body = with_hash(keep_live_replicas(desired, live))
            if not differs(body, live):
                return
    state.wrote(await apply.server_side_apply(api, body))
    progress.updated.append(str(ref))


def _prunable(ref: ObjectRef, obj: Mapping[str, Any], wanted: set[ObjectRef], keep_status: bool) -> bool:
    if ref in wanted or not _ours(obj):
        return False
    if ref.kind == "ConfigMap":  # the status is rewritten, not pruned, while the Profile exists
        return ref.name == STATUS_CONFIGMAP and not keep_status
    return (ref.api_version, ref.kind) in _PRUNABLE


async def reconcile(api: Api, state: LiveState, inputs: NamespaceInputs, wanted: Plan,
                    live: dict[ObjectRef, dict[str, Any]]) -> Changes:
    """Make namespace ``inputs.name`` match ``wanted`` (its ``plan``): apply what differs, prune
    the rest. Returns the changes; raises TemporaryError / PermanentError (carrying the changes
    made anyway) when an object could not be written or the plan has a problem."""
    progress = _Progress()
    if wanted.phase == "Error":
        raise PermanentError(wanted.problem or wanted.message)
    if wanted.problem:
        progress.errors.append(wanted.problem)
    refs: set[ObjectRef] = set()
    for desired in wanted.desired:
        ref = ref_of(desired)
        refs.add(ref)
        try:
            await _apply_one(api, state, desired, live.get(ref), progress)
        except (KubeError, ValueError) as err:  # ValueError: a kind we do not manage
            progress.failed(err)
    if wanted.phase == "Waiting":
        return progress.result()  # the namespace is not there: nothing to prune in it
    keep_status = inputs.profile is not None
    for ref, obj in sorted(live.items(), reverse=True):
        if not _prunable(ref, obj, refs, keep_status):
            continue
        try:
            await apply.delete(api, ref)
            state.deleted(ref, obj)
            if ref.kind != "ConfigMap":
                progress.pruned.append(str(ref))
        except KubeError as err:
            progress.failed(err)
    return progress.result()
