"""What a namespace resolves to: its facts, the resolved ``ClusterShape``, the whole ``Policy`` and
``resolve`` (pure). The settings themselves are the pydantic models of ``model``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..quantity import to_bytes, to_cores
from .model import DEFAULT_TIER, ShapeSettings, Tier

__all__ = ["ClusterShape", "NamespaceFacts", "Policy", "resolve"]


@dataclass(frozen=True)
class NamespaceFacts:
    """What the policy may look at to pick a tier: the facts of one profile namespace."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    contributors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterShape:
    """The resolved settings of one namespace's Dask cluster: what render and connect() read."""

    tier: str
    settings: ShapeSettings

    @property
    def worker_memory_bytes(self) -> int:
        """Memory of one worker pod, split between its processes by --memory-limit."""
        memory = self.settings.worker.resources.memory
        assert memory is not None  # validated
        return to_bytes(memory)

    @property
    def worker_memory_limit_per_process(self) -> int:
        return self.worker_memory_bytes // self.settings.worker.processes

    @property
    def worker_cores(self) -> float:
        cpu = self.settings.worker.resources.cpu
        return to_cores(cpu) if cpu else float(self.settings.worker.threads * self.settings.worker.processes)


@dataclass(frozen=True)
class Policy:
    defaults: ShapeSettings
    tiers: tuple[Tier, ...]
    source: str = "<built-in>"

    @classmethod
    def builtin(cls) -> Policy:
        return cls(defaults=ShapeSettings(), tiers=())

    def default_shape(self) -> ClusterShape:
        return ClusterShape(tier=DEFAULT_TIER, settings=self.defaults)

    def shapes(self) -> list[ClusterShape]:
        """The default shape then every tier's resolved shape, in matching order."""
        return [self.default_shape(), *(ClusterShape(t.name, t.settings) for t in self.tiers)]


def resolve(policy: Policy, namespace: NamespaceFacts) -> ClusterShape:
    """The shape of ``namespace``'s cluster: the first tier that matches, else the defaults."""
    for tier in policy.tiers:
        if tier.match.matches(namespace):
            return ClusterShape(tier=tier.name, settings=tier.settings)
    return policy.default_shape()
