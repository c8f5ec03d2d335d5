"""The ``dask-kubeflow`` Typer application and the consoles every command prints through."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="dask-kubeflow",
    help="A ready Dask cluster in every Kubeflow namespace.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
