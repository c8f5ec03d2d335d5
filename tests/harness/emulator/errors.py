"""Kubernetes `Status` errors, so unmodified clients (kr8s, kopf, kubectl) raise what they raise on a real cluster."""

from __future__ import annotations

from typing import Any

import attrs
from kmock import KubernetesError


@attrs.frozen
class ApiError(KubernetesError):
    """An API error rendered as a `kind: Status` body (kmock's error type, with Kubernetes' reasons)."""

    status: int = 500
    reason: str | None = "InternalError"
    message: str | None = "internal error"
    details: Any | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.status,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(what: str, name: str, group: str, kind: str) -> ApiError:
    return ApiError(404, "NotFound", f'{what} "{name}" not found', {"name": name, "group": group, "kind": kind})


def already_exists(what: str, name: str, group: str, kind: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{what} "{name}" already exists',
                    {"name": name, "group": group, "kind": kind})


def conflict(what: str, name: str, group: str, kind: str, why: str) -> ApiError:
    return ApiError(
        409, "Conflict", f'Operation cannot be fulfilled on {what} "{name}": {why}',
        {"name": name, "group": group, "kind": kind},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def forbidden(message: str, name: str = "", group: str = "", kind: str = "") -> ApiError:
    return ApiError(403, "Forbidden", message, {"name": name, "group": group, "kind": kind})


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid, worded like the API server: `Kind.group "name" is invalid: field: message, ...`."""
    qualified = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes)
    return ApiError(
        422, "Invalid", f'{qualified} "{name}" is invalid: {summary}',
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )
