"""Settings of the dashboard gateway, from flags or the environment.

Header name and prefix follow Kubeflow's own names (``USERID_HEADER``, ``USERID_PREFIX``) so one
platform-wide setting configures every Kubeflow web app and this gateway alike.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

from ..kube.names import GATEWAY_PORT

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

DEFAULT_USERID_HEADER = "kubeflow-userid"
# The Istio sidecar delivers inbound traffic from 127.0.0.6 (or the pod's own loopback), so by
# default only requests that came through the sidecar are trusted to carry the identity header.
DEFAULT_TRUSTED_PROXIES = ("127.0.0.0/8", "::1/128")
ENV_PREFIX = "DASK_KUBEFLOW_GATEWAY_"


class ConfigError(ValueError):
    """A gateway setting is invalid; the message names the setting and the fix."""


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs to know that is not a Kubernetes object."""

    host: str = "0.0.0.0"
    port: int = GATEWAY_PORT
    userid_header: str = DEFAULT_USERID_HEADER
    userid_prefix: str = ""
    # TCP peers allowed to deliver the identity header (the ingress path).
    trusted_proxies: tuple[IPNetwork, ...] = field(
        default_factory=lambda: tuple(ipaddress.ip_network(n) for n in DEFAULT_TRUSTED_PROXIES)
    )
    # If set, the Istio-set X-Forwarded-Client-Cert header must name one of these SPIFFE ids
    # (e.g. the ingress gateway's service account) for the identity header to be trusted.
    trusted_principals: tuple[str, ...] = ()
    auth_cache_seconds: float = 30.0
    cluster_cache_seconds: float = 10.0
    upstream_connect_timeout: float = 5.0
    # A busy scheduler can stall for seconds; give up on an HTTP response after this long silence.
    upstream_read_timeout: float = 60.0
    kubernetes_timeout: float = 10.0
    stats_timeout: float = 2.0
    cluster_domain: str = "cluster.local"
    max_websocket_message: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        # Accept CIDR strings too (programmatic use); store networks.
        networks = tuple(
            n if not isinstance(n, str) else parse_networks(n, "trusted_proxies")[0]
            for n in self.trusted_proxies
        )
        object.__setattr__(self, "trusted_proxies", networks)
        object.__setattr__(self, "trusted_principals", tuple(self.trusted_principals))
        if not self.userid_header.strip():
            raise ConfigError("userid header is empty; set --userid-header / USERID_HEADER, e.g. kubeflow-userid")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range; use 1-65535 (--port)")
        for name in ("auth_cache_seconds", "cluster_cache_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} is {getattr(self, name)}; use 0 (no cache) or more seconds")


def parse_networks(text: str, setting: str) -> tuple[IPNetwork, ...]:
    """Parse a comma-separated CIDR list; an error names the setting and the bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{setting}: {item!r} is not an IP network; write CIDRs like 127.0.0.0/8,10.0.0.0/8"
            ) from None
    return tuple(networks)


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def config_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> GatewayConfig:
    """Build the config from the environment; keyword ``overrides`` (from flags) win."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    if "USERID_HEADER" in env:
        values["userid_header"] = env["USERID_HEADER"]
    if "USERID_PREFIX" in env:
        values["userid_prefix"] = env["USERID_PREFIX"]
    if f"{ENV_PREFIX}TRUSTED_PROXIES" in env:
        values["trusted_proxies"] = parse_networks(
            env[f"{ENV_PREFIX}TRUSTED_PROXIES"], f"{ENV_PREFIX}TRUSTED_PROXIES"
        )
    if f"{ENV_PREFIX}TRUSTED_PRINCIPALS" in env:
        values["trusted_principals"] = parse_list(env[f"{ENV_PREFIX}TRUSTED_PRINCIPALS"])
    for key, conv in (("AUTH_CACHE_SECONDS", float), ("CLUSTER_CACHE_SECONDS", float), ("PORT", int)):
        name = f"{ENV_PREFIX}{key}"
        if name in env:
            try:
                values[key.lower()] = conv(env[name])
            except ValueError:
                raise ConfigError(f"{name}={env[name]!r} is not a number; set it to e.g. 30") from None
    if f"{ENV_PREFIX}CLUSTER_DOMAIN" in env:
        values["cluster_domain"] = env[f"{ENV_PREFIX}CLUSTER_DOMAIN"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GatewayConfig(**values)  # type: ignore[arg-type]
