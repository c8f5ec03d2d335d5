"""``dask-kubeflow policy check FILE``: validate a policy and show what each tier resolves to."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..policy import ClusterShape, Policy, PolicyError, Resources, load_policy
from .app import app, console, err_console

policy_app = typer.Typer(help="Check the platform policy file.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _resources(res: Resources) -> str:
    return f"{res.requests.cpu or '-'}/{res.limits.cpu or '-'} cpu\n{res.requests.memory or '-'}/{res.limits.memory or '-'} mem"


def _match(shape: ClusterShape, policy: Policy) -> str:
    tier = next((t for t in policy.tiers if t.name == shape.tier), None)
    if tier is None:
        return "every other namespace"
    parts = []
    if tier.match.namespaces:
        parts.append("ns " + " | ".join(tier.match.namespaces))
    if tier.match.labels:
        parts.append("labels " + ",".join(f"{k}={v}" for k, v in tier.match.labels.items()))
    if tier.match.owners:
        parts.append("owner " + " | ".join(tier.match.owners))
    return "\n".join(parts)


@policy_app.command("check")
def check(file: Path = typer.Argument(..., help="policy YAML file")) -> None:
    """Validate FILE; print the resolved tiers in matching order, or every problem (exit 1)."""
    try:
        policy = load_policy(file)
    except PolicyError as err:
        err_console.print(f"[bold red]✗ {file}[/]: {len(err.problems)} problem(s); the policy was not loaded", highlight=False)
        for problem in err.problems:
            where = f"[bold]{problem.path}[/]: " if problem.path else ""
            err_console.print(f"  • {where}{problem.message}", highlight=False)
        raise typer.Exit(1) from None

    table = Table(title=f"{file}: {len(policy.tiers)} tier(s) + defaults, first match wins", title_justify="left")
    for column in ("#", "tier", "matches", "cluster", "scheduler req/lim", "worker req/lim",
                   "threads × procs", "gpus", "workers min–max", "idle after"):
        table.add_column(column, overflow="fold")
    order = [*policy.shapes()[1:], policy.shapes()[0]]  # tiers in order, defaults last
    for index, shape in enumerate(order, 1):
        s = shape.settings
        table.add_row(
            str(index), shape.tier, _match(shape, policy), s.cluster_name if s.enabled else "(disabled)",
            _resources(s.scheduler.resources), _resources(s.worker.resources),
            f"{s.worker.threads} × {s.worker.processes}", str(s.worker.gpus),
            f"{s.scaling.minimum}–{s.scaling.maximum}", s.scaling.idle_after,
        )
    console.print(table)
    console.print(f"[green]✓[/] {file} is valid")
