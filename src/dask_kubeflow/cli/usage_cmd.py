"""``dask-kubeflow usage``: what a namespace's Dask pods used this month, and its budget.

Reads the controller's usage record, ConfigMap ``dask-kubeflow-usage`` (users may read ConfigMaps in
their own namespace; an admin sees every namespace). Figures are requests × time Running.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from ..kube.errors import API_ERRORS, from_exception
from ..kube.names import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, USAGE_CONFIGMAP
from ..kube.usage_record import budget_entry, usage_rows
from .app import app, console, fail

__all__ = ["usage_rows"]


async def _records(namespace: str | None) -> list[dict[str, Any]]:
    import kr8s

    from ..kube.api import get_api
    from ..kube.resources import ConfigMap

    api = await get_api()
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}=usage"
    found = [o.raw async for o in ConfigMap.list(api=api, namespace=namespace or kr8s.ALL, label_selector=selector)]
    return [o for o in found if o["metadata"]["name"] == USAGE_CONFIGMAP]


@app.command("usage")
def usage_cmd(
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="one namespace (default: every one you may read)"),
    since: str | None = typer.Option(None, "--since", help="period, YYYY-MM (the controller keeps the current month)"),
    output: str = typer.Option("table", "--output", "-o", help="table or json"),
) -> None:
    """Core-hours and memory GiB-hours used by Dask pods this month, per namespace and cluster, and the budget."""
    from ..kube.sync import run

    if output not in ("table", "json"):
        raise fail(f"--output {output!r} is not known; use table or json")
    try:
        records = run(_records(namespace), 60)
    except API_ERRORS as err:
        raise fail(f"cannot read usage records: {from_exception(err, verb='list', resource='configmaps', namespace=namespace)}. "
                   f"Users may read them in their own namespaces: pass --namespace") from None
    rows, budgets = [], []
    for record in records:
        data, ns = record.get("data") or {}, record["metadata"]["namespace"]
        if since and data.get("period") != since:
            continue
        rows += usage_rows(ns, data)
        budgets.append(budget_entry(ns, data))
    if since and not rows and not budgets:
        raise fail(f"no usage recorded for {since}: the controller keeps the current month only (export its "
                   f"Prometheus counters dask_kubeflow_usage_* for history)")
    if output == "json":
        console.print_json(json.dumps({"usage": rows, "budgets": budgets}))
        return
    table = Table("namespace", "period", "cluster", "component", "core-hours", "memory GiB-hours")
    for row in rows:
        table.add_row(row["namespace"], row["period"], row["cluster"], row["component"], f"{row['coreHours']:.3f}",
                      f"{row['memoryGiBSeconds'] / 3600:.3f}")
    console.print(table)
    for budget in budgets:
        if line := budget.get("line") or budget["message"]:
            console.print(f"{budget['namespace']}: {line}", highlight=False, soft_wrap=True)
