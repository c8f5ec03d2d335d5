"""``dask-kubeflow connect | status | doctor``: the namespace's Dask cluster as a notebook user sees it."""

from __future__ import annotations

import json
from typing import Any

import typer
from dask.utils import format_bytes
from rich.table import Table

from ..client.diagnose import pod_is_ready
from ..client.doctor import Check, doctor_checks
from ..client.environment import Environment, detect
from ..client.errors import ConnectError, from_api_failure
from ..client.phase import cluster_phase
from ..client.refusals import refusal_lines
from ..client.snapshot import ClusterSnapshot, ProbeResult
from ..kube.errors import KubeError
from ..kube.names import DASHBOARD_PREFIX_ANNOTATION, TIER_LABEL, scheduler_address
from ..kube.namespace_status import exceeded_lines
from ..kube.usage_record import UsageRecord, budget_line, budget_summary
from .app import app, console, err_console, fail

NamespaceOpt = typer.Option(None, "--namespace", "-n", help="namespace (default: detected, see `doctor`)")
ClusterOpt = typer.Option(None, "--cluster", "-c", help="cluster name (default: $DASK_KUBEFLOW_CLUSTER or dask-cluster)")
TimeoutOpt = typer.Option(30.0, "--timeout", help="seconds to wait for the scheduler")
OutputOpt = typer.Option("table", "--output", "-o", help="table, json or yaml")
FORMATS = ("table", "json", "yaml")


def _failed(err: ConnectError) -> typer.Exit:
    """Two lines on stderr, however narrow the terminal (the terminal wraps them, rich does not)."""
    err_console.print(f"[bold red]error:[/] {err.problem}", highlight=False, soft_wrap=True, markup=True)
    err_console.print(f"  [bold]fix:[/] {err.fix}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _api_failed(err: KubeError | ConnectError, env: Environment) -> typer.Exit:
    return _failed(from_api_failure(err, env.api_server or "(unknown server)", env.credentials))


def _kubernetes_env(namespace: str | None, cluster: str | None) -> Environment:
    env = detect(namespace=namespace, cluster_name=cluster)
    if not env.should_use_kubernetes():
        raise fail(f"no Kubernetes cluster to look at: {env.explain()}. Run this inside a Kubeflow notebook, or "
                   "pass --namespace with a kubeconfig (KUBECONFIG or ~/.kube/config)")
    return env


@app.command("connect")
def connect_cmd(
    namespace: str | None = NamespaceOpt,
    cluster: str | None = ClusterOpt,
    wait_for_workers: int = typer.Option(0, "--wait-for-workers", help="also wait until N workers joined"),
    timeout: float = TimeoutOpt,
) -> None:
    """Connect to the namespace's Dask cluster, print where it is, disconnect (the cluster keeps running)."""
    from ..client.kubernetes import connect_kubernetes

    env = _kubernetes_env(namespace, cluster)
    try:
        client = connect_kubernetes(env, wait_for_workers=wait_for_workers, timeout=timeout)
    except ConnectError as err:
        raise _failed(err) from None
    try:
        info = client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {})
        console.print(f"[green]✓[/] connected to {env.namespace}/{env.cluster_name} at {client.scheduler.address}: "
                      f"{len(workers)} worker(s), {sum(w['nthreads'] for w in workers.values())} threads; "
                      f"dashboard {client.dashboard_link}", highlight=False)
    finally:
        client.close()


def _container(spec: dict[str, Any] | None) -> dict[str, Any]:
    containers = ((spec or {}).get("spec") or {}).get("containers") or [{}]
    return containers[0]


def _resources(container: dict[str, Any]) -> str:
    limits = (container.get("resources") or {}).get("limits") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu = limits.get("cpu") or requests.get("cpu") or "-"
    memory = limits.get("memory") or requests.get("memory") or "-"
    return f"{cpu} cpu, {memory} memory"


