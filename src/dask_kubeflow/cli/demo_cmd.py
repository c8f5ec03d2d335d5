"""``dask-kubeflow demo``: the NLP workloads on whatever ``connect()`` returns, timed against serial."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from distributed import Client, LocalCluster

from ..client import LAYOUTS, ConnectError, connect
from ..client.local import machine_cores
from ..policy import PolicyError
from .app import app, console, fail

if TYPE_CHECKING:
    from ..demo.compare import Row
    from ..demo.progress import ProgressDisplay


def _corpus(client: Client, corpus: str | None, documents: int, shards: int, seed: int, scratch: str) -> list[str]:
    from ..demo.corpus import describe_files, expand_corpus, synthetic_shards, write_synthetic_corpus

    if corpus:
        try:
            paths = expand_corpus(corpus)
        except FileNotFoundError as err:
            raise fail(str(err)) from None
        # soft_wrap: a long glob stays one line (copyable), not cut at the terminal's width
        console.print(f"Corpus: {describe_files(paths)} matching {corpus} (read as UTF-8 on the workers)",
                      soft_wrap=True)
        return paths
    per_shard = max(1, documents // shards)
    if isinstance(client.cluster, LocalCluster):
        with console.status("Writing the synthetic corpus…"):
            paths = write_synthetic_corpus(Path(scratch), seed, shards, per_shard)
    else:  # remote workers cannot see our temp dir: they regenerate each shard themselves
        paths = synthetic_shards(seed, shards, per_shard)
    console.print(f"Corpus: synthetic corpus, seed {seed}, {shards} × {per_shard} documents "
                  f"(English words at their real frequencies, from wordfreq)")
    return paths


def _other_layouts(client: Client, policy: Path | None, stack: contextlib.ExitStack) -> list[Client]:
    """The embedded clusters --compare also times: both single-machine layouts, this one included."""
    from ..demo.suite import cluster_shape

    if not isinstance(client.cluster, LocalCluster):
        return [client]  # on the platform the admin's tier decides the layout
    clients = [client]
    workers, threads = cluster_shape(client)
    for layout, wanted in (("processes", lambda w, t: t == 1 and w > 1), ("threads", lambda w, t: w == 1 and t > 1)):
        if not wanted(workers, threads):
            clients.append(stack.enter_context(connect(policy, local=True, layout=layout, wait_for_workers=machine_cores())))
    return clients


def _print_results(rows: list[Row], summaries: dict[str, Any], synthetic: bool) -> None:
    from ..demo.compare import verdict
    from ..demo.report import read_line, sketch_line, terms_table, timings_table
    from ..demo.workloads import SKETCH, TERMS

    console.print(terms_table(summaries["terms"]))
    console.print(read_line(summaries["terms"]))
    if "sketch" in summaries:
        console.print(sketch_line(summaries["sketch"]))
    console.print(timings_table(rows))
    for workload in (TERMS, SKETCH):
        if any(r.workload is workload for r in rows) and len([r for r in rows if r.workload is workload]) > 2:
            console.print(verdict(rows, workload), highlight=False)
    serial = next(r for r in rows if r.workload is TERMS and r.family == "serial")
    if serial.seconds < 1:
        hint = "; try more --documents" if synthetic else ""
        console.print(f"[yellow]note:[/] the serial run took under a second: too little work for parallelism "
                      f"to pay off{hint}")


def _run(client: Client, paths: list[str], display: ProgressDisplay, policy: Path | None, top: int,
         compare: bool) -> tuple[list[Row], dict[str, Any]]:
    from ..demo.suite import compare_runs, main_runs

    results = main_runs(client, paths, display, top=top)
    if compare:
        with contextlib.ExitStack() as stack:
            clients = _other_layouts(client, policy, stack)
            results = compare_runs(clients, paths, display, machine_cores(), top=top, done=results)
    summaries = {row.workload.key: timed.summary for row, timed in results}
    return [row for row, _ in results], summaries


@app.command()
def demo(
    corpus: str = typer.Option(None, help="glob of UTF-8 text files, one document per line (read on the workers); default: a synthetic English corpus"),
    documents: int = typer.Option(8_000, min=1, help="documents in the synthetic corpus"),
    shards: int = typer.Option(16, min=1, help="files (tasks) the synthetic corpus is split into"),
    seed: int = typer.Option(2026, help="seed of the synthetic corpus: same seed, same corpus"),
    top: int = typer.Option(10, min=1, max=100, help="how many top terms and bigrams to print"),
    layout: str = typer.Option("processes", help=f"embedded cluster only: {', '.join(LAYOUTS)}; processes wins for this GIL-bound work (benchmarks/README.md)"),
    policy: Path = typer.Option(None, exists=True, dir_okay=False, help="policy file shaping the embedded cluster (default: $DASK_KUBEFLOW_POLICY or built-in)"),
    local: bool = typer.Option(None, "--local/--no-local", help="force (or forbid) the embedded cluster"),
    compare: bool = typer.Option(False, help="time both workloads (GIL-bound terms, GIL-releasing MinHash) on every scheduler the seed names"),
) -> None:
    """Term and bigram frequencies over a corpus, with the speed-up against a serial run."""
    if layout not in LAYOUTS:
        raise fail(f"--layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    try:
        from ..demo._extra import MissingExtra
        from ..demo.progress import ProgressDisplay
        from ..demo.suite import DifferentResults
    except ImportError as err:  # MissingExtra says what to install
        raise fail(str(err)) from None
    try:
        client = connect(policy, local=local, layout=layout)  # type: ignore[arg-type]
    except PolicyError as err:
        raise fail(str(err)) from None
    except ConnectError as err:  # no Kubernetes with --no-local, no cluster in the namespace, API down
        raise fail(f"{err.problem}\n  fix: {err.fix}") from None
    with client, tempfile.TemporaryDirectory(prefix="dask-kubeflow-demo-") as scratch:
        console.print(f"Dask dashboard: [link={client.dashboard_link}]{client.dashboard_link}[/link]")
        workers = client.scheduler_info(n_workers=-1)["workers"]
        console.print(f"Cluster: {len(workers)} worker(s), {sum(w['nthreads'] for w in workers.values())} thread(s) in all")
        paths = _corpus(client, corpus, documents, shards, seed, scratch)
        try:
            rows, summaries = _run(client, paths, ProgressDisplay(console), policy, top, compare)
        except (DifferentResults, MissingExtra) as err:  # MissingExtra: raised on a worker without the extra
            raise fail(str(err)) from None
    _print_results(rows, summaries, synthetic=not corpus)
