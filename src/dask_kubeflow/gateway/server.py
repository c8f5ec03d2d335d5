"""Run the gateway as a process: logging set up for machines (JSON access lines) and people."""

from __future__ import annotations

import logging

from aiohttp import web

from .access_log import ACCESS_LOGGER, JsonAccessLogger
from .app import make_app
from .config import GatewayConfig

log = logging.getLogger("dask_kubeflow.gateway")


def handler_options(config: GatewayConfig) -> dict[str, object]:
    """Options of aiohttp's connection handler (tests and benchmarks use them too, so they run what
    production runs). aiohttp closes a connection that has not delivered a complete request within
    ``keepalive_timeout`` of opening or of its last response: that bounds slow headers (slowloris)
    and idle keep-alive connections alike. Header sizes keep aiohttp's bounds (8 KiB a line, 128
    headers)."""
    return {
        "keepalive_timeout": config.client_header_timeout,
        "max_line_size": 8190,
        "max_field_size": 8190,
        "max_headers": 128,
    }


def serve(config: GatewayConfig, *, kubeconfig: str | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not config.trusted_principals:
        log.warning(
            "no --trusted-principal set: any workload that can reach this pod through its Istio "
            "sidecar can claim to be any user. Set it to the ingress gateway's SPIFFE id, e.g. "
            "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account, or "
            "restrict callers with an Istio AuthorizationPolicy."
        )
    log.info(
        "dask-kubeflow gateway on http://%s:%d (identity header %r, trusted proxies %s)",
        config.host,
        config.port,
        config.userid_header,
        ", ".join(str(n) for n in config.trusted_proxies),
    )
    web.run_app(
        make_app(config, kubeconfig=kubeconfig),
        host=config.host,
        port=config.port,
        access_log=logging.getLogger(ACCESS_LOGGER),
        access_log_class=JsonAccessLogger,
        print=None,
        **handler_options(config),  # type: ignore[arg-type]
    )
