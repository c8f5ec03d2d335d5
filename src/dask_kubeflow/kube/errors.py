"""One error type for every failed Kubernetes API call, whatever part made it.

kr8s raises ``ServerError`` (with the response), ``NotFoundError``, ``APITimeoutError``, and lets
httpx's transport errors through; callers want three answers: what HTTP status (if any), is it
worth retrying, and — for a 403 — which RBAC verb and resource were refused.
"""

from __future__ import annotations

from typing import Any

import httpx
import kr8s

__all__ = ["KubeError", "API_ERRORS", "from_exception", "request_verb_resource"]

# Everything a kr8s call raises when the API server refuses or cannot be reached.
API_ERRORS: tuple[type[BaseException], ...] = (
    kr8s.ServerError, kr8s.NotFoundError, kr8s.APITimeoutError, httpx.HTTPError, OSError,
)


class KubeError(RuntimeError):
    """A Kubernetes API call that failed.

    ``status`` is the HTTP status (None: no answer); ``transient`` says a retry may succeed (no
    answer, 409 conflict, 429, 5xx); ``verb`` and ``resource`` name the request as RBAC does.
    """

    def __init__(self, message: str, *, status: int | None = None, verb: str = "", resource: str = "",
                 namespace: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.status, self.verb, self.resource, self.namespace = status, verb, resource, namespace
        self.detail = detail or message

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in (409, 429) or self.status >= 500

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def forbidden(self) -> tuple[str, str] | None:
        """``(verb, resource)`` the API refused, for a 403; None otherwise."""
        return (self.verb, self.resource) if self.status == 403 else None


def request_verb_resource(method: str, path: str, verb: str = "", resource: str = "") -> tuple[str, str]:
    """RBAC verb and resource of an API request: ``GET /apis/g/v/namespaces/ns/plural`` → (list, plural.g)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return verb, resource
    group = parts[1] if parts[0] == "apis" else ""
    rest = parts[3:] if parts[0] == "apis" else parts[2:]
    if len(rest) >= 2 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return verb, resource
    plural, named, sub = rest[0], len(rest) > 1, rest[2] if len(rest) > 2 else ""
    verbs = {"GET": "get" if named else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
             "DELETE": "delete" if named else "deletecollection"}
    full = plural + (f"/{sub}" if sub else "") + (f".{group}" if group else "")
    return verbs.get(method.upper(), verb), full


def _server_message(err: kr8s.ServerError) -> str:
    if isinstance(err.status, dict) and err.status.get("message"):
        return str(err.status["message"])
    if err.response is not None:
        try:
            body: Any = err.response.json()
            if isinstance(body, dict) and body.get("message"):
                return str(body["message"])
        except ValueError:
            pass
        return err.response.text or str(err)
    return str(err)


def from_exception(err: BaseException, *, verb: str = "", resource: str = "", namespace: str = "",
                   what: str = "") -> KubeError:
    """The KubeError for anything in ``API_ERRORS``; ``what`` describes the call for the message
    (for example ``"apply DaskCluster/dask-cluster in namespace alice"``)."""
    if isinstance(err, KubeError):
        return err
    what = what or " ".join(p for p in (verb, resource, f"in namespace {namespace}" if namespace else "") if p)
    if isinstance(err, kr8s.ServerError) and err.response is not None:
        status = err.response.status_code
        request = err.response.request
        verb, resource = request_verb_resource(request.method, request.url.path, verb, resource)
        detail = _server_message(err)[:500]
        return KubeError(f"{what} failed (HTTP {status}): {detail}", status=status, verb=verb,
                         resource=resource, namespace=namespace, detail=detail)
    if isinstance(err, kr8s.NotFoundError):
        return KubeError(f"{what} failed (HTTP 404): {err}", status=404, verb=verb, resource=resource,
                         namespace=namespace, detail=str(err))
    if isinstance(err, kr8s.APITimeoutError | httpx.TimeoutException):
        detail = "the Kubernetes API did not answer in time"
    else:
        detail = f"{type(err).__name__}: {err}"
    return KubeError(f"{what} failed (no answer): {detail}", status=None, verb=verb, resource=resource,
                     namespace=namespace, detail=detail)
