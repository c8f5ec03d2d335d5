"""dask-kubeflow: a ready Dask cluster in every Kubeflow namespace.

``dask_kubeflow.connect()`` returns a ``distributed.Client`` on the namespace's ``dask-cluster``
inside Kubeflow, and on an embedded local cluster of the same shape anywhere else.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dask-kubeflow")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

from .client import connect  # noqa: E402

__all__ = ["connect", "__version__"]
