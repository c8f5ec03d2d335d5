"""Prometheus metrics of one gateway (own registry, so several gateways can live in one process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

__all__ = ["GatewayMetrics", "CONTENT_TYPE_LATEST"]

# Websocket message sizes: what the caps (1 MiB to the scheduler, 8 MiB to the browser) are judged by.
_SIZE_BUCKETS = (1024, 16 * 1024, 128 * 1024, 1024**2, 4 * 1024**2, 8 * 1024**2)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "dask_kubeflow_gateway_requests",
            "Requests served, by route and status code.",
            ["route", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dask_kubeflow_gateway_request_duration_seconds",
            "Time to the end of the response (for websockets: the whole session), by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "dask_kubeflow_gateway_upstream_errors",
            "Failures talking to a scheduler dashboard or the Kubernetes API, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.open_websockets = Gauge(
            "dask_kubeflow_gateway_open_websockets",
            "Websocket sessions currently proxied.",
            registry=self.registry,
        )
        self.websocket_messages = Counter(
            "dask_kubeflow_gateway_websocket_messages",
            "Websocket messages proxied, by direction (to_browser, to_scheduler).",
            ["direction"],
            registry=self.registry,
        )

        self.websocket_message_bytes = Histogram(
            "dask_kubeflow_gateway_websocket_message_bytes",
            "Sizes of websocket messages proxied, by direction (to_browser, to_scheduler).",
            ["direction"],
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "dask_kubeflow_gateway_refused",
            "Dashboard requests refused before reaching a scheduler, by reason "
            "(origin, body, per_user_limit, global_limit).",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
