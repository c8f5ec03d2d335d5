"""``dask-kubeflow controller``: run the profile controller (what the controller Deployment runs)."""

from __future__ import annotations

import logging
import os
import sys

import typer

from ..kube.names import ENV_INSTALL_NAMESPACE, INSTALL_NAMESPACE
from .app import app, fail


def _policy_location(value: str) -> tuple[str, str]:
    """NAMESPACE/NAME; '' = the policy ConfigMap in the install namespace ($DASK_KUBEFLOW_INSTALL_NAMESPACE)."""
    from ..controller.settings import POLICY_CONFIGMAP

    value = value or f"{os.environ.get(ENV_INSTALL_NAMESPACE) or INSTALL_NAMESPACE}/{POLICY_CONFIGMAP}"
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name:
        raise fail(f"--policy-configmap {value!r} must be NAMESPACE/NAME, e.g. {INSTALL_NAMESPACE}/{POLICY_CONFIGMAP}")
    return namespace, name


def _platform():  # type: ignore[no-untyped-def]
    try:
        import kopf
    except ImportError as err:
        raise fail(f"the controller needs the platform packages ({err.name} is missing): "
                   "pip install 'dask-kubeflow\\[platform]'") from None
    return kopf


def _check_credentials() -> None:
    """Two lines and exit 1 when the Kubernetes API does not answer with these credentials (kopf would
    retry its start-up every minute with a traceback)."""
    from ..client.cluster_api import check_api
    from ..client.errors import ConnectError

    try:
        check_api()
    except ConnectError as err:
        raise fail(f"{err.problem}\n  fix: {err.fix}") from None


@app.command("controller")
def controller(
    policy_configmap: str = typer.Option(
        "", help="NAMESPACE/NAME of the ConfigMap holding the policy ('' = dask-kubeflow-policy in "
                 "$DASK_KUBEFLOW_INSTALL_NAMESPACE)"),
    policy_key: str = typer.Option("policy.yaml", help="key of the policy YAML in that ConfigMap"),
    workers: int = typer.Option(8, min=1, max=256, help="namespaces reconciled at the same time"),
    reload_rate: float = typer.Option(50.0, min=0.1, help="namespaces per second re-reconciled after a policy change"),
    resync: float = typer.Option(600.0, min=0, help="seconds between full resyncs (0 = never)"),
    request_timeout: float = typer.Option(30.0, min=0.1, help="seconds before an unanswered API call is retried"),
    metrics_port: int = typer.Option(8080, min=0, max=65535, help="port of /metrics and /readyz (0 = off)"),
    liveness: str = typer.Option("http://0.0.0.0:8081/healthz", help="kopf liveness endpoint URL ('' = off)"),
    log_format: str = typer.Option("full", help="full (with timestamps), plain, or json (structured logs)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging"),
    dashboard_link: str = typer.Option(
        "", help="NAMESPACE/NAME of Kubeflow's central dashboard ConfigMap to add the 'Dask clusters' menu item "
                 "to at start, e.g. kubeflow/centraldashboard-config ('' = off)"),
    clock_file: str = typer.Option("", help="file holding seconds to add to the clock (tests: hours take seconds)"),
    lifecycle_interval: float = typer.Option(30.0, min=0.1, help="seconds between looks at idle clusters"),
) -> None:
    """Give every Kubeflow profile namespace its Dask cluster and keep it matching the policy."""
    # Needed, measured: kopf (kopf/_cogs/helpers/thirdparty.py) imports the kubernetes,
    # kubernetes_asyncio and pykube clients whenever they are installed (dask-kubernetes installs
    # them), only to recognise their object types in handler arguments. `import kopf` peaks at 94 MB
    # with them, 40 MB without, plus a second of start-up; the controller never passes their objects
    # (it talks to the API through kopf's own client and kr8s). A None in sys.modules makes kopf's
    # `try: import ... except ImportError` take the "not installed" branch, in this process only.
    for unused in ("kubernetes", "kubernetes_asyncio", "pykube"):
        sys.modules.setdefault(unused, None)  # type: ignore[assignment]
    kopf = _platform()

    from ..controller.dashboard_link import parse_location
    from ..controller.runner import run
    from ..controller.settings import ControllerSettings
    from ..render import PlatformError, platform_from_env

    formats = {"full": kopf.LogFormat.FULL, "plain": kopf.LogFormat.PLAIN, "json": kopf.LogFormat.JSON}
    if log_format not in formats:
        raise fail(f"--log-format {log_format!r} is not known; use full, plain or json")
    namespace, name = _policy_location(policy_configmap)
    try:
        platform = platform_from_env(os.environ)  # the same settings `dask-kubeflow render` reads
        if dashboard_link:
            parse_location(dashboard_link)
    except (PlatformError, ValueError) as err:
        raise fail(str(err)) from None
    kopf.configure(
        verbose=verbose,
        log_format=formats[log_format],
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not verbose:  # kopf logs every handler call ("Handler ... succeeded"): thousands a minute
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    _check_credentials()
    run(ControllerSettings(
        policy_namespace=namespace, policy_name=name, policy_key=policy_key, workers=workers,
        reload_rate=reload_rate, resync_seconds=resync, request_timeout=request_timeout,
        metrics_port=metrics_port, liveness=liveness or None,
        platform=platform, dashboard_link=dashboard_link or None,
        clock_file=clock_file or None, lifecycle_interval=lifecycle_interval,
    ))
