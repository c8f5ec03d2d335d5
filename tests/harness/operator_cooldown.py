"""Harness setting loaded next to the upstream operator (`kopf run ... -m <this module>`): a shorter
autoscaler cooldown than the upstream's hard-coded 15 seconds, so tests that watch a DaskAutoscaler
go 0 -> max -> 0 do not spend a minute waiting between scale steps.

How upstream does it (dask-kubernetes 2026.3.0, `daskautoscaler_adapt`, a `@kopf.timer` every 5 s):
after each change of the worker count it writes the annotation `kubernetes.dask.org/cooldown-until`
= now + 15 on the DaskAutoscaler, and on every tick it re-reads the DaskAutoscaler and skips while
that time is in the future. The cooldown lives in the API object, so this module shortens it from
the outside, the way `operator_backports` backports #977: when a DaskAutoscaler's annotation lies
more than DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN (+1) seconds ahead, it is the upstream's fresh
15 s and is rewritten to set-time + that cooldown (set-time = annotation - 15, when upstream wrote
it; an event that arrives too late to matter is left alone). Everything else -- the timer, the 25 %
scale-down limit, asking the scheduler for its adaptive target -- stays the upstream's code.

`UpstreamOperator(autoscaler_cooldown=None)` (and, for the stack fixture, a test module's
`AUTOSCALER_COOLDOWN_SECONDS = None`) runs the operator without this module: the upstream default.
"""

from __future__ import annotations

import os
import time
from typing import Any

import kopf
import kr8s
from kr8s.asyncio.objects import new_class

COOLDOWN_ENV = "DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN"
COOLDOWN_ANNOTATION = "kubernetes.dask.org/cooldown-until"
UPSTREAM_COOLDOWN_SECONDS = 15.0  # `cooldown_until = time.time() + 15` in daskautoscaler_adapt

DaskAutoscaler = new_class("DaskAutoscaler", "kubernetes.dask.org/v1", namespaced=True)


def shortened(annotation: str | None, cooldown: float, now: float) -> float | None:
    """The cooldown-until time to write instead of `annotation`, or None to leave it as it is.

    Only an annotation that still lies more than `cooldown` (+1 s) ahead is the upstream's own 15 s:
    it becomes set-time + `cooldown`. One already shortened (or nearly over) is left alone, so the
    watch event of this module's own patch changes nothing."""
    try:
        until = float(annotation) if annotation is not None else None
    except ValueError:
        return None
    if until is None or until - now <= cooldown + 1.0:
        return None
    return until - UPSTREAM_COOLDOWN_SECONDS + cooldown


@kopf.on.event("daskautoscaler.kubernetes.dask.org")
async def daskautoscaler_shorter_cooldown(
    body: kopf.Body, name: str | None, namespace: str | None, type: str | None, logger: kopf.Logger, **__: Any
) -> None:
    """Rewrite the upstream's 15 s cooldown-until annotation to the harness's cooldown."""
    if type == "DELETED" or not name or not namespace:
        return
    cooldown = float(os.environ.get(COOLDOWN_ENV, UPSTREAM_COOLDOWN_SECONDS))
    until = shortened(body.metadata.annotations.get(COOLDOWN_ANNOTATION), cooldown, time.time())
    if until is None:
        return
    autoscaler = await DaskAutoscaler({"metadata": {"name": name, "namespace": namespace}})
    try:
        await autoscaler.patch({"metadata": {"annotations": {COOLDOWN_ANNOTATION: str(until)}}})
    except kr8s.NotFoundError:
        return  # deleted meanwhile: nothing left to cool down
    logger.info("Harness: autoscaler cooldown of %s shortened to %.1f s (%s=%s).", name, cooldown, COOLDOWN_ENV, cooldown)
