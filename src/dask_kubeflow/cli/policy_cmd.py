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


def _document(policy: Policy) -> dict[str, object]:
    """``policy check -o json|yaml``: every tier in matching order (defaults last), fully resolved."""
    order = [*policy.shapes()[1:], policy.shapes()[0]]
    return {"file": str(policy.source), "valid": True, "tiers": [
        {"tier": shape.tier, "matches": _match(shape, policy).replace("\n", "; "),
         **shape.settings.model_dump(by_alias=True, mode="json")} for shape in order]}


def _print_document(document: object, output: str) -> None:
    import json

    import yaml

    print(json.dumps(document, indent=2) if output == "json" else yaml.safe_dump(document, sort_keys=False), end="\n" if output == "json" else "")


def _narrow(table: Table) -> None:
    """At less than 150 columns (or in a pipe), one field/value block per tier instead of 10 columns."""
    headers = [str(c.header) for c in table.columns]
    cells = [list(c.cells) for c in table.columns]
    console.print(f"[bold]{table.title}[/]", highlight=False)
    for row in range(table.row_count):
        block = Table(show_header=False, box=None, padding=(0, 1))
        block.add_column("field", style="bold", no_wrap=True)
        block.add_column("value")
        for header, column in zip(headers, cells):
            block.add_row(header, str(column[row]).replace("\n", ", "))
        console.print(block)


@policy_app.command("check")
def check(file: Path = typer.Argument(..., help="policy YAML file"),
          output: str = typer.Option("table", "--output", "-o", help="table, json or yaml")) -> None:
    """Validate FILE; print the resolved tiers in matching order, or every problem (exit 1)."""
    if output not in ("table", "json", "yaml"):
        err_console.print(f"[bold red]error:[/] --output {output!r} is not one of table, json, yaml", highlight=False)
        raise typer.Exit(1)
    try:
        policy = load_policy(file)
    except PolicyError as err:
        if output != "table":
            _print_document({"file": str(file), "valid": False, "problems": [
                {"path": p.path, "message": p.message} for p in err.problems]}, output)
            raise typer.Exit(1) from None
        err_console.print(f"[bold red]✗ {file}[/]: {len(err.problems)} problem(s); the policy was not loaded", highlight=False)
        for problem in err.problems:
            where = f"[bold]{problem.path}[/]: " if problem.path else ""
            err_console.print(f"  • {where}{problem.message}", highlight=False)
        raise typer.Exit(1) from None
    if output != "table":
        _print_document(_document(policy), output)
        return
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
    console.print(table) if console.width >= 150 else _narrow(table)
    console.print(f"[green]✓[/] {file} is valid")
