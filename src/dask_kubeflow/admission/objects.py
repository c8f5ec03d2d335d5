"""Where the pod specs and worker counts live in each Dask kind (pure).

The upstream CRDs (kubernetes.dask.org/v1) nest pod specs at different depths; every check walks
the same list of places, so a new kind or path is added here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PodSpecAt", "dig", "dotted", "pod_specs", "replicas_path", "DASK_RESOURCES"]

DASK_RESOURCES = ("daskclusters", "daskworkergroups", "daskautoscalers", "daskjobs")

_PODS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "daskclusters": ((("spec", "scheduler", "spec"), "scheduler"), (("spec", "worker", "spec"), "worker")),
    "daskworkergroups": ((("spec", "worker", "spec"), "worker"),),
    "daskjobs": ((("spec", "job", "spec"), "job"),
                 (("spec", "cluster", "spec", "scheduler", "spec"), "scheduler"),
                 (("spec", "cluster", "spec", "worker", "spec"), "worker")),
}
_REPLICAS: dict[str, tuple[str, ...]] = {
    "daskclusters": ("spec", "worker", "replicas"),
    "daskworkergroups": ("spec", "worker", "replicas"),
    "daskjobs": ("spec", "cluster", "spec", "worker", "replicas"),
    "daskautoscalers": ("spec", "maximum"),
}


@dataclass(frozen=True)
class PodSpecAt:
    path: tuple[str, ...]
    role: str  # scheduler | worker | job (the job runner pod is held to worker limits)

    @property
    def where(self) -> str:
        return dotted(self.path)


def dig(obj: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def pod_specs(resource: str, obj: Mapping[str, Any] | None) -> list[PodSpecAt]:
    """The pod specs present in ``obj`` (a kind without pods, or a Scale, has none)."""
    return [PodSpecAt(path, role) for path, role in _PODS.get(resource, ())
            if isinstance(dig(obj, path), Mapping)]


def replicas_path(resource: str, subresource: str = "") -> tuple[str, ...] | None:
    """Where the worker count is: a Scale's spec.replicas, else the kind's own field."""
    if subresource == "scale":
        return ("spec", "replicas")
    return _REPLICAS.get(resource)
