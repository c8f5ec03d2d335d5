"""``connect()``: one call that gives a ``distributed.Client`` wherever the notebook runs.

Inside a Kubeflow notebook pod it connects to the namespace's ``dask-cluster`` (never creating or
deleting it). Anywhere else it starts an embedded local cluster shaped like the platform's default
tier, and says so in one line.

Importing this package does not import distributed: the controller and the gateway use its
Kubernetes reads (``cluster_api``) and error messages without paying for it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from ..policy import Policy, policy_from_env
from .errors import ConnectError, NoKubernetesError

if TYPE_CHECKING:
    from distributed import Client

    from .local import Layout

__all__ = ["connect", "ConnectError", "Layout", "LAYOUTS", "fit_layout"]


def __getattr__(name: str) -> Any:
    if name in ("LAYOUTS", "Layout", "fit_layout"):
        from . import local

        return getattr(local, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

logger = logging.getLogger("dask_kubeflow")


def connect(
    policy: Policy | str | os.PathLike[str] | None = None,
    *,
    local: bool | None = None,
    namespace: str | None = None,
    cluster_name: str | None = None,
    wait_for_workers: int = 0,
    timeout: float = 120.0,
    layout: Layout = "policy",
) -> Client:
    from .local import LAYOUTS, fit_layout, refuse_bootstrap_phase, start_local

    """Return a Client on this namespace's Dask cluster, or on an embedded one off Kubernetes.

    ``policy`` (a Policy, or a path; else ``$DASK_KUBEFLOW_POLICY``; else built-in defaults) shapes
    the embedded cluster. ``local=True`` forces the embedded cluster, ``local=False`` forbids it.
    ``layout`` applies to the embedded cluster only: on the platform the admin's tier decides.
    Every failure is a :class:`ConnectError` (``.problem``, ``.fix``); progress goes to stderr.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    if not local:
        from .environment import detect

        env = detect(namespace=namespace, cluster_name=cluster_name)
        if env.should_use_kubernetes():
            from .kubernetes import connect_kubernetes

            return connect_kubernetes(env, wait_for_workers=wait_for_workers, timeout=timeout)
        if local is False:
            raise NoKubernetesError(env.explain())
        reason = env.explain()
    else:
        reason = "local=True"
    refuse_bootstrap_phase()  # a worker process re-running a script without a __main__ guard
    shape = policy_from_env(policy).default_shape()
    fitted = fit_layout(shape, layout)
    print(f"dask-kubeflow: {reason}: starting an embedded local cluster, {fitted.describe()}", file=sys.stderr)
    return start_local(fitted, wait_for_workers=wait_for_workers)
