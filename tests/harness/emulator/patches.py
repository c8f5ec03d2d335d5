"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximated strategic merge patch.

Strategic merge patch is approximated: it is a merge patch, except that lists of objects whose items
all carry a merge key (`name`, `containerPort`, `port`, `mountPath`, `ip`, `type`) are merged item by
item on that key, and the directives `$patch: delete|replace`, `$setElementOrder/<field>`,
`$deleteFromPrimitiveList/<field>` and `$retainKeys` are honoured. Kubernetes' per-field merge keys
and patch strategies (from the Go types) are not consulted.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from .errors import ApiError, bad_request

MERGE_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip", "type", "topologyKey")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, `null` deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902. A failed `test` or a bad path is 422, as the API server answers."""
    if not isinstance(operations, list):
        raise bad_request("json patch body must be a JSON array of operations")
    try:
        return jsonpatch.apply_patch(target, operations, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}")
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}")


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in MERGE_KEYS:
        if all(key in i for i in items if i.get("$patch") != "replace"):
            return key
    return None


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    deletions = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$deleteFromPrimitiveList/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, orders.get(key))
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    for key, values in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: list[Any], patch: list[Any], order: list[Any] | None) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    key = _merge_key(patch)
    if key is None or not all(isinstance(i, dict) and key in i for i in current):
        return copy.deepcopy(patch)
    merged: dict[Any, Any] = {i[key]: i for i in current}
    for item in patch:
        if item.get("$patch") == "delete":
            merged.pop(item[key], None)
            continue
        merged[item[key]] = strategic_merge_patch(merged.get(item[key]), item)
    if order:
        wanted = [o.get(key) for o in order if isinstance(o, dict)]
        ranked = {k: i for i, k in enumerate(wanted)}
        return sorted(merged.values(), key=lambda i: ranked.get(i[key], len(ranked)))
    return list(merged.values())
