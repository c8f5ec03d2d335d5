"""`kubectl get` tables (`Accept: ...;as=Table;g=meta.k8s.io`): Name, the CRD's additionalPrinterColumns
(simple `.a.b` JSON paths), and Age, so kubectl prints what it prints on a real cluster (mostly)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        born = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    s = max(0, int((datetime.now(UTC) - born).total_seconds()))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    return f"{h // 24}d"


def _json_path(obj: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _columns(rt: ResourceType, version: str) -> list[dict[str, Any]]:
    return [c for c in rt.printer_columns.get(version, []) if c.get("jsonPath") != ".metadata.creationTimestamp"]


def table(rt: ResourceType, version: str, objects: list[dict[str, Any]], resource_version: str,
          include_object: bool) -> dict[str, Any]:
    extra = _columns(rt, version)
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [{"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": c.get("priority", 0)} for c in extra]
    definitions.append({"name": "Age", "type": "date", "format": "", "description": "Age", "priority": 0})
    rows = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        cells: list[Any] = [meta.get("name")]
        cells += [_json_path(obj, c["jsonPath"]) for c in extra]
        cells.append(_age(meta.get("creationTimestamp")))
        row: dict[str, Any] = {"cells": cells}
        if include_object:
            row["object"] = obj
        else:
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
