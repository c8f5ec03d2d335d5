"""``dask-kubeflow demo``: the NLP workload on whatever ``connect()`` returns, timed against serial."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import typer
from distributed import LocalCluster
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..client import LAYOUTS, connect
from ..client.local import machine_cores
from ..demo.corpus import expand_corpus, synthetic_shards, write_synthetic_corpus
from ..demo.run import ProgressCallback, Timed, run_distributed, run_local_scheduler, run_serial_isolated, warm_up
from ..policy import PolicyError
from .app import app, console, fail


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def _timed(progress: Progress, label: str, shards: list[str], run: Callable[[ProgressCallback], Timed]) -> Timed:
    task = progress.add_task(label, total=len(shards))
    result = run(lambda n: progress.advance(task, n))
    progress.remove_task(task)
    return result


@app.command()
def demo(
    corpus: str = typer.Option(None, help="glob of text files, one document per line (read on the workers); default: a synthetic corpus"),
    documents: int = typer.Option(8_000, min=1, help="documents in the synthetic corpus"),
    shards: int = typer.Option(16, min=1, help="files (tasks) the synthetic corpus is split into"),
    seed: int = typer.Option(2026, help="seed of the synthetic corpus: same seed, same corpus"),
    top: int = typer.Option(10, min=1, max=100, help="how many top terms and bigrams to print"),
    layout: str = typer.Option("processes", help=f"embedded cluster only: {', '.join(LAYOUTS)}; processes wins for this GIL-bound work (benchmarks/README.md)"),
    policy: Path = typer.Option(None, exists=True, dir_okay=False, help="policy file shaping the embedded cluster (default: $DASK_KUBEFLOW_POLICY or built-in)"),
    local: bool = typer.Option(None, "--local/--no-local", help="force (or forbid) the embedded cluster"),
    compare: bool = typer.Option(False, help="also time Dask's threaded and multiprocessing schedulers, as in the seed"),
) -> None:
    """Term and bigram frequencies over a corpus, with the speed-up against a serial run."""
    if layout not in LAYOUTS:
        raise fail(f"--layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    try:
        client = connect(policy, local=local, layout=layout)  # type: ignore[arg-type]
    except PolicyError as err:
        raise fail(str(err)) from None
    with client, tempfile.TemporaryDirectory(prefix="dask-kubeflow-demo-") as scratch:
        console.print(f"Dask dashboard: [link={client.dashboard_link}]{client.dashboard_link}[/link]")
        workers = client.scheduler_info(n_workers=-1)["workers"]
        threads = sum(w["nthreads"] for w in workers.values())
        console.print(f"Cluster: {len(workers)} worker(s), {threads} thread(s) in all")

        if corpus:
            try:
                paths = expand_corpus(corpus)
            except FileNotFoundError as err:
                raise fail(str(err)) from None
            source = f"{len(paths)} file(s) matching {corpus}"
        else:
            per_shard = max(1, documents // shards)
            if isinstance(client.cluster, LocalCluster):
                with console.status("Writing the synthetic corpus…"):
                    paths = write_synthetic_corpus(Path(scratch), seed, shards, per_shard)
            else:  # remote workers cannot see our temp dir: they regenerate each shard themselves
                paths = synthetic_shards(seed, shards, per_shard)
            source = f"synthetic corpus, seed {seed}, {shards} × {per_shard} documents"
        console.print(f"Corpus: {source}")

        warm_up(client)
        results: list[Timed] = []
        with _progress() as progress:
            results.append(_timed(progress, "distributed", paths, lambda cb: run_distributed(client, paths, top=top, progress=cb)))
        with console.status("Timing the serial baseline (same function, one process, one thread)…"):
            results.append(run_serial_isolated(paths, top=top))
        if compare:
            cores = machine_cores()
            with console.status("Timing Dask's threaded and multiprocessing schedulers…"):
                results += [run_local_scheduler(paths, s, cores, top=top) for s in ("threads", "processes")]

    distributed, serial = results[0], results[1]
    if distributed.summary != serial.summary:
        raise fail("the distributed result differs from the serial one; this is a bug, please report it")
    summary = distributed.summary
    terms = Table(title="Top terms and bigrams", title_justify="left")
    for column in ("#", "term", "count", "bigram", "count"):
        terms.add_column(column, justify="right" if column in ("#", "count") else "left")
    for rank, ((term, tc), (bigram, bc)) in enumerate(zip(summary.top_terms, summary.top_bigrams), 1):
        terms.add_row(str(rank), term, f"{tc:,}", bigram, f"{bc:,}")
    console.print(terms)
    console.print(f"{summary.documents:,} documents, {summary.tokens:,} tokens, vocabulary {summary.vocabulary:,} terms, "
                  f"{summary.bigram_types:,} distinct bigrams")

    timings = Table(title="Same work, same data", title_justify="left")
    for column in ("run", "seconds", "documents/s", "speed-up vs serial"):
        timings.add_column(column, justify="left" if column == "run" else "right")
    for result in results:
        timings.add_row(result.name, f"{result.seconds:.2f}", f"{result.documents_per_second:,.0f}",
                        f"{serial.seconds / result.seconds:.2f}×")
    console.print(timings)
    if serial.seconds < 1:
        console.print("[yellow]note:[/] the serial run took under a second: too little work for parallelism "
                      "to pay off; try more --documents")
