"""dask-kubeflow: a ready Dask cluster in every Kubeflow namespace.

``dask_kubeflow.connect()`` returns a ``distributed.Client`` on the namespace's ``dask-cluster``
inside Kubeflow, and on an embedded local cluster of the same shape anywhere else.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("dask-kubeflow")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["connect", "advise", "create_cluster", "delete_cluster", "list_clusters", "__version__"]


def __getattr__(name: str) -> Any:
    # connect() needs distributed (and numpy); the controller and gateway import this package
    # without it, which keeps their memory down.
    if name == "connect":
        from .client import connect

        return connect
    if name in ("create_cluster", "delete_cluster", "list_clusters"):
        from .client import clusters

        return getattr(clusters, name)
    if name == "advise":
        from .advisor import advise

        return advise
    raise AttributeError(f"module 'dask_kubeflow' has no attribute {name!r}")
