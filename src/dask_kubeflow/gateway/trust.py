"""The trust boundary: who may tell the gateway who the user is.

The ``kubeflow-userid`` header is set by Kubeflow's Istio ingress gateway from the login token. Anyone
who can reach the gateway's port directly could set it too, so it is believed only when the request
arrived through the trusted path:

1. the TCP peer is in ``trusted_proxies`` (default: loopback, i.e. the pod's own Istio sidecar, which
   is the only way traffic reaches an injected pod's app port), and
2. if ``trusted_principals`` is set, the ``X-Forwarded-Client-Cert`` header that the sidecar writes
   (it replaces whatever the client sent) names one of them as the mTLS peer, e.g.
   ``spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account``.

Otherwise the identity header is ignored and the request is treated as anonymous.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from .config import GatewayConfig

XFCC_HEADER = "X-Forwarded-Client-Cert"


@dataclass(frozen=True)
class Identity:
    """Who the request says the user is, and whether the path it came by lets us believe it."""

    user: str | None
    trusted: bool
    reason: str = ""


def _split_quoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes (XFCC values may quote commas and semicolons)."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def xfcc_peer_uris(header: str) -> tuple[str, ...]:
    """The ``URI=`` values of the nearest hop (the last element) of an XFCC header."""
    if not header.strip():
        return ()
    last = _split_quoted(header, ",")[-1]
    uris = []
    for pair in _split_quoted(last, ";"):
        key, _, value = pair.partition("=")
        if key.strip().lower() == "uri":
            uris.append(value.strip().strip('"'))
    return tuple(uris)


def peer_is_trusted(peer: str | None, config: GatewayConfig) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    return any(address in network for network in config.trusted_proxies)


def identify(peer: str | None, headers: Mapping[str, str], config: GatewayConfig) -> Identity:
    """Read the user from the identity header if, and only if, the request came the trusted way."""
    raw = headers.get(config.userid_header)
    user = raw.strip() if raw else None
    if user and config.userid_prefix and user.startswith(config.userid_prefix):
        user = user[len(config.userid_prefix):]
    user = user or None
    if not peer_is_trusted(peer, config):
        return Identity(
            None,
            False,
            f"the request came from {peer or 'an unknown address'}, which is not a trusted proxy "
            f"(trusted: {', '.join(str(n) for n in config.trusted_proxies) or 'none'})",
        )
    if config.trusted_principals:
        uris = xfcc_peer_uris(headers.get(XFCC_HEADER, ""))
        if not any(uri in config.trusted_principals for uri in uris):
            return Identity(
                None,
                False,
                f"the request's mTLS peer ({', '.join(uris) or 'none'}) is not the ingress gateway "
                f"(trusted: {', '.join(config.trusted_principals)})",
            )
    return Identity(user, True)
