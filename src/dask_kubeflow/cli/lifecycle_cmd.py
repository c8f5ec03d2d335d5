"""``dask-kubeflow cluster wake``: start a hibernated cluster's scheduler again (docs/hibernation.md)."""

from __future__ import annotations

import time

import typer

from ..client.diagnose import pod_is_ready
from ..client.errors import ConnectError
from ..kube.errors import KubeError
from .app import app, console, fail
from .cluster_cmd import ClusterOpt, NamespaceOpt, _api_failed, _kubernetes_env

cluster_app = typer.Typer(help="The namespace's Dask cluster: wake it from hibernation.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("wake")
def wake_cmd(
    namespace: str | None = NamespaceOpt,
    cluster: str | None = ClusterOpt,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="wait until the scheduler is ready"),
    timeout: float = typer.Option(120.0, "--timeout", help="seconds to wait for the scheduler"),
) -> None:
    """Ask the controller to start a hibernated cluster (needs the right to patch DaskClusters here)."""
    from ..client.cluster_api import call, get_cluster, scheduler_pods
    from ..client.wake import is_hibernated, request_wake

    env = _kubernetes_env(namespace, cluster)
    name, ns = env.cluster_name, env.namespace
    if ns is None:
        raise fail("no namespace: pass --namespace (or run inside a Kubeflow notebook)")
    started = time.monotonic()
    try:
        found = call(get_cluster(name, ns))
        if not is_hibernated(found) and any(pod_is_ready(p) for p in call(scheduler_pods(name, ns))):
            console.print(f"Dask cluster {ns}/{name} is awake: its scheduler is ready.")
            return
        request_wake(name, ns)
        console.print(f"asked the controller to wake Dask cluster {ns}/{name}")
        if not wait:
            return
        while not any(pod_is_ready(p) for p in call(scheduler_pods(name, ns))):
            if time.monotonic() - started > timeout:
                raise fail(f"the scheduler of {ns}/{name} is not ready after {timeout:.0f} s; run "
                           f"`dask-kubeflow status -n {ns}` to see why (the dask-kubeflow controller wakes it)")
            time.sleep(0.5)
    except (KubeError, ConnectError) as err:
        raise _api_failed(err, env) from None
    console.print(f"Dask cluster {ns}/{name} is awake (scheduler ready after {time.monotonic() - started:.1f} s)")
