"""Server-side apply and `metadata.managedFields`, approximated.

What is real: `application/apply-patch+yaml` creates absent objects; field ownership is recorded per
field manager in `managedFields` (`fieldsV1` format, operation Apply/Update); applying a value another
manager owns with a different value is a 409 conflict unless `force=true` (which takes ownership);
fields a manager applied before and no longer sends are removed when nobody else owns them; writes
that are not applies (update/patch) take ownership of the fields they change.

What is approximated: every list is atomic (owned and replaced as a whole; no `x-kubernetes-list-type:
map` merging by key), maps merge recursively, ownership is tracked on leaf fields only, and the
`apiVersion` recorded in managedFields is the request's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError

Path = tuple[str, ...]

# Server-owned or identity fields that are never tracked as managed.
_UNTRACKED_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                   "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def leaves(obj: Any, prefix: Path = ()) -> Iterator[Path]:
    """Leaf field paths of an object: scalars, lists and empty maps are leaves."""
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            if not prefix and key in ("apiVersion", "kind"):
                continue
            if prefix == ("metadata",) and key in _UNTRACKED_META:
                continue
            yield from leaves(value, (*prefix, key))
    elif prefix:
        yield prefix


def changed_paths(old: Any, new: Any, prefix: Path = ()) -> Iterator[Path]:
    """Leaf paths whose value differs between two versions (added, changed or removed)."""
    if old == new:
        return
    if old is None and isinstance(new, dict):
        old = {}
    elif new is None and isinstance(old, dict):
        new = {}
    if isinstance(old, dict) and isinstance(new, dict) and (old or new):
        for key in old.keys() | new.keys():
            if not prefix and key in ("apiVersion", "kind"):
                continue
            if prefix == ("metadata",) and key in _UNTRACKED_META:
                continue
            yield from changed_paths(old.get(key), new.get(key), (*prefix, key))
    elif prefix:
        yield prefix


def get_path(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def delete_path(obj: dict[str, Any], path: Path) -> None:
    parents = [obj]
    for part in path[:-1]:
        nxt = parents[-1].get(part)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    # Drop maps left empty by the removal (the applier no longer expresses them).
    for depth in range(len(path) - 1, 0, -1):
        if parents[depth] == {}:
            parents[depth - 1].pop(path[depth - 1], None)


def deep_merge(base: Any, applied: Any) -> Any:
    if isinstance(base, dict) and isinstance(applied, dict):
        out = dict(base)
        for key, value in applied.items():
            out[key] = deep_merge(base.get(key), value)
        return out
    return copy.deepcopy(applied)


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def from_fields_v1(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, sub in fields.items():
        if key == ".":
            paths.add(prefix)
        elif key.startswith("f:"):
            child = (*prefix, key[2:])
            if isinstance(sub, dict) and any(k.startswith("f:") for k in sub):
                paths |= from_fields_v1(sub, child)
            else:
                paths.add(child)
        else:  # k:/v:/i: list item keys: the emulator treats lists as atomic
            paths.add(prefix)
    return {p for p in paths if p}


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not obj:
        return []
    return copy.deepcopy((obj.get("metadata") or {}).get("managedFields") or [])


def _owned(entry: dict[str, Any]) -> set[Path]:
    return from_fields_v1(entry.get("fieldsV1") or {})


def _set_entries(obj: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    entries = [e for e in entries if e.get("fieldsV1")]
    meta = obj.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def server_side_apply(current: dict[str, Any] | None, applied: dict[str, Any], manager: str, force: bool,
                      api_version: str, subresource: str | None = None) -> dict[str, Any]:
    """The object after `manager` applies `applied` onto `current` (None when creating)."""
    new_paths = set(leaves(applied))
    entries = _entries(current)
    mine = [e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"]
    others = [e for e in entries if not (e.get("manager") == manager and e.get("operation") == "Apply")]
    old_paths = _owned(mine[0]) if mine else set()
    base = copy.deepcopy(current) if current else {}

    conflicts: list[tuple[str, str, Path]] = []
    for path in new_paths:
        if current is not None and get_path(current, path) == get_path(applied, path):
            continue
        if get_path(applied, path) == {}:
            continue  # an empty map only asserts the map exists; it owns none of the keys inside
        for entry in others:
            if entry.get("manager") == manager:
                continue  # a manager never conflicts with its own Update
            if any(_overlaps(path, owned) for owned in _owned(entry)):
                conflicts.append((entry.get("manager", "?"), entry.get("apiVersion", ""), path))
    if conflicts and not force:
        lines = "; ".join(f'conflict with "{m}" using {v}: .{".".join(p)}' for m, v, p in sorted(set(conflicts)))
        n = len(set(conflicts))
        raise ApiError(409, "Conflict", f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {lines}",
                       {"causes": [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"',
                                    "field": "." + ".".join(p)} for m, _, p in sorted(set(conflicts))]})
    if force:  # take ownership away from the others
        for entry in others:
            kept = {o for o in _owned(entry) if not any(_overlaps(o, p) for p in new_paths)}
            entry["fieldsV1"] = to_fields_v1(kept)

    still_owned = set().union(*(_owned(e) for e in others)) if others else set()
    for path in sorted(old_paths - new_paths, key=len, reverse=True):
        if not any(_overlaps(path, o) and len(o) >= len(path) for o in still_owned):
            delete_path(base, path)

    result = deep_merge(base, applied)
    entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now(),
             "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(new_paths)}
    if subresource:
        entry["subresource"] = subresource
    _set_entries(result, [entry, *others])
    return result


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str,
                  subresource: str | None = None) -> None:
    """Give `manager` ownership of the fields a non-apply write changed (in place on `new`)."""
    entries = _entries(old) if old is not None else []
    paths = set(changed_paths(old or {}, new))
    if not paths:
        _set_entries(new, entries)
        return
    present = {p for p in paths if get_path(new, p) is not None}
    for entry in entries:
        owned = _owned(entry)
        kept = {o for o in owned if not any(_overlaps(o, p) and len(p) <= len(o) for p in paths)}
        if kept != owned:
            entry["fieldsV1"] = to_fields_v1(kept)
    mine = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Update"
                 and e.get("subresource") == subresource), None)
    if mine is None:
        mine = {"manager": manager, "operation": "Update", "apiVersion": api_version, "fieldsType": "FieldsV1"}
        if subresource:
            mine["subresource"] = subresource
        entries.append(mine)
    mine["time"] = now()
    mine["fieldsV1"] = to_fields_v1(_owned(mine) | present)
    _set_entries(new, entries)
