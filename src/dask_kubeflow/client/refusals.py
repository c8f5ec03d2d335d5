"""The tier's refusals in a namespace, from Events (pure).

The admission webhook posts a Warning Event (reason ``TIER_REFUSED_REASON``) for every write it
refuses, about the object it refused; ``status``, ``doctor`` and the clusters page list the
recent ones: which cluster, which limit (the message). Kubernetes keeps Events about an hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..kube.names import TIER_REFUSED_REASON

__all__ = ["refusal_lines", "refusals"]


def _when(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


def refusals(events: Sequence[Mapping[str, Any]], limit: int = 5) -> list[dict[str, str]]:
    """The most recent refusals, newest first: ``time``, ``kind``, ``object``, ``message``."""
    found = sorted((e for e in events if e.get("reason") == TIER_REFUSED_REASON), key=_when, reverse=True)
    return [{"time": _when(e), "object": str((e.get("involvedObject") or {}).get("name") or ""),
             "kind": str((e.get("involvedObject") or {}).get("kind") or ""), "message": str(e.get("message") or "")}
            for e in found[:limit]]


def refusal_lines(events: Sequence[Mapping[str, Any]], limit: int = 5) -> list[str]:
    """One line per recent refusal, for ``status`` and ``doctor``."""
    return [f"{r['time']} {r['kind']} {r['object']}: {r['message']}" for r in refusals(events, limit)]
