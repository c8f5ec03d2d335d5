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


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        console.print(f"dask-kubeflow {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """A ready Dask cluster in every Kubeflow namespace."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # one line each, any width
    return typer.Exit(code)
