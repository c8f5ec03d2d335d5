"""``client.cluster`` after a direct connect: the namespace's cluster, without paying for ``from_name``.

``connect()`` dials the scheduler's Service address itself (see ``direct.py``), so no
``KubeCluster`` exists yet. This object answers what notebooks read at once (name, namespace,
scheduler address, dashboard link, an HTML repr) and builds the seed's
``KubeCluster.from_name(name, namespace=..., shutdown_on_close=False)`` the first time a user calls
one of its methods (``scale``, ``adapt``, ``get_logs``, ...). Closing it never deletes the cluster.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Generator
from typing import Any

from distributed.core import Status

__all__ = ["NamespaceCluster"]

# KubeCluster methods and attributes users call on client.cluster; anything else is not delegated
# (distributed's Client probes e.g. ``wait_for_workers`` with hasattr and must not build it).
DELEGATED = frozenset({
    "scale", "adapt", "get_logs", "logs", "get_client", "scheduler_info", "workers", "plan", "requested",
    "observed", "jobs", "scheduler_comm", "forwarded_dashboard_port",
})


class _Done:
    """An already finished awaitable, so ``await cluster.close()`` (Client.shutdown) works too."""

    def __await__(self) -> Generator[None, None, None]:
        return iter(())  # type: ignore[return-value]


class NamespaceCluster:
    """The namespace's existing Dask cluster as ``client.cluster`` (never creates, never deletes)."""

    def __init__(self, name: str, namespace: str, scheduler_address: str, dashboard_link: str,
                 kube: Any = None) -> None:
        self.name, self.namespace = name, namespace
        self.scheduler_address = scheduler_address
        self.dashboard_link = dashboard_link
        self.shutdown_on_close = False
        self.status = Status.running  # what distributed's Client reads (this handle, not the shared cluster)
        self._kube: Any = kube  # the slow path hands over the KubeCluster it already made
        self._lock = threading.Lock()

    @property
    def kube_cluster(self) -> Any:
        """The seed's ``KubeCluster.from_name(...)`` for this cluster, made on first use."""
        with self._lock:
            if self._kube is None:
                from dask_kubernetes.operator import KubeCluster

                self._kube = KubeCluster.from_name(self.name, namespace=self.namespace, shutdown_on_close=False,
                                                   quiet=True)
            return self._kube

    def __getattr__(self, attr: str) -> Any:
        if attr in DELEGATED:
            return getattr(self.kube_cluster, attr)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def close(self, *args: Any, **kwargs: Any) -> _Done:
        """Forget the KubeCluster handle, if one was made; the shared cluster keeps running."""
        with self._lock:
            kube, self._kube = self._kube, None
        self.status = Status.closed
        if kube is not None:
            kube.close()
        return _Done()

    def __repr__(self) -> str:
        return (f"NamespaceCluster({self.namespace}/{self.name}, scheduler={self.scheduler_address!r}, "
                f"dashboard={self.dashboard_link!r})")

    def _repr_html_(self) -> str:
        link = html.escape(self.dashboard_link)
        return (f"<div><strong>Dask cluster {html.escape(self.namespace)}/{html.escape(self.name)}</strong> "
                f"(dask-kubeflow)<br>Scheduler: <code>{html.escape(self.scheduler_address)}</code><br>"
                f'Dashboard: <a href="{link}" target="_blank">{link}</a></div>')
