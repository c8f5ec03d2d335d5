"""Writes to the Kubernetes API through kr8s: create, server-side apply, delete.

kr8s 0.20 has no server-side apply of its own (``APIObject.patch`` sends merge or JSON patches
only), so apply goes through kr8s's low-level ``Api.call_api`` with the apply-patch content type
and our one field manager. New objects are created with POST instead: a create fails with 409
when an object of that name already exists, so a user's own object is never taken over.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from kr8s import ServerError
from kr8s._exceptions import APITimeoutError
from kr8s.asyncio import Api

from ..kube.names import FIELD_MANAGER
from . import metrics
from ..kube.resources import ObjectRef, kind_of, ref_of

__all__ = ["ApiWriteError", "AlreadyExists", "create", "server_side_apply", "delete", "get"]

_APPLY = {"Content-Type": "application/apply-patch+yaml"}


class ApiWriteError(RuntimeError):
    """A write the API refused or could not answer; ``transient`` ones are retried with backoff."""

    def __init__(self, verb: str, ref: ObjectRef, status: int | None, detail: str) -> None:
        self.verb, self.ref, self.status, self.detail = verb, ref, status, detail
        code = f"HTTP {status}" if status else "no answer"
        super().__init__(f"{verb} {ref} in namespace {ref.namespace} failed ({code}): {detail}")

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in (409, 429) or self.status >= 500


class AlreadyExists(ApiWriteError):
    pass


def _url(ref: ObjectRef, name: bool = True) -> dict[str, Any]:
    kind = kind_of(ref)
    return {
        "version": ref.api_version,
        "namespace": ref.namespace,
        "url": f"{kind.plural}/{ref.name}" if name else kind.plural,
    }


def _error(verb: str, ref: ObjectRef, err: Exception) -> ApiWriteError:
    if isinstance(err, ServerError) and err.response is not None:
        status = err.response.status_code
        try:
            detail = err.response.json().get("message") or err.response.text
        except (ValueError, AttributeError):
            detail = err.response.text or str(err)
        cls = AlreadyExists if status == 409 and verb == "create" else ApiWriteError
        return cls(verb, ref, status, str(detail)[:500])
    if isinstance(err, APITimeoutError | httpx.TimeoutException):
        return ApiWriteError(verb, ref, None, "the Kubernetes API did not answer in time; will retry")
    return ApiWriteError(verb, ref, None, f"{type(err).__name__}: {err}; will retry")


async def create(api: Api, obj: dict[str, Any]) -> dict[str, Any]:
    """Create ``obj``; raises AlreadyExists when any object of that name exists (ours or not)."""
    ref = ref_of(obj)
    try:
        async with api.call_api(
            "POST", **_url(ref, name=False), content=json.dumps(obj), params={"fieldManager": FIELD_MANAGER}
        ) as resp:
            body = resp.json()
    except (ServerError, APITimeoutError, httpx.HTTPError) as err:
        raise _error("create", ref, err) from err
    metrics.API_WRITES.labels(verb="create", kind=ref.kind).inc()
    return body


async def server_side_apply(api: Api, obj: dict[str, Any]) -> dict[str, Any]:
    """Apply ``obj`` under our field manager, taking over fields another manager last set."""
    ref = ref_of(obj)
    try:
        async with api.call_api(
            "PATCH", **_url(ref), content=json.dumps(obj), headers=_APPLY,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        ) as resp:
            body = resp.json()
    except (ServerError, APITimeoutError, httpx.HTTPError) as err:
        raise _error("apply", ref, err) from err
    metrics.API_WRITES.labels(verb="apply", kind=ref.kind).inc()
    return body


async def delete(api: Api, ref: ObjectRef) -> None:
    """Delete ``ref``; an object already gone counts as deleted."""
    try:
        async with api.call_api("DELETE", **_url(ref), content=json.dumps({"propagationPolicy": "Background"})):
            pass
    except ServerError as err:
        if err.response is not None and err.response.status_code == 404:
            return
        raise _error("delete", ref, err) from err
    except (APITimeoutError, httpx.HTTPError) as err:
        raise _error("delete", ref, err) from err
    metrics.API_WRITES.labels(verb="delete", kind=ref.kind).inc()


async def get(api: Api, ref: ObjectRef) -> dict[str, Any] | None:
    """Read one object; None when it does not exist."""
    try:
        async with api.call_api("GET", **_url(ref)) as resp:
            return resp.json()
    except ServerError as err:
        if err.response is not None and err.response.status_code == 404:
            return None
        raise _error("read", ref, err) from err
    except (APITimeoutError, httpx.HTTPError) as err:
        raise _error("read", ref, err) from err
