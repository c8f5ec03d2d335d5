"""List pagination (``limit`` / ``continue``), as the API server does it.

A page ends after ``limit`` objects; its ``metadata.continue`` token names where the next page starts and
the resourceVersion of the first page, which every later page reports too, so a client that watches from
it afterwards is replayed every change made while it was paging (the store keeps the event log). Unlike
etcd, later pages read the current state rather than a snapshot: an object changed between pages shows
its newer version (and comes again as MODIFIED in the watch) — harmless for informers. A malformed token
is a 400, as on a real server; tokens never expire here (no 410 for compaction).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from . import errors

Obj = dict[str, Any]


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", "") or "", meta["name"])


def _decode(token: str) -> tuple[str, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError):
        raise errors.bad_request("continue key is not valid: the token was not returned by this server") from None


def _encode(rv: str, last: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": list(last)}).encode()).decode()


def page(items: list[Obj], rv: str, params: dict[str, str]) -> tuple[list[Obj], dict[str, Any]]:
    """The page of ``items`` (sorted by namespace, name) that ``params`` asks for, and its list metadata."""
    token = params.get("continue") or ""
    if token:
        rv, after = _decode(token)
        items = [o for o in items if _key(o) > after]
    try:
        limit = int(params.get("limit") or 0)
    except ValueError:
        raise errors.bad_request(f"limit: Invalid value: {params.get('limit')!r}: must be an integer") from None
    meta: dict[str, Any] = {"resourceVersion": rv}
    if 0 < limit < len(items):
        meta["continue"] = _encode(rv, _key(items[limit - 1]))
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return items, meta
