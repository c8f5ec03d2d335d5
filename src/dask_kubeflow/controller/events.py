"""Kubernetes Events: what users see in ``kubectl describe`` / ``kubectl get events``.

Events about a Profile (cluster-scoped) are posted in the profile's own namespace, where its
owner and contributors may read them; events about the policy go next to the policy ConfigMap.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from kr8s.asyncio import Api

from ..kube.api import create
from ..kube.errors import KubeError
from ..kube.resources import EVENT
from . import metrics

__all__ = ["post_event"]

log = logging.getLogger(__name__)
COMPONENT = "dask-kubeflow-controller"


async def post_event(
    api: Api,
    *,
    involved: dict[str, Any],
    namespace: str,
    reason: str,
    message: str,
    warning: bool = False,
) -> None:
    """Post one Event; a failure to post is logged, never raised (events are best effort)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = f"{involved.get('name', 'object')}.{uuid.uuid4().hex[:12]}"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await create(api, event, EVENT)
        metrics.API_WRITES.labels(verb="create", kind="Event").inc()
    except KubeError as problem:
        log.warning("could not post Event %s: %s (about %s/%s); events are best effort, nothing else is "
                    "affected", reason, problem, involved.get("kind"), involved.get("name"))
