"""The controller's per-namespace status record: ConfigMap ``dask-kubeflow-status`` (pure).

The controller writes it; ``dask-kubeflow status``, ``doctor``, connect() and the gateway read it
(users may read ConfigMaps in their own namespace; they cannot read the controller's logs). Both
sides use this module, so the format is defined once and readers need not import the controller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .names import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, STATUS_CONFIGMAP

__all__ = ["FIELDS", "status_data", "status_body", "unchanged", "from_configmap", "exceeded_lines"]

# What the record says; a write happens only when one of these changes.
FIELDS = ("phase", "tier", "message", "lastError", "objects", "contributors", "policy", "exceeded")


def status_data(*, phase: str, tier: str, message: str, last_error: str, objects: list[str],
                contributors: tuple[str, ...], policy: str,
                exceeded: Sequence[Mapping[str, str]] = ()) -> dict[str, str]:
    """``exceeded``: user clusters above the tier (``admission.Exceedance.as_dict``: cluster, limit,
    message), kept as a JSON list; absent when there are none (so older records read as unchanged)."""
    data = {
        "phase": phase,
        "tier": tier,
        "message": message,
        "lastError": last_error,
        "objects": ",".join(sorted(objects)),
        "contributors": ",".join(contributors),
        "policy": policy,
    }
    if exceeded:
        data["exceeded"] = json.dumps([dict(e) for e in exceeded], separators=(",", ":"))
    return data


def _exceeded(text: str) -> list[dict[str, str]]:
    try:
        items = json.loads(text) if text else []
    except ValueError:
        return [{"cluster": "?", "limit": "?", "message": text}]  # written by hand: show it as it is
    return [{k: str(i.get(k, "")) for k in ("cluster", "limit", "message")} for i in items if isinstance(i, dict)]


def exceeded_lines(record: Mapping[str, Any] | None) -> list[str]:
    """One line per user cluster above the tier, for ``status`` and ``doctor`` (none: no lines)."""
    return [str(e.get("message") or "") for e in (record or {}).get("exceeded") or ()]


def status_body(namespace: str, data: dict[str, str], now: str) -> dict[str, Any]:
    """The ConfigMap manifest carrying ``data`` (``now``: RFC 3339 time of this transition)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": STATUS_CONFIGMAP,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "status"},
        },
        "data": {**data, "lastTransitionTime": now},
    }


def unchanged(live: dict[str, Any] | None, data: dict[str, str]) -> bool:
    old = (live or {}).get("data") or {}
    return live is not None and all(old.get(k, "") == data.get(k, "") for k in FIELDS)


def from_configmap(namespace: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """What the record says about ``namespace`` (``body`` None: there is no record)."""
    if body is None:
        return {
            "namespace": namespace, "managed": False, "phase": "NotManaged", "tier": "", "lastError": "",
            "lastTransitionTime": "", "objects": [], "contributors": [], "policy": "", "exceeded": [],
            "message": (f"no {STATUS_CONFIGMAP} ConfigMap in namespace {namespace}: it has no Kubeflow Profile, "
                        f"or the dask-kubeflow controller is not running (check its Deployment in the "
                        f"namespace dask-kubeflow is installed in)"),
        }
    data = body.get("data") or {}
    phase = data.get("phase", "")
    return {
        "namespace": namespace,
        "managed": phase in ("Ready", "Error"),
        "phase": phase,
        "tier": data.get("tier", ""),
        "message": data.get("message", ""),
        "lastError": data.get("lastError", ""),
        "lastTransitionTime": data.get("lastTransitionTime", ""),
        "objects": [o for o in data.get("objects", "").split(",") if o],
        "contributors": [c for c in data.get("contributors", "").split(",") if c],
        "policy": data.get("policy", ""),
        # User clusters above the tier (a lowered policy): [{cluster, limit, message}] (admission/exceeded.py).
        "exceeded": _exceeded(data.get("exceeded", "")),
        # Hibernation (controller/hibernation.py): Hibernated | Waking | Awake, absent until a first hibernation.
        "lifecycle": data.get("lifecycle", ""),
        "lifecycleMessage": data.get("lifecycleMessage", ""),
        "lifecycleSince": data.get("lifecycleSince", ""),
    }
