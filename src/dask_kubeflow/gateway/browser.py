"""What the gateway asks of, and tells, the browser (pure): which page may open a dashboard's
websocket, and the headers that keep dashboards from being framed by other sites.

Cross-site websocket hijacking: a page on any site can open ``wss://<kubeflow-host>/dask/...`` in a
signed-in user's browser, and the browser attaches the Kubeflow login. Websockets are not covered by
the same-origin policy, so the server must check ``Origin`` itself. The browser always sends it on a
websocket handshake and a page cannot forge it; so a handshake is accepted only with an ``Origin``
that is one of ``allowed_origins``, or, when none are configured, the host the request was sent to.
"""

from __future__ import annotations

from collections.abc import Mapping

from yarl import URL

from .config import DEFAULT_PORTS as _DEFAULT_PORTS
from .config import GatewayConfig, normalise_origin

__all__ = ["frame_ancestors", "normalise_origin", "origin_refusal", "request_host", "security_headers"]

def _host_and_port(authority: str, scheme: str) -> tuple[str, int] | None:
    """``host[:port]`` of a Host header, port defaulted from the origin's scheme."""
    try:
        url = URL(f"{scheme}://{authority.strip()}")
    except ValueError:
        return None
    if not url.raw_host or url.user is not None or url.raw_path not in ("", "/"):
        return None
    return url.raw_host.lower(), url.explicit_port or _DEFAULT_PORTS[scheme]


def request_host(headers: Mapping[str, str], host: str, trusted_proxy: bool) -> str:
    """The host the browser addressed: X-Forwarded-Host if a trusted proxy set it, else Host."""
    forwarded = headers.get("X-Forwarded-Host") if trusted_proxy else None
    return (forwarded or host).split(",")[0].strip()


def origin_refusal(origin: str | None, host: str, config: GatewayConfig) -> str | None:
    """Why a websocket handshake with this ``Origin`` is refused, or ``None`` to accept it."""
    if origin is None:
        return "the handshake carries no Origin header (every browser sends one)"
    normal = normalise_origin(origin)
    if normal is None:
        return f"Origin {origin!r} is not a web page's origin"
    if config.allowed_origins:
        if normal in config.allowed_origins:
            return None
        return f"Origin {origin} is not one of the allowed origins ({', '.join(config.allowed_origins)})"
    url = URL(normal)
    assert url.scheme is not None and url.raw_host is not None
    if _host_and_port(host, url.scheme) == (url.raw_host.lower(), url.port):
        return None
    return f"Origin {origin} is another site than the one the request was sent to ({host})"


def frame_ancestors(config: GatewayConfig) -> str:
    """Who may frame gateway pages: the Kubeflow host itself (the central dashboard's iframe) and
    the configured Kubeflow origins."""
    return " ".join(["'self'", *config.allowed_origins])


def security_headers(config: GatewayConfig) -> dict[str, str]:
    """Headers on every page the gateway serves or proxies."""
    return {
        "Content-Security-Policy": f"frame-ancestors {frame_ancestors(config)}",
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