def _controller_rows(managed: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What the dask-kubeflow controller last reported for the namespace (its status ConfigMap)."""
    if managed is None:
        return []
    when = f" (since {managed['lastTransitionTime']})" if managed.get("lastTransitionTime") else ""
    rows = [("controller", f"{managed.get('phase') or 'unknown'}{when}: {managed.get('message') or '-'}")]
    if managed.get("tier"):
        rows.append(("applied tier", managed["tier"]))
    if managed.get("lifecycle"):  # docs/hibernation.md
        rows.append(("lifecycle", f"{managed['lifecycle']}: {managed.get('lifecycleMessage') or '-'}"))
    if managed.get("lastError"):
        rows.append(("last error", managed["lastError"]))
    rows += [("above the tier", line) for line in exceeded_lines(managed)]  # clusters a lowered tier left over
    return rows


def _usage_rows(record: UsageRecord | None) -> list[tuple[str, str]]:
    """This month's usage and the budget, from the controller's usage record (none: no rows)."""
    if record is None:
        return []
    return [("usage this month", f"{record.core_hours:.2f} core-hours, {record.memory_gib_hours:.2f} memory "
             f"GiB-hours in {record.period} (requests × time Running)"), ("budget", budget_line(record))]


def status_rows(env: Environment, snap: ClusterSnapshot, probe: ProbeResult | None,
                managed: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The ``status`` table as (field, value) rows; ``probe`` may be None (scheduler not ready);
    ``managed`` is the controller's status of the namespace (``cluster_api.namespace_status``), if readable."""
    cluster = snap.cluster or {}
    ns, name = snap.namespace, snap.name
    meta = cluster.get("metadata", {})
    spec = cluster.get("spec", {})
    autoscaler = (snap.autoscaler or {}).get("spec", {})
    ready_workers = sum(pod_is_ready(p) for p in snap.worker_pods)
    tier = (meta.get("labels") or {}).get(TIER_LABEL) or env.tier or "unknown"
    worker = _container(spec.get("worker"))
    scheduler = _container(spec.get("scheduler"))
    prefix = (meta.get("annotations") or {}).get(DASHBOARD_PREFIX_ANNOTATION)
    dashboard = (probe.dashboard_link if probe and probe.dashboard_link else None) or env.dashboard_link or (
        f"{prefix.rstrip('/')}/status" if prefix else "unknown (no gateway prefix on this cluster)")
    if probe and probe.workers is not None:
        size = f"{probe.threads} threads, {format_bytes(probe.memory or 0)} memory (live, from the scheduler)"
        now = str(probe.workers)
    else:
        size = f"{ready_workers} × ({_resources(worker)}) (from pod specs; scheduler not reached)"
        now = f"{ready_workers} ready pod(s)"
    limits = [f"worker {_resources(worker)}", f"scheduler {_resources(scheduler)}",
              f"at most {autoscaler.get('maximum', '?')} workers"]
    for quota in snap.quotas:
        hard, used = quota.get("status", {}).get("hard") or quota.get("spec", {}).get("hard", {}), quota.get("status", {}).get("used", {})
        shown = ", ".join(f"{k} {used.get(k, '?')}/{v}" for k, v in sorted(hard.items()) if k.split(".")[-1] in ("cpu", "memory"))
        if shown:
            limits.append(f"quota {quota['metadata']['name']}: {shown} used")
    return [
        ("namespace", f"{ns} (from {env.namespace_source})"),
        ("cluster", name),
        ("phase", cluster_phase(snap)),
        ("scheduler", probe.scheduler_address if probe and probe.scheduler_address else scheduler_address(ns, name)),
        ("workers now / min / max", f"{now} / {autoscaler.get('minimum', '?')} / {autoscaler.get('maximum', '?')}"),
        ("cores and memory", size),
        ("tier", tier),
        ("tier limits", "\n".join(limits)),
        ("dashboard", dashboard),
        *_controller_rows(managed),
        *_usage_rows(snap.usage),
        *[("refused by the tier", line) for line in refusal_lines(snap.events)],
    ]


def status_document(rows: list[tuple[str, str]], snap: ClusterSnapshot, managed: dict[str, Any] | None) -> dict[str, Any]:
    """``status -o json|yaml``: the table's fields, plus the raw facts scripts want."""
    doc: dict[str, Any] = {key.replace(" / ", "_").replace(" ", "_"): value for key, value in rows}
    doc["operatorPhase"] = ((snap.cluster or {}).get("status") or {}).get("phase")
    doc["schedulerReady"] = any(pod_is_ready(p) for p in snap.scheduler_pods)
    doc["workerPodsReady"] = sum(pod_is_ready(p) for p in snap.worker_pods)
    doc["controller"] = managed
    doc["usage"] = budget_summary(snap.usage) if snap.usage is not None else None
    return doc


def _print_document(doc: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(doc, indent=2, default=str))
    else:
        import yaml

        print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), end="")


def _check_output(output: str) -> None:
    if output not in FORMATS:
        raise fail(f"--output {output!r} is not one of {', '.join(FORMATS)}")


