"""Waking a hibernated cluster from the user's side: connect(), ``dask-kubeflow cluster wake``.

A hibernated managed cluster keeps its DaskCluster (annotated ``dask.kubeflow.org/hibernated``) with
its scheduler Deployment at zero. Anyone who may patch DaskClusters in the namespace (kubeflow-edit)
asks the controller to start it again with an annotation-only patch of
``dask.kubeflow.org/wake-requested``; the admission webhook lets such a patch through (the spec is
unchanged) and RBAC keeps it inside the caller's own namespaces.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..kube import wake
from ..kube.errors import KubeError
from ..kube.sync import run
from ..kube.api import get_api
from .errors import PermissionDeniedError

__all__ = ["is_hibernated", "request_wake", "request_wake_async", "Waker"]


def is_hibernated(cluster: dict[str, Any] | None) -> bool:
    return wake.is_hibernated(cluster)


async def request_wake_async(name: str, namespace: str) -> None:
    """Annotate the DaskCluster wake-requested (raises PermissionDeniedError/KubeError saying why not)."""
    try:
        await wake.request_wake(await get_api(), name, namespace)
    except KubeError as problem:
        raise (PermissionDeniedError.from_kube(problem) if problem.forbidden() else problem) from None


def request_wake(name: str, namespace: str, timeout: float = 30.0) -> None:
    run(request_wake_async(name, namespace), timeout)


@dataclass
class Waker:
    """connect()'s side of a wake: ask once, say so on stderr, and report how long it took."""

    name: str
    namespace: str
    asked_at: float | None = None
    notes: list[str] = field(default_factory=list)

    def nudge(self, cluster: dict[str, Any] | None) -> bool:
        """Ask for a wake if ``cluster`` is hibernated and we have not asked yet; True once asked."""
        if self.asked_at is None and is_hibernated(cluster):
            request_wake(self.name, self.namespace)
            self.asked_at = time.monotonic()
            print(f"dask-kubeflow: Dask cluster {self.namespace}/{self.name} is hibernated (idle); waking it: "
                  f"waiting for its scheduler pod to start", file=sys.stderr)
        return self.asked_at is not None

    def waiting_for(self, phase: str) -> str:
        return f"waking the hibernated cluster: {phase}" if self.asked_at is not None else phase

    def report(self) -> None:
        if self.asked_at is not None:
            print(f"dask-kubeflow: Dask cluster {self.namespace}/{self.name} woke up in "
                  f"{time.monotonic() - self.asked_at:.1f} s", file=sys.stderr)
