"""The trust boundary: who may tell the gateway who the user is.

The ``kubeflow-userid`` header is set by Kubeflow's Istio ingress gateway from the login token. Anyone
who can reach the gateway's port directly could set it too, so it is believed only when the request
arrived through the trusted path:

1. the TCP peer is in ``trusted_proxies`` (default: loopback, i.e. the pod's own Istio sidecar, which
   is the only way traffic reaches an injected pod's app port), and
2. if ``trusted_principals`` is set, the last element of the ``X-Forwarded-Client-Cert`` header
   names one of them as the mTLS peer, e.g.
   ``spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account``. Istio's
   sidecar APPENDS its element (the peer of the connection it terminated) to whatever the client
   sent, so only the last element is the sidecar's; everything before it is the client's to write.
   The header is parsed as Envoy defines it: elements separated by commas, key=value pairs by
   semicolons, both only outside double quotes; inside quotes a backslash escapes the next
   character. A header that does not parse (an open quote meant to swallow the sidecar's element,
   a stray quote or backslash) is not believed at all;
3. the identity header occurs once: a client-sent copy next to the one the ingress adds is refused
   rather than guessed between.

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


class MalformedXfcc(ValueError):
    """The header does not follow Envoy's XFCC grammar."""


def _xfcc_elements(header: str) -> list[list[tuple[str, str]]]:
    """Envoy's XFCC grammar: ``element ("," element)*``, ``element = pair (";" pair)*``,
    ``pair = key "=" (token | '"' (char | '\\' char)* '"')``. Raises ``MalformedXfcc``."""
    elements: list[list[tuple[str, str]]] = []
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(header)
    while True:
        equals = header.find("=", i)
        if equals < 0:
            raise MalformedXfcc(f"no '=' after position {i}")
        key = header[i:equals].strip()
        if not key or any(c in key for c in ',;"\\'):
            raise MalformedXfcc(f"bad key {key!r}")
        i = equals + 1
        if i < n and header[i] == '"':
            value, i = _quoted(header, i + 1)
        else:
            end = i
            while end < n and header[end] not in ",;":
                if header[end] in '"\\':
                    raise MalformedXfcc(f"{header[end]!r} inside an unquoted value")
                end += 1
            value, i = header[i:end].strip(), end
        pairs.append((key.lower(), value))
        if i >= n:
            elements.append(pairs)
            return elements
        if header[i] == ",":
            elements.append(pairs)
            pairs = []
        elif header[i] != ";":
            raise MalformedXfcc(f"{header[i]!r} after a quoted value")
        i += 1


def _quoted(header: str, i: int) -> tuple[str, int]:
    """The value of a quoted string starting after its opening quote; returns (value, index after
    the closing quote)."""
    out = []
    while i < len(header):
        char = header[i]
        if char == "\\":
            if i + 1 >= len(header):
                raise MalformedXfcc("backslash at the end of the header")
            out.append(header[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise MalformedXfcc("a quoted value is never closed")


def xfcc_peer_uris(header: str) -> tuple[str, ...]:
    """The ``URI=`` values of the element the nearest proxy (the pod's sidecar) appended: the last
    one. A header that does not parse yields none (the request is not believed)."""
    if not header.strip():
        return ()
    try:
        elements = _xfcc_elements(header)
    except MalformedXfcc:
        return ()
    return tuple(value for key, value in elements[-1] if key == "uri")


def _all_values(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    return [value for key, value in headers.items() if key.lower() == name.lower()]


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
    values = _all_values(headers, config.userid_header)
    if len(values) > 1:
        return Identity(
            None,
            False,
            f"the request carries the {config.userid_header} header {len(values)} times; the ingress "
            f"sets it once, so a second copy was added on the way and neither is believed",
        )
    raw = values[0] if values else None
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
        uris = xfcc_peer_uris(",".join(_all_values(headers, XFCC_HEADER)))
        if not any(uri in config.trusted_principals for uri in uris):
            return Identity(
                None,
                False,
                f"the request's mTLS peer ({', '.join(uris) or 'none'}) is not the ingress gateway "
                f"(trusted: {', '.join(config.trusted_principals)})",
            )
    return Identity(user, True)
