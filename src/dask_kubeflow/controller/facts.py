"""The typed facts the informer keeps of Profiles, Namespaces and ResourceQuotas (pure).

Frozen from the watch event to ``reconcile.plan``, which turns them into the ``policy.NamespaceFacts``
render takes: no untyped dicts in between, and slots keep thousands of them small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProfileFacts", "NamespaceMeta", "Quota", "profile_facts"]


@dataclass(frozen=True, slots=True)
class ProfileFacts:
    """What the reconcile needs of a Profile: its name (= its namespace), uid (for Events), owner."""

    name: str
    uid: str = ""
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class NamespaceMeta:
    """What the reconcile needs of a Namespace: labels (tier, opt-out), owner annotation, deletion."""

    labels: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    terminating: bool = False


@dataclass(frozen=True, slots=True)
class Quota:
    """A ResourceQuota's name and ``spec.hard`` (``quota`` checks the tier fits)."""

    name: str
    hard: dict[str, str] = field(default_factory=dict)


def profile_facts(body: Any) -> ProfileFacts:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    return ProfileFacts(name=str(meta.get("name") or ""), uid=str(meta.get("uid") or ""),
                        owner=(spec.get("owner") or {}).get("name"))
