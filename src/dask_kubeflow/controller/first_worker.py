"""A wake's first worker (I/O edge of ``lifecycle.first_workers`` and ``lifecycle.autoscaler_hold``).

A hibernated cluster has no worker, so without this the first task of a woken cluster waits for the
upstream autoscaler (a 5 s timer that skips while the scheduler is not Ready, then a worker pod start).
A wake a user is waiting for therefore also starts one worker, in parallel with the scheduler (a Dask
worker retries the scheduler's address until it answers), with two writes that do not fight the
upstream operator (dask-kubernetes 2026.3, ``controller.py``):

1. ``spec.worker.replicas`` of the default DaskWorkerGroup ``<cluster>-default`` from 0 to 1, as a JSON
   patch whose ``test`` operation makes it apply only while the group is still at 0 (never lowers or
   overrides anyone's count). This is the very field the autoscaler writes (``worker_group.scale``);
   the operator's ``daskworkergroup_replica_update`` handler creates the worker Deployment as it does
   for the autoscaler. The admission webhook lets the controller's own account scale the managed
   group within the tier's maximum (``admission/protect.py``).
2. the DaskAutoscaler's ``kubernetes.dask.org/cooldown-until`` — the operator's own pause between its
   scale steps, which it re-reads on every tick — so that its first tick after the scheduler is Ready
   does not scale the group back to 0 before the worker has connected (the scheduler, asked for its
   adaptive target, counts only connected workers; and a scale-down that finds no worker to retire
   leaves the worker's Deployment behind with the group at 0). It is rewritten while scheduler or
   worker are still starting, then set once to 15 s after both are Ready (what the autoscaler gives
   itself after a step of its own), at most ``WARM_LIMIT`` after the wake. After that the autoscaler is
   free: the scheduler reports the idle worker for the tier's ``scaling.idleAfter`` and the autoscaler
   scales it back to 0 as any idle worker.

The cooldown is wall-clock time (the operator compares it with its own ``time.time()``), never the
controller's settable clock. That a hold is under way, and since when, is the DaskCluster's
``dask.kubeflow.org/first-worker-since`` annotation: written once the group has its worker, removed
when the hold ends. A controller restarted mid-wake finds it (``resume``) and goes on holding, up to
``WARM_LIMIT`` after the wake as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..kube.errors import API_ERRORS, from_exception
from ..kube.names import FIRST_WORKER_SINCE_ANNOTATION, OPERATOR_COOLDOWN_ANNOTATION, default_worker_group
from ..kube.resources import DASK_API, DaskAutoscaler, DaskCluster, DaskWorkerGroup
from .lifecycle import autoscaler_hold

__all__ = ["FirstWorker"]

log = logging.getLogger("dask_kubeflow.controller")


class FirstWorker:
    def __init__(self, api: Any, hold: float, wall: Callable[[], float] = time.time) -> None:
        self.api, self.hold, self.wall = api, hold, wall
        # namespace -> (woken at, cooldown-until written, the first-worker-since value it stands for)
        self._warming: dict[str, tuple[float, float, str]] = {}
        # namespace -> the first-worker-since value this process removed: the informer's copy of the
        # DaskCluster may still show it for a moment, and that must not start the hold again.
        self._ended: dict[str, str] = {}

    def warming(self, namespace: str) -> bool:
        return namespace in self._warming

    def resume(self, namespace: str, annotations: Mapping[str, str]) -> None:
        """Pick up a hold the DaskCluster's annotation says is under way (after a controller restart)."""
        value = annotations.get(FIRST_WORKER_SINCE_ANNOTATION)
        if value is None or namespace in self._warming or self._ended.get(namespace) == value:
            return
        try:
            since = float(value)
        except ValueError:
            since = 0.0  # not ours to read: treated as long past, so the next look ends it and removes it
        log.info("namespace %s: holding the autoscaler for the first worker again (a wake at %s)", namespace, value)
        self._warming[namespace] = (since, 0.0, value)

    async def start(self, namespace: str, cluster: str, workers: int) -> bool:
        """Bring the default worker group from 0 to ``workers``; True if this did it."""
        if workers < 1 or not await self._scale_group(namespace, cluster, workers):
            return False
        log.info("namespace %s: started %d worker(s) of %s with its scheduler", namespace, workers, cluster)
        woken_at = self.wall()
        mark = f"{woken_at:.3f}"
        self._warming[namespace] = (woken_at, 0.0, mark)
        await self._since(namespace, cluster, mark)
        await self.look(namespace, cluster, (False, False))
        return True

    async def look(self, namespace: str, cluster: str, ready: tuple[bool, bool]) -> None:
        """Keep the autoscaler still while scheduler and first worker start (``ready``: their pods)."""
        warming = self._warming.get(namespace)
        if warming is None:
            return
        woken_at, written, mark = warming
        now = self.wall()
        hold = autoscaler_hold(now, woken_at, written, ready, self.hold)
        if hold.until is not None and await self._cooldown(namespace, cluster, hold.until):
            written = hold.until
        if hold.done:
            self._warming.pop(namespace, None)
            self._ended[namespace] = mark
            await self._since(namespace, cluster, None)
        else:
            self._warming[namespace] = (woken_at, written, mark)

    def forget(self, namespace: str) -> None:
        self._warming.pop(namespace, None)
        self._ended.pop(namespace, None)

    async def _scale_group(self, namespace: str, cluster: str, workers: int) -> bool:
        group = DaskWorkerGroup({"apiVersion": DASK_API, "kind": "DaskWorkerGroup",
                                 "metadata": {"name": default_worker_group(cluster), "namespace": namespace}},
                                api=self.api)
        try:
            await group.patch([{"op": "test", "path": "/spec/worker/replicas", "value": 0},
                               {"op": "replace", "path": "/spec/worker/replicas", "value": workers}], type="json")
        except API_ERRORS as err:
            problem = from_exception(err, verb="patch", resource="daskworkergroups", namespace=namespace)
            if problem.status == 422:  # the test failed: the group already has workers (its minimum, a scale)
                log.debug("namespace %s: worker group of %s already has workers; none started", namespace, cluster)
            else:
                log.warning("namespace %s: could not start the first worker of %s with its scheduler (%s); the "
                            "autoscaler starts one when work arrives", namespace, cluster, problem)
            return False
        return True

    async def _since(self, namespace: str, cluster: str, value: str | None) -> None:
        obj = DaskCluster({"apiVersion": DASK_API, "kind": "DaskCluster",
                           "metadata": {"name": cluster, "namespace": namespace}}, api=self.api)
        try:
            await obj.patch({"metadata": {"annotations": {FIRST_WORKER_SINCE_ANNOTATION: value}}})
        except API_ERRORS as err:
            log.warning("namespace %s: could not %s the first-worker mark of %s (%s); a controller restart "
                        "before the hold ends %s", namespace, "write" if value else "remove", cluster,
                        from_exception(err, verb="patch", resource="daskclusters", namespace=namespace),
                        "would not renew it" if value else "picks it up and ends it again")

    async def _cooldown(self, namespace: str, cluster: str, until: float) -> bool:
        autoscaler = DaskAutoscaler({"apiVersion": DASK_API, "kind": "DaskAutoscaler",
                                     "metadata": {"name": cluster, "namespace": namespace}}, api=self.api)
        try:
            await autoscaler.patch({"metadata": {"annotations": {OPERATOR_COOLDOWN_ANNOTATION: f"{until:.3f}"}}})
        except API_ERRORS as err:
            log.warning("namespace %s: could not hold the autoscaler of %s for its first worker (%s); it may scale "
                        "the worker away before it connects", namespace, cluster,
                        from_exception(err, verb="patch", resource="daskautoscalers", namespace=namespace))
            return False
        return True
