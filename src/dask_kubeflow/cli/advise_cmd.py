"""``dask-kubeflow advise``: threads or processes for a function, measured here, as a policy snippet."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import typer

from ..policy import PolicyError
from .app import app, console, fail


def _demo_targets(scratch: str) -> list[tuple[str, Any, list[str]]]:
    """The demo's two workloads on a small synthetic corpus: one GIL-bound, one GIL-releasing."""
    from ..demo.corpus import write_synthetic_corpus
    from ..demo.workloads import SKETCH, TERMS

    paths = write_synthetic_corpus(Path(scratch), 2026, 8, 150)
    return [(f"the demo's {w.key} workload ({w.title})", w.count, paths) for w in (TERMS, SKETCH)]


def _user_target(target: str, sample: str | None, items: int | None) -> list[tuple[str, Any, list[Any]]]:
    from ..advisor.targets import check_callable, load_object, load_sample

    if not sample:
        raise fail("give --sample: a glob of input files, or MODULE:NAME of a list of arguments for "
                   f"{target} (enough for a few seconds of work)")
    func = check_callable(load_object(target), target)
    return [(target, func, load_sample(sample, items))]


@app.command()
def advise(
    target: str = typer.Argument(None, help="MODULE:FUNCTION or path/to/file.py:FUNCTION taking one item; default: the demo's two workloads"),
    sample: str = typer.Option(None, help="glob of input files (each path is one item), or MODULE:NAME of a list (or a function returning one)"),
    items: int = typer.Option(None, min=1, help="use only the first N items of the sample"),
    tier: str = typer.Option(None, help="policy tier to size for (default: the policy's defaults)"),
    policy: Path = typer.Option(None, exists=True, dir_okay=False, help="policy file (default: $DASK_KUBEFLOW_POLICY or built-in)"),
    workers: int = typer.Option(None, min=2, help="threads and processes to try (default: this machine's cores)"),
) -> None:
    """Measure how much of a function's time holds the GIL; recommend threads and processes per worker."""
    from ..advisor import recommend, tier_shape
    from ..advisor.measure import measure
    from ..advisor.targets import TargetError

    try:
        shape = tier_shape(policy, tier)
    except (PolicyError, ValueError) as err:
        raise fail(str(err)) from None
    with tempfile.TemporaryDirectory(prefix="dask-kubeflow-advise-") as scratch:
        try:
            targets = _user_target(target, sample, items) if target else _demo_targets(scratch)
        except (TargetError, ImportError) as err:
            raise fail(str(err)) from None
        for label, func, found in targets:
            with console.status(f"Timing {label} on {len(found)} item(s): serial, threads, processes…"):
                try:
                    advice = recommend(measure(func, found, workers=workers), shape)
                except Exception as err:  # noqa: BLE001 - the user's function failed: say so, plainly
                    raise fail(f"{label} raised {type(err).__name__}: {err} while being timed; "
                               f"check it runs on one item of the sample first") from None
            console.rule(label, align="left")
            console.print(str(advice), highlight=False, markup=False)
