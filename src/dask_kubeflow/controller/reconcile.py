"""One namespace's reconcile: resolve the policy, render, apply what differs, prune the rest.

``plan`` is pure (inputs from the indexes → desired objects and the status to report);
``reconcile`` does the I/O. Only objects carrying our managed-by label are ever updated or
deleted; an object of the same name made by someone else is reported and left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kr8s.asyncio import Api

from ..policy import NamespaceFacts, Policy, resolve
from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL
from ..kube.resources import RENDERED_KINDS
from ..render import render_namespace
from . import apply
from ..kube.resources import ObjectRef, ref_of
from .livestate import LiveState, differs, keep_live_replicas, with_hash
from .quota import quota_problem
from .settings import OPT_OUT_LABEL, STATUS_CONFIGMAP

__all__ = ["NamespaceInputs", "Plan", "Outcome", "plan", "reconcile"]

_PRUNABLE = {(k.api_version, k.kind) for k in RENDERED_KINDS}


@dataclass(frozen=True)
class NamespaceInputs:
    """Everything the watches know about one namespace."""

    name: str
    profile: Mapping[str, Any] | None  # {"name", "uid", "owner"} from the Profile; None: no Profile
    namespace: Mapping[str, Any] | None  # {"labels", "owner", "terminating"}; None: no Namespace (yet)
    contributors: tuple[str, ...] = ()
    quotas: tuple[Mapping[str, Any], ...] = ()  # {"name", "hard"} of the namespace's ResourceQuotas


@dataclass
class Plan:
    desired: list[dict[str, Any]]
    phase: str  # Ready | Disabled | OptedOut | Removed | Waiting
    tier: str = ""
    message: str = ""
    facts: NamespaceFacts | None = None
    problem: str = ""  # reported as an error; the objects are applied anyway (nothing is torn down)


@dataclass
class Outcome:
    plan: Plan
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    transient: bool = False  # retry with backoff

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.pruned)


def plan(inputs: NamespaceInputs, policy: Policy) -> Plan:
    """What the namespace should contain now. Pure: no I/O."""
    if inputs.profile is None:
        return Plan([], "Removed", message="no Profile for this namespace; managed objects are removed")
    if inputs.namespace is None:
        return Plan([], "Waiting", message="the Profile's namespace does not exist yet")
    labels = dict(inputs.namespace.get("labels") or {})
    facts = NamespaceFacts(
        name=inputs.name,
        labels=labels,
        owner=inputs.profile.get("owner") or inputs.namespace.get("owner"),
        contributors=inputs.contributors,
    )
    if labels.get(OPT_OUT_LABEL, "").lower() == "true":
        return Plan([], "OptedOut", facts=facts, message=(
            f"namespace label {OPT_OUT_LABEL}=true: no managed Dask cluster here; "
            f"remove the label to get it back"))
    shape = resolve(policy, facts)
    desired = render_namespace(facts, shape)
    if not desired:
        return Plan([], "Disabled", tier=shape.tier, facts=facts, message=(
            f"tier {shape.tier!r} has enabled: false in the policy; no managed Dask cluster here"))
    names = ", ".join(str(ref_of(o)) for o in desired)
    problem = quota_problem(shape, inputs.quotas, str(inputs.profile.get("name"))) or ""
    return Plan(desired, "Ready", tier=shape.tier, facts=facts, message=f"tier {shape.tier!r}: {names}",
                problem=problem)


def _ours(obj: Mapping[str, Any] | None) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


async def _apply_one(api: Api, state: LiveState, desired: dict[str, Any], live: dict[str, Any] | None,
                     outcome: Outcome) -> None:
    ref = ref_of(desired)
    body = with_hash(keep_live_replicas(desired, live))
    if not differs(body, live):
        return
    if live is None:
        try:
            state.wrote(await apply.create(api, body))
            outcome.created.append(str(ref))
            return
        except apply.AlreadyExists:
            live = await apply.get(api, ref)
            if live is not None and not _ours(live):
                outcome.errors.append(
                    f"{ref} already exists and was not made by dask-kubeflow (no label "
                    f"{MANAGED_BY_LABEL}={MANAGED_BY}); it is left alone. Delete or rename it to get the "
                    f"managed one")
                return
            body = with_hash(keep_live_replicas(desired, live))
            if not differs(body, live):
                return
    state.wrote(await apply.server_side_apply(api, body))
    outcome.updated.append(str(ref))


async def reconcile(api: Api, state: LiveState, inputs: NamespaceInputs, policy: Policy,
                    live: dict[ObjectRef, dict[str, Any]]) -> Outcome:
    """Make namespace ``inputs.name`` match the policy. Never raises for API errors: they are in
    ``Outcome.errors`` (and ``transient`` says whether to retry)."""
    try:
        result = plan(inputs, policy)
    except ValueError as err:  # render refused the namespace (e.g. an invalid name)
        return Outcome(Plan([], "Error", message=str(err)), errors=[str(err)])
    outcome = Outcome(result, errors=[result.problem] if result.problem else [])
    wanted: set[ObjectRef] = set()
    for desired in result.desired:
        ref = ref_of(desired)
        wanted.add(ref)
        try:
            await _apply_one(api, state, desired, live.get(ref), outcome)
        except apply.ApiWriteError as err:
            outcome.errors.append(str(err))
            outcome.transient = outcome.transient or err.transient
        except ValueError as err:  # a kind we do not manage
            outcome.errors.append(str(err))
    if result.phase == "Waiting":
        return outcome  # the namespace is not there: nothing to prune in it
    keep_status = inputs.profile is not None
    for ref, obj in sorted(live.items(), reverse=True):
        if ref in wanted or not _ours(obj):
            continue
        if ref.kind == "ConfigMap":
            if ref.name != STATUS_CONFIGMAP or keep_status:
                continue  # the status is rewritten, not pruned, while the Profile exists
        elif (ref.api_version, ref.kind) not in _PRUNABLE:
            continue
        try:
            await apply.delete(api, ref)
            state.deleted(ref, obj)
            if ref.kind != "ConfigMap":
                outcome.pruned.append(str(ref))
        except apply.ApiWriteError as err:
            outcome.errors.append(str(err))
            outcome.transient = outcome.transient or err.transient
    return outcome
