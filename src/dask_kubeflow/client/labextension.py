"""The namespace's Dask cluster in the JupyterLab Dask sidebar (dask-labextension's cluster factory).

dask-labextension's server extension lists only clusters it started itself, through the factory
named in dask config (``labextension.factory``), and starts ``labextension.initial`` ones when the
Jupyter server starts. The platform's PodDefault sets both by environment (see
``render/poddefault.py``): the factory is :class:`NamespaceCluster` below, which *attaches* to the
namespace's existing ``dask-cluster`` instead of starting one, so the sidebar lists it with its
workers, cores and memory from the first page load, with no user action. Closing it in the sidebar
only forgets it: the shared cluster keeps running.

The sidebar's panes load the dashboard through the notebook server's own jupyter-server-proxy
(``<NB_PREFIX>/proxy/<scheduler>:8787/dask/<ns>/<cluster>/``: behind the same Kubeflow login as the
notebook, and inside the namespace the NetworkPolicy admits): dask-labextension uses a cluster's
link as is only when it is such a proxy path, and its server-side check cannot pass the Kubeflow
login in front of the gateway. The notebook image allows those hosts with
``c.ServerProxy.host_allowlist = proxy_host_allowed`` (see notebook.Dockerfile); ``client.dashboard_link``
stays the gateway's link, for the browser.

(Clusters a user makes in code are not listed: the extension's manager has no hook to discover
them. They show in the gateway's "Dask clusters" page.)
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster

from ..kube.names import (
    DASHBOARD_PORT,
    ENV_CLUSTER,
    ENV_DASHBOARD_LINK,
    ENV_NAMESPACE,
    ENV_SCHEDULER_ADDRESS,
    gateway_prefix,
    scheduler_address,
)

__all__ = ["NamespaceCluster", "proxy_host_allowed"]


def proxy_host_allowed(handler: Any, host: str) -> bool:
    """jupyter-server-proxy's ``host_allowlist``: this machine, and the scheduler Services of the
    notebook's own namespace (``<cluster>-scheduler.<ns>[.svc...]``), nothing else."""
    namespace = os.environ.get(ENV_NAMESPACE, "")
    name, _, rest = host.partition(".")
    return host in ("localhost", "127.0.0.1") or bool(
        namespace and name.endswith("-scheduler") and (rest == namespace or rest.startswith(f"{namespace}.svc")))


class _Adapting:
    """What the extension's manager keeps for an adaptive cluster: the bounds it shows."""

    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum

    def stop(self) -> None:
        """The DaskAutoscaler keeps working in the cluster; nothing runs here to stop."""


class NamespaceCluster(Cluster):
    """The existing Dask cluster ``name`` of ``namespace`` (defaults: the PodDefault's), attached to.

    ``scale`` and ``adapt`` act through the seed's ``KubeCluster.from_name(..., shutdown_on_close=False)``,
    made on first use; closing never deletes anything.
    """

    def __init__(self, name: str | None = None, namespace: str | None = None, *, address: str | None = None,
                 asynchronous: bool = False, loop: Any = None, **kwargs: Any) -> None:
        self.cluster_name = name or os.environ.get(ENV_CLUSTER) or "dask-cluster"
        self.namespace = namespace or os.environ.get(ENV_NAMESPACE) or ""
        if not self.namespace:
            raise ValueError(f"no namespace for Dask cluster {self.cluster_name!r}: pass namespace= or set "
                             f"{ENV_NAMESPACE} (the platform's PodDefault sets it in notebooks)")
        own = self.cluster_name == os.environ.get(ENV_CLUSTER, self.cluster_name)
        self._address = address or (own and os.environ.get(ENV_SCHEDULER_ADDRESS)) or scheduler_address(
            self.namespace, self.cluster_name)
        self._kube: Any = None
        super().__init__(asynchronous=asynchronous, loop=loop, name=f"{self.namespace}/{self.cluster_name}",
                         quiet=True)
        self.scheduler_comm = rpc(self._address)
        if not self.called_from_running_loop:
            self._loop_runner.start()
            self.sync(self._start)

    def __await__(self) -> Any:
        async def start() -> NamespaceCluster:
            if self.status == Status.created:
                await self._start()
            return self
        return start().__await__()

    @property
    def dashboard_link(self) -> str:
        """Inside a notebook, the notebook server's proxy path to the dashboard (see the module
        docstring); elsewhere the gateway's link."""
        prefix = gateway_prefix(self.namespace, self.cluster_name)
        notebook = os.environ.get("NB_PREFIX", "").rstrip("/")
        if notebook:
            host = self._address.split("://", 1)[-1].rsplit(":", 1)[0]
            port = (self.scheduler_info.get("services") or {}).get("dashboard", DASHBOARD_PORT)
            return f"{notebook}/proxy/{host}:{port}{prefix}/status"
        configured = os.environ.get(ENV_DASHBOARD_LINK)
        if configured and self.cluster_name == os.environ.get(ENV_CLUSTER, self.cluster_name):
            return configured
        return f"{prefix}/status"

    async def _kube_cluster(self) -> Any:
        if self._kube is None:
            from dask_kubernetes.operator import KubeCluster

            self._kube = await KubeCluster.from_name(self.cluster_name, namespace=self.namespace,
                                                     shutdown_on_close=False, asynchronous=True, quiet=True)
        return self._kube

    def scale(self, n: int) -> Any:  # awaited by the extension's manager
        async def scale() -> None:
            result = (await self._kube_cluster()).scale(n)
            if asyncio.iscoroutine(result):
                await result
        return self.sync(scale)

    def adapt(self, minimum: int = 0, maximum: int = 1, **kwargs: Any) -> _Adapting:
        async def adapt() -> None:
            result = (await self._kube_cluster()).adapt(minimum=minimum, maximum=maximum)
            if asyncio.iscoroutine(result):
                await result
        if self.asynchronous:
            asyncio.ensure_future(adapt())  # the manager calls adapt() without awaiting it
        else:
            self.sync(adapt)
        return _Adapting(minimum, maximum)

    async def _close(self) -> None:
        kube, self._kube = self._kube, None
        if kube is not None:
            await kube.close()
        await super()._close()