@app.command("status")
def status_cmd(
    namespace: str | None = NamespaceOpt,
    cluster: str | None = ClusterOpt,
    timeout: float = typer.Option(15.0, "--timeout", help="seconds to spend reaching the scheduler"),
    output: str = OutputOpt,
) -> None:
    """Show the namespace's Dask cluster: phase, scheduler, workers, size, tier and dashboard."""
    from ..client.probe import probe

    _check_output(output)
    env = _kubernetes_env(namespace, cluster)
    assert env.namespace is not None
    snap = _snapshot(env)
    live = probe(env, snap.cluster, timeout=timeout) if any(pod_is_ready(p) for p in snap.scheduler_pods) else None
    managed = snap.controller or {"phase": "unknown", "message": "could not read the controller's status ConfigMap"}
    rows = status_rows(env, snap, live, managed)
    if output != "table":
        _print_document(status_document(rows, snap, managed), output)
        return
    table = Table(title=f"Dask cluster {env.namespace}/{env.cluster_name}", title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if live is None or live.error:
        err_console.print("[yellow]![/] the scheduler is not reachable; `dask-kubeflow doctor` says why", highlight=False)


def _snapshot(env: Environment) -> ClusterSnapshot:
    """The namespace's facts, or the one-line error when nothing could be read."""
    from ..client.cluster_api import snapshot

    assert env.namespace is not None
    snap = snapshot(env.namespace, env.cluster_name)
    if snap.api_failure is not None:
        raise _api_failed(snap.api_failure, env)  # type: ignore[arg-type]
    if snap.api_error:
        raise fail(snap.api_error)
    if snap.cluster is None:
        err = snap.error
        raise _failed(err) if err else fail("the cluster could not be read; run `dask-kubeflow doctor`")
    return snap


SYMBOL = {True: "[green]✓ pass[/]", False: "[red]✗ fail[/]", None: "[yellow]– skip[/]"}


def checks_table(checks: list[Check]) -> Table:
    table = Table(title="dask-kubeflow doctor", title_justify="left")
    table.add_column("check", overflow="fold")
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("fix", overflow="fold")
    for check in checks:
        table.add_row(check.name, SYMBOL[check.ok], check.detail, check.fix if check.ok is False else "")
    return table


def print_checks(checks: list[Check]) -> None:
    """A table on a wide terminal; one line per check (and its fix below) when narrow or in a pipe."""
    if console.width >= 120:
        console.print(checks_table(checks))
        return
    console.print("[bold]dask-kubeflow doctor[/]", highlight=False)
    for check in checks:
        console.print(f"{SYMBOL[check.ok]}  {check.name}: {check.detail}", highlight=False, soft_wrap=True)
        if check.ok is False and check.fix:
            console.print(f"         fix: {check.fix}", highlight=False, soft_wrap=True)


def _doctor_facts(env: Environment, timeout: float) -> tuple[Any, Any, Any]:
    from ..client.cluster_api import check_access, snapshot
    from ..client.probe import probe

    snap = access = live = None
    if env.should_use_kubernetes():
        assert env.namespace is not None
        snap = snapshot(env.namespace, env.cluster_name)
        if not snap.api_error:
            try:
                access = check_access(env.namespace, env.in_pod)
            except (KubeError, ConnectError) as err:  # the API stopped answering between two reads
                raise _api_failed(err, env) from None
        if snap.cluster is not None and any(pod_is_ready(p) for p in snap.scheduler_pods):
            live = probe(env, snap.cluster, timeout=timeout)
    return snap, access, live


RESULT = {True: "pass", False: "fail", None: "skip"}


def doctor_document(env: Environment, checks: list[Check], live: ProbeResult | None) -> dict[str, Any]:
    """``doctor -o json|yaml``: the same checks, for scripts and support tickets; ``fix`` only on failures."""
    report = live.versions if live is not None else None
    return {
        "namespace": env.namespace,
        "cluster": env.cluster_name,
        "passed": not any(c.ok is False for c in checks),
        "checks": [{"name": c.name, "result": RESULT[c.ok], "detail": c.detail,
                    **({"fix": c.fix} if c.ok is False and c.fix else {})} for c in checks],
        "versions": None if report is None else [
            {"package": p, "client": c, "scheduler": s, "workers": w, "same": p not in report.mismatched}
            for p, c, s, w in report.rows],
    }


@app.command("doctor")
def doctor_cmd(
    namespace: str | None = NamespaceOpt,
    cluster: str | None = ClusterOpt,
    timeout: float = typer.Option(15.0, "--timeout", help="seconds to spend reaching the scheduler"),
    output: str = OutputOpt,
) -> None:
    """Check everything connect() needs, one pass/fail line each with its fix (exit 1 if any fails)."""
    _check_output(output)
    env = detect(namespace=namespace, cluster_name=cluster)
    snap, access, live = _doctor_facts(env, timeout)
    checks = doctor_checks(env, snap, access or [], live)
    if output != "table":
        document = doctor_document(env, checks, live)
        _print_document(document, output)
        if not document["passed"]:
            raise typer.Exit(1)
        return
    print_checks(checks)
    if live is not None and live.versions is not None:
        console.print(f"versions (client = this process):\n{live.versions.table()}", highlight=False)
    failed = [c for c in checks if c.ok is False]
    if failed:
        err_console.print(f"[red]✗ {len(failed)} check(s) failed[/]; each line says what to do", highlight=False)
        raise typer.Exit(1)
    console.print("[green]✓ all checks passed[/]")
