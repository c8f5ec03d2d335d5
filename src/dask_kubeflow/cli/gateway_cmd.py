"""``dask-kubeflow gateway``: serve Dask dashboards behind the Kubeflow login, and the clusters page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..gateway.config import ENV_PREFIX, ConfigError, config_from_env, parse_list, parse_networks
from ..kube.names import GATEWAY_PORT
from .app import app, fail


_ALLOWED_ORIGIN = typer.Option(
    None, "--allowed-origin",
    help="origin (scheme://host[:port]) of the Kubeflow web UI whose pages may open dashboard "
    "websockets and frame dashboards, e.g. https://kubeflow.example.com; repeatable (env "
    f"{ENV_PREFIX}ALLOWED_ORIGINS, comma-separated; default: the host the request was sent to)",
)


def _items(values: Optional[list[str]]) -> Optional[tuple[str, ...]]:
    """A repeatable option whose values may each be comma-separated lists."""
    return tuple(v for item in values for v in parse_list(item)) if values else None


@app.command("gateway")
def gateway(
    host: str = typer.Option("0.0.0.0", "--host", help="address to listen on"),
    port: int = typer.Option(GATEWAY_PORT, "--port", envvar=f"{ENV_PREFIX}PORT", help="port to listen on"),
    userid_header: Optional[str] = typer.Option(
        None, "--userid-header", envvar="USERID_HEADER",
        help="request header carrying the signed-in user (Kubeflow: kubeflow-userid)",
    ),
    userid_prefix: Optional[str] = typer.Option(
        None, "--userid-prefix", envvar="USERID_PREFIX",
        help="prefix to strip from the header value (Kubeflow's USERID_PREFIX)",
    ),
    trusted_proxies: Optional[str] = typer.Option(
        None, "--trusted-proxies", envvar=f"{ENV_PREFIX}TRUSTED_PROXIES",
        help="comma-separated CIDRs whose requests may carry the identity header "
        "(default 127.0.0.0/8,::1/128: only through the pod's Istio sidecar)",
    ),
    trusted_principal: Optional[list[str]] = typer.Option(
        None, "--trusted-principal",
        help="SPIFFE id the sidecar must report as mTLS peer (X-Forwarded-Client-Cert), e.g. "
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account; repeatable "
        f"(env {ENV_PREFIX}TRUSTED_PRINCIPALS, comma-separated)",
    ),
    allowed_origin: Optional[list[str]] = _ALLOWED_ORIGIN,
    auth_cache_seconds: Optional[float] = typer.Option(
        None, "--auth-cache-seconds", envvar=f"{ENV_PREFIX}AUTH_CACHE_SECONDS",
        help="how long an access decision is reused (default 30)",
    ),
    cluster_domain: Optional[str] = typer.Option(
        None, "--cluster-domain", envvar=f"{ENV_PREFIX}CLUSTER_DOMAIN",
        help="Kubernetes DNS domain of scheduler Services (default cluster.local)",
    ),
    kubeconfig: Optional[Path] = typer.Option(
        None, "--kubeconfig", help="kubeconfig to use (default: in-cluster service account or $KUBECONFIG)",
    ),
) -> None:
    """Serve /dask/<namespace>/<cluster>/ dashboards to each namespace's owner and contributors,
    and the "Dask clusters" page at /dask/?ns=<namespace>."""
    try:
        config = config_from_env(
            host=host,
            port=port,
            userid_header=userid_header,
            userid_prefix=userid_prefix,
            trusted_proxies=(
                parse_networks(trusted_proxies, "--trusted-proxies") if trusted_proxies is not None else None
            ),
            trusted_principals=_items(trusted_principal),
            allowed_origins=_items(allowed_origin),
            auth_cache_seconds=auth_cache_seconds,
            cluster_domain=cluster_domain,
        )
    except ConfigError as err:
        raise fail(str(err)) from None
    _serve(config, str(kubeconfig) if kubeconfig else None)


def _serve(config: object, kubeconfig: str | None) -> None:
    """Serve once the Kubernetes API answers with these credentials; else two lines and exit 1."""
    from ..client.cluster_api import check_api
    from ..client.errors import ConnectError

    try:
        from ..gateway.server import serve
    except ImportError as err:
        raise fail(f"the gateway needs the platform packages ({err.name} is missing): "
                   "pip install 'dask-kubeflow\\[platform]'") from None
    try:
        check_api(kubeconfig)
    except ConnectError as err:
        raise fail(f"{err.problem}\n  fix: {err.fix}") from None
    serve(config, kubeconfig=kubeconfig)  # type: ignore[arg-type]
