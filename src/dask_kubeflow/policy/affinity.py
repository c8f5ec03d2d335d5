"""``pod.affinity``: node affinity, pod affinity and pod anti-affinity of the Dask pods (pure).

The same structure as Kubernetes' ``core/v1 Affinity``, checked by shape here so a typo is a policy
problem naming the field, not a DaskCluster the API server (or the operator, later) refuses. Render
copies it unchanged onto the scheduler and worker pods.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..kube.names import is_dns_label, is_label_key, is_label_value
from .base import Model

__all__ = ["Affinity", "LabelSelector", "NodeAffinity", "NodeSelectorTerm", "PodAffinity", "PodAffinityTerm"]

_REQUIRED = "required_during_scheduling_ignored_during_execution"
_PREFERRED = "preferred_during_scheduling_ignored_during_execution"


def _check_values(operator: str, values: tuple[str, ...]) -> None:
    if operator in ("In", "NotIn") and not values:
        raise ValueError(f"operator {operator} needs at least one entry in values")
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError(f"operator {operator} takes no values; remove values (or use In/NotIn)")
    if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
        raise ValueError(f"operator {operator} needs exactly one integer in values, e.g. values: [\"4\"]")


def _check_key(key: str) -> str:
    if not is_label_key(key):
        raise ValueError(f"{key!r} is not a valid label key (e.g. topology.kubernetes.io/zone)")
    return key


class NodeSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values(self) -> NodeSelectorRequirement:
        _check_values(self.operator, self.values)
        return self


class NodeSelectorTerm(Model):
    match_expressions: tuple[NodeSelectorRequirement, ...] = ()
    match_fields: tuple[NodeSelectorRequirement, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> NodeSelectorTerm:
        if not (self.match_expressions or self.match_fields):
            raise ValueError("an empty term matches no node; give matchExpressions or matchFields")
        return self


class NodeSelector(Model):
    node_selector_terms: tuple[NodeSelectorTerm, ...]

    @model_validator(mode="after")
    def _some_term(self) -> NodeSelector:
        if not self.node_selector_terms:
            raise ValueError("nodeSelectorTerms is empty, which no node matches; give at least one term")
        return self


class PreferredSchedulingTerm(Model):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: tuple[PreferredSchedulingTerm, ...] = ()


class LabelSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    _key = field_validator("key")(lambda cls, v: _check_key(v))

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        _check_values(self.operator, self.values)
        return self


class LabelSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not is_label_key(key) or not is_label_value(str(val)):
                raise ValueError(f"{key}={val!r} is not a valid Kubernetes label")
        return value


class PodAffinityTerm(Model):
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    topology_key: str
    match_label_keys: tuple[str, ...] = ()
    mismatch_label_keys: tuple[str, ...] = ()

    _topology = field_validator("topology_key")(lambda cls, v: _check_key(v))

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in value if not is_dns_label(n)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a namespace name (lowercase letters, digits and '-')")
        return value


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(Model):
    """Used for both podAffinity and podAntiAffinity (Kubernetes gives them the same shape)."""

    required_during_scheduling_ignored_during_execution: tuple[PodAffinityTerm, ...] = ()
    preferred_during_scheduling_ignored_during_execution: tuple[WeightedPodAffinityTerm, ...] = ()


class Affinity(Model):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None

    def to_kubernetes(self) -> dict[str, object]:
        """The ``spec.affinity`` of a pod: camelCase, empty parts left out."""
        return self.model_dump(by_alias=True, exclude_defaults=True, mode="json")
