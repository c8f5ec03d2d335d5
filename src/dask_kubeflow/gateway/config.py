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

from yarl import URL

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
    # Origins (scheme://host[:port]) whose pages may open dashboard websockets and frame dashboards,
    # e.g. https://kubeflow.example.com. Empty: the host the request was sent to (its Host header,
    # or X-Forwarded-Host from a trusted proxy), i.e. pages of the Kubeflow host itself.
    allowed_origins: tuple[str, ...] = ()
    # Largest websocket message per direction. Bokeh clients send events and small document
    # patches; the scheduler sends documents and data columns (a big task graph is a few MiB).
    # A message is refused (close 1009) from its frame header on, never buffered whole.
    max_message_to_scheduler: int = 1024 * 1024
    max_message_to_browser: int = 8 * 1024 * 1024
    # Concurrent upstream connections (HTTP requests in flight + open websockets): refused with
    # 429 beyond the per-user cap, 503 beyond the global one.
    max_connections_per_user: int = 32
    max_upstream_connections: int = 512
    # A client must send a request's headers within this time (slowloris), and accept each chunk of
    # a response within client_write_timeout; an idle keep-alive connection closes after this too.
    client_header_timeout: float = 60.0
    client_write_timeout: float = 60.0
    websocket_heartbeat: float = 30.0

    def __post_init__(self) -> None:
        # Accept CIDR strings too (programmatic use); store networks.
        networks = tuple(
            n if not isinstance(n, str) else parse_networks(n, "trusted_proxies")[0]
            for n in self.trusted_proxies
        )
        object.__setattr__(self, "trusted_proxies", networks)
        object.__setattr__(self, "trusted_principals", tuple(self.trusted_principals))
        object.__setattr__(self, "allowed_origins", tuple(_origin_setting(o) for o in self.allowed_origins))
        if not self.userid_header.strip():
            raise ConfigError("userid header is empty; set --userid-header / USERID_HEADER, e.g. kubeflow-userid")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range; use 1-65535 (--port)")
        for name in ("auth_cache_seconds", "cluster_cache_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} is {getattr(self, name)}; use 0 (no cache) or more seconds")
        for name in ("max_message_to_scheduler", "max_message_to_browser", "max_connections_per_user",
                     "max_upstream_connections", "client_header_timeout", "client_write_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} is {getattr(self, name)}; it bounds what one user can hold, "
                                  f"so it must be a positive number")


def _origin_setting(origin: str) -> str:
    """One allowed origin, normalised (lowercase, default port dropped); a bad one names the fix."""
    normal = normalise_origin(origin)
    if normal is None:
        raise ConfigError(
            f"allowed origin {origin!r} is not an origin; write scheme://host[:port] like "
            f"https://kubeflow.example.com (--allowed-origin / {ENV_PREFIX}ALLOWED_ORIGINS)"
        )
    return normal


DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str | None) -> str | None:
    """``scheme://host[:port]`` lowercased with the scheme's default port dropped; ``None`` for
    anything that is not a serialised http(s) origin (``null``, paths, userinfo, garbage)."""
    if not origin or origin.strip() != origin:
        return None
    try:
        url = URL(origin)
    except ValueError:
        return None
    if url.scheme not in DEFAULT_PORTS or not url.raw_host or url.user is not None or url.password is not None:
        return None
    if url.raw_path not in ("", "/") or url.raw_query_string or url.raw_fragment:
        return None
    host, port = url.raw_host.lower(), url.explicit_port
    if port is not None and port == DEFAULT_PORTS[url.scheme]:
        port = None
    bracketed = f"[{host}]" if ":" in host else host
    return f"{url.scheme}://{bracketed}" + (f":{port}" if port is not None else "")


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
    for key, conv in (("AUTH_CACHE_SECONDS", float), ("CLUSTER_CACHE_SECONDS", float), ("PORT", int),
                      ("MAX_CONNECTIONS_PER_USER", int), ("MAX_UPSTREAM_CONNECTIONS", int)):
        name = f"{ENV_PREFIX}{key}"
        if name in env:
            try:
                values[key.lower()] = conv(env[name])
            except ValueError:
                raise ConfigError(f"{name}={env[name]!r} is not a number; set it to e.g. 30") from None
    if f"{ENV_PREFIX}ALLOWED_ORIGINS" in env:
        values["allowed_origins"] = parse_list(env[f"{ENV_PREFIX}ALLOWED_ORIGINS"])
    if f"{ENV_PREFIX}CLUSTER_DOMAIN" in env:
        values["cluster_domain"] = env[f"{ENV_PREFIX}CLUSTER_DOMAIN"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GatewayConfig(**values)  # type: ignore[arg-type]
