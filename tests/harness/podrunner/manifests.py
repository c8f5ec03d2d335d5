"""Objects the pod runner writes, built from what it reads (pure functions)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from .status import NODE_NAME, timestamp


def owner_uid(obj: Mapping[str, Any]) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return "".join(c for c in digest if c in "bcdfghjklmnpqrstvwxz2456789")[:10] or digest[:10]


def status_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning status `old` into `new` (keys that went away are nulled)."""
    patch = dict(new)
    for key in old or {}:
        if key not in new:
            patch[key] = None
    return patch


def pod_for_deployment(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """A Pod from a Deployment's template, owned by the Deployment (the ReplicaSet step is skipped)."""
    meta = deployment["metadata"]
    template = deployment.get("spec", {}).get("template", {})
    tmeta = template.get("metadata", {})
    pod_hash = template_hash(template)
    spec = json.loads(json.dumps(template.get("spec", {})))
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec["nodeName"] = NODE_NAME
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}-{secrets.token_hex(3)[:5]}",
            "namespace": meta["namespace"],
            "labels": {**(tmeta.get("labels") or {}), "pod-template-hash": pod_hash},
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def container_event(
    *, namespace: str, pod: str, pod_uid: str, container: str, reason: str, message: str, now: float
) -> dict[str, Any]:
    """A Warning Event about a container, shaped as the kubelet posts it."""
    stamp = timestamp(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": namespace, "uid": pod_uid,
            "fieldPath": f"spec.containers{{{container}}}",
        },
        "reason": reason,
        "message": message,
        "type": "Warning",
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": "kubelet", "host": NODE_NAME},
        "reportingComponent": "kubelet",
        "reportingInstance": NODE_NAME,
    }
