"""Reading the controller's usage record, ConfigMap ``dask-kubeflow-usage`` (pure).

The controller (controller/usage.py, accounting.py) writes it; ``dask-kubeflow usage`` and the
gateway's clusters page read it here, so the format is read in one place. ``data`` holds ``period``
(YYYY-MM, UTC), ``usage`` (JSON ``{"<cluster>/<component>": [core-seconds, GiB-seconds]}``),
``coreHours``, ``budget`` (ok | warning | exceeded | "") and, with a tier budget, ``budgetCoreHours``
and ``budgetMessage`` (the sentence users read, naming whom to ask).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["usage_rows", "budget_of", "namespace_totals"]


def usage_rows(namespace: str, data: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per cluster and component of a usage record."""
    try:
        usage = json.loads(data.get("usage") or "{}")
    except ValueError:
        usage = {}
    rows = []
    for key, (cores, gib) in sorted(usage.items()):
        cluster, _, component = key.partition("/")
        rows.append({"namespace": namespace, "period": data.get("period", ""), "cluster": cluster,
                     "component": component, "coreSeconds": round(float(cores), 1),
                     "memoryGiBSeconds": round(float(gib), 1), "coreHours": round(float(cores) / 3600, 4)})
    return rows


def budget_of(namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The record's budget line."""
    return {"namespace": namespace, "period": data.get("period", ""), "coreHours": float(data.get("coreHours") or 0),
            "budgetCoreHours": data.get("budgetCoreHours", ""), "budget": data.get("budget", ""),
            "message": data.get("budgetMessage", "")}


def namespace_totals(namespace: str, data: Mapping[str, str] | None) -> dict[str, Any] | None:
    """This month's totals of a namespace (core-hours, GiB-hours) and its budget line; None without a record."""
    if data is None:
        return None
    rows = usage_rows(namespace, data)
    line = budget_of(namespace, data)
    core_hours = line["coreHours"] if data.get("coreHours") else sum(r["coreSeconds"] for r in rows) / 3600
    return {**line, "coreHours": round(core_hours, 3),
            "memoryGiBHours": round(sum(r["memoryGiBSeconds"] for r in rows) / 3600, 3)}
