"""``dask-kubeflow cluster create | list | delete``: Dask clusters of one's own, within the tier.

They share the ``cluster`` group with ``cluster wake`` (lifecycle_cmd). The tier shapes them: the
controller's admission webhook renders each from it and refuses what is over it (``userClusters``,
worker sizes), and that refusal is printed as the webhook wrote it.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from ..client.errors import ConnectError
from ..kube.errors import KubeError
from .app import console
from .cluster_cmd import NamespaceOpt, _failed
from .lifecycle_cmd import cluster_app


def _run(action):  # type: ignore[no-untyped-def]
    try:
        return action()
    except ConnectError as err:
        raise _failed(err) from None
    except KubeError as err:
        raise _failed(ConnectError(str(err), "run `dask-kubeflow doctor` to see what is wrong")) from None


@cluster_app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="name of the new cluster (lowercase letters, digits, '-')"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="most workers it autoscales to"),
    worker_cpu: str | None = typer.Option(None, "--worker-cpu", help="CPU per worker, e.g. 1 or 500m"),
    worker_memory: str | None = typer.Option(None, "--worker-memory", help="memory per worker, e.g. 2Gi"),
    namespace: str | None = NamespaceOpt,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="wait until its scheduler is ready"),
    timeout: float = typer.Option(300.0, "--timeout", help="seconds to wait for the scheduler"),
) -> None:
    """Create a Dask cluster of your own, shaped by your namespace's tier (it autoscales from 0)."""
    from ..client.clusters import create_cluster

    info = _run(lambda: create_cluster(name, workers, worker_cpu, worker_memory, namespace=namespace,
                                       wait=wait, timeout=timeout))
    state = "ready" if wait else "created"
    console.print(f"Dask cluster {info.namespace}/{info.name} {state}; dashboard: {info.dashboard_path}",
                  highlight=False, soft_wrap=True)
    console.print("In a notebook:\n" + info.snippet, highlight=False, soft_wrap=True)


@cluster_app.command("list")
def list_cmd(
    namespace: str | None = NamespaceOpt,
    output: str = typer.Option("table", "--output", "-o", help="table or json"),
) -> None:
    """The namespace's Dask clusters: the shared one and its users' own."""
    from ..client.clusters import list_clusters

    infos = _run(lambda: list_clusters(namespace=namespace))
    if output == "json":
        rows = [{"name": i.name, "namespace": i.namespace, "kind": "platform" if i.managed else "user",
                 "owner": i.owner, "maxWorkers": i.max_workers, "dashboard": i.dashboard_path} for i in infos]
        console.print_json(json.dumps(rows))
        return
    table = Table("name", "kind", "owner", "max workers", "dashboard", box=None)
    for i in infos:
        table.add_row(i.name, "platform" if i.managed else "user", i.owner or "-",
                      "-" if i.max_workers is None else str(i.max_workers), i.dashboard_path)
    console.print(table)


@cluster_app.command("delete")
def delete_cmd(
    name: str = typer.Argument(..., help="the cluster to delete"),
    namespace: str | None = NamespaceOpt,
) -> None:
    """Delete a Dask cluster of your own (the namespace's shared cluster cannot be deleted)."""
    from ..client.clusters import delete_cluster

    _run(lambda: delete_cluster(name, namespace=namespace))
    console.print(f"Dask cluster {name} deleted", highlight=False)
