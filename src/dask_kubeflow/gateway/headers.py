"""Which headers cross the gateway (pure): an allow-list each way, never a deny-list.

A scheduler runs code its namespace's users control, so whatever reaches it a malicious contributor
reads. Kubeflow's ingress adds identity and tokens (``kubeflow-userid``, ``kubeflow-groups``,
``x-auth-request-*``, ``authorization``, ``cookie``, ...), and the next auth proxy will add names
nobody lists today; so only what Dask's dashboard (Tornado + Bokeh) uses is forwarded: content
negotiation, caching validators and ranges for static files, the user agent. Websocket handshake
headers are made by the gateway's own client; ``Origin`` is replaced by ``GATEWAY_WEBSOCKET_ORIGIN``
(the one the scheduler's Bokeh accepts).

Back to the browser go the headers that describe the content; cookies, CORS grants and framing
rules from the scheduler do not (they would act on the Kubeflow origin): the gateway sets its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict

from ..kube.names import GATEWAY_WEBSOCKET_ORIGIN

# Request headers Dask's dashboard reads (content negotiation, conditional and range GETs).
FORWARDED_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "pragma",
        "range",
        "user-agent",
    }
)
# Response headers that describe the content; everything else from the scheduler stays behind.
FORWARDED_RESPONSE_HEADERS = frozenset(
    {
        "accept-ranges",
        "age",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-length",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expires",
        "last-modified",
        "location",
        "retry-after",
        "vary",
    }
)


def upstream_request_headers(
    headers: Mapping[str, str], *, scheme: str, host: str, websocket: bool = False
) -> CIMultiDict[str]:
    """The browser's headers as the scheduler should see them."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() in FORWARDED_REQUEST_HEADERS:
            out.add(name, value)
    out["X-Forwarded-Proto"] = scheme
    out["X-Forwarded-Host"] = host
    if websocket:
        out["Origin"] = GATEWAY_WEBSOCKET_ORIGIN
    return out


def downstream_response_headers(
    headers: Mapping[str, str], upstream_base: str, own: Mapping[str, str]
) -> CIMultiDict[str]:
    """The scheduler's response headers as the browser should see them, plus the gateway's ``own``
    (security headers). A ``Location`` into the scheduler's address becomes a path; one to any other
    host is dropped."""
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in FORWARDED_RESPONSE_HEADERS:
            continue
        if name.lower() == "location":
            if value.startswith(upstream_base):
                value = value[len(upstream_base):] or "/"
            if not value.startswith("/") or value.startswith("//"):
                continue  # a redirect off the Kubeflow host: not the dashboard's to make
        out.add(name, value)
    out.update(own)
    return out
