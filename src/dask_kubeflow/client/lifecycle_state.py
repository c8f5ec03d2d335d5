"""Is the namespace's cluster hibernated? What ``status`` and ``doctor`` say about it (pure).

Two witnesses (docs/hibernation.md): the DaskCluster's ``dask.kubeflow.org/hibernated`` annotation
(set with the scheduler Deployment scaled to zero, removed on wake: ``kube.wake``) and the controller's
status record (``lifecycle`` Hibernated | Waking | Awake, ``lifecycleMessage``, ``lifecycleSince``). The
annotation is what the controller acts on, so it decides; the record adds the reason and "waking".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..kube.names import HIBERNATED_ANNOTATION

__all__ = ["Hibernation", "hibernation", "HIBERNATED", "WAKING", "WAKE_DOORS"]

HIBERNATED, WAKING = "Hibernated", "Waking"
WAKE_DOORS = ("connect() (or the seed's KubeCluster.from_name after a notebook starts), "
              "`dask-kubeflow cluster wake`, or opening its dashboard URL")


@dataclass(frozen=True)
class Hibernation:
    state: str  # Hibernated | Waking
    since: str  # RFC 3339, or "" when not known
    reason: str  # the controller's words, or ""

    @property
    def asleep(self) -> bool:
        return self.state == HIBERNATED

    @property
    def detail(self) -> str:
        since = f" since {self.since}" if self.since else ""
        why = f" ({self.reason})" if self.reason else ""
        if self.asleep:
            return (f"hibernated{since}{why}: the controller stopped its idle scheduler to give back its CPU and "
                    f"memory; the cluster, its settings and its dashboard URL stay. {WAKE_DOORS} starts it "
                    f"again (about as long as a scheduler takes to start)")
        return f"waking{since}{why}: its scheduler is starting again; connect() waits for it"

    @property
    def phase(self) -> str:
        """What ``status`` shows as the phase while there is no ready scheduler."""
        if self.asleep:
            return (f"Hibernated{' since ' + self.since if self.since else ''}: no scheduler while idle; "
                    f"{WAKE_DOORS} wakes it")
        return "Waking: the scheduler is starting again"


def _annotations(cluster: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return ((cluster or {}).get("metadata") or {}).get("annotations") or {}


def hibernation(cluster: Mapping[str, Any] | None, record: Mapping[str, Any] | None) -> Hibernation | None:
    """The cluster's hibernation state; None when it is awake (or was never hibernated)."""
    record = record or {}
    lifecycle, reason = str(record.get("lifecycle") or ""), str(record.get("lifecycleMessage") or "")
    since = str(record.get("lifecycleSince") or "")
    marked = _annotations(cluster).get(HIBERNATED_ANNOTATION)
    if marked is not None:
        return Hibernation(HIBERNATED, str(marked or since), reason if lifecycle == HIBERNATED else "")
    if lifecycle in (HIBERNATED, WAKING):  # the annotation is gone: the wake is under way
        return Hibernation(WAKING, since if lifecycle == WAKING else "", reason if lifecycle == WAKING else "")
    return None
