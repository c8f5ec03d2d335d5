"""The hibernation loop: look at each namespace's managed cluster, hibernate or wake it (I/O edge).

Decisions are ``lifecycle.decide`` (pure). This module gathers its inputs from the informer's caches
(the DaskCluster's annotations, Dask pods, notebooks, DaskJobs) plus, for a cluster that looks idle,
one HTTP request to the scheduler's ``/json/counts.json`` (connected clients), and carries out the
action: scale the upstream operator's scheduler Deployment, annotate the DaskCluster, record the
state in the status ConfigMap (keys ``lifecycle``, ``lifecycleMessage``, ``lifecycleSince``), post an
Event. Wake triggers (a notebook pod or Notebook appearing, a DaskJob, the wake-requested
annotation) are looked at at once; idle timers every ``interval`` seconds.

The idle timer is the DaskCluster's ``dask.kubeflow.org/idle-since`` annotation (written when the
cluster is first seen idle, removed when it is used): a restarted controller resumes the countdown.
A wake a user waits for also starts the first worker (``first_worker.FirstWorker``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import aiohttp
from kr8s.asyncio.objects import Deployment

from ..kube.errors import API_ERRORS, from_exception
from ..kube.names import (
    DASHBOARD_PORT,
    HIBERNATED_ANNOTATION,
    IDLE_SINCE_ANNOTATION,
    OPT_OUT_LABEL,
    STATUS_CONFIGMAP,
    WAKE_REQUESTED_ANNOTATION,
    gateway_prefix,
    scheduler_host,
    scheduler_service,
)
from ..kube.resources import DASK_API, ConfigMap, DaskCluster
from ..policy import NamespaceFacts, resolve
from . import lifecycle_metrics as metrics
from .activity import DASK_JOBS, DASK_PODS, NOTEBOOK_PODS, NOTEBOOKS, PodFacts
from .clock import Clock, rfc3339
from .events import post_event
from .first_worker import FirstWorker
from .lifecycle import (
    AWAKE,
    HIBERNATED,
    OPERATOR_COOLDOWN,
    WAKING,
    Action,
    Activity,
    Decision,
    decide,
    first_workers,
    idle_mark,
    idle_since,
)


class Controller(Protocol):
    """What the loop reads of the engine's ``Controller`` (its caches, policy and API client)."""

    api: Any
    policy: Any
    informer: Any

    def inputs(self, namespace: str) -> Any: ...

    def live(self, namespace: str) -> dict[Any, dict[str, Any]]: ...

    def known_namespaces(self) -> set[str]: ...

    def enqueue(self, namespace: str | None, delay: float = 0.0) -> None: ...

__all__ = ["Hibernation", "scheduler_clients"]

log = logging.getLogger("dask_kubeflow.controller")
_PROBE_TIMEOUT = 3.0
_CONCURRENT = 16


async def scheduler_clients(http: aiohttp.ClientSession, namespace: str, cluster: str, domain: str = "") -> int | None:
    """Dask clients connected to the scheduler (its dashboard's counts), None if it did not answer."""
    host = scheduler_host(namespace, cluster, domain) if domain else f"{scheduler_service(cluster)}.{namespace}"
    url = f"http://{host}:{DASHBOARD_PORT}{gateway_prefix(namespace, cluster)}/json/counts.json"
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=_PROBE_TIMEOUT)) as response:
            if response.status != 200:
                return None
            counts = await response.json(content_type=None)
        clients = int(counts["clients"])
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError, TypeError, KeyError):
        return None
    return max(0, clients - 1)  # the scheduler's own "fire-and-forget" client is always there


class Hibernation:
    def __init__(self, controller: Controller, clock: Clock, interval: float) -> None:
        self.controller, self.clock, self.interval = controller, clock, interval
        # The idle-since annotation as last written or seen, per namespace: the controller is its only writer,
        # so this is right even before the watch brings back our own write (the cache may lag a moment).
        self._idle: dict[str, str | None] = {}
        # Held until the next look at the latest (a sweep every ``interval``), at least the operator's own pause.
        self.first = FirstWorker(controller.api, hold=max(OPERATOR_COOLDOWN, interval + 5.0))
        self._pending: set[str] = set()
        self._wakeup = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._swept = False
        self.decisions: dict[str, Decision] = {}

    def nudge(self, namespace: str) -> None:
        """Something a wake may depend on changed in ``namespace``: look at it soon."""
        self._pending.add(namespace)
        self._wakeup.set()

    async def run(self) -> None:
        informer = self.controller.informer
        assert informer is not None
        await informer.synced.wait()
        self._http = aiohttp.ClientSession()
        try:
            while True:
                thorough = True  # a nudged namespace, or the first sweep after a start: look at everything
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.interval)
                    namespaces, self._pending = self._pending, set()
                except TimeoutError:
                    namespaces, thorough = self.controller.known_namespaces(), not self._swept
                    self._swept = True
                self._wakeup.clear()
                await self._check_all(sorted(namespaces), thorough)
        finally:
            await self._http.close()

    async def _check_all(self, namespaces: list[str], thorough: bool) -> None:
        limit = asyncio.Semaphore(_CONCURRENT)

        async def one(namespace: str) -> None:
            async with limit:
                try:
                    await self.check(namespace, thorough)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one namespace's surprise must not stop the loop
                    log.exception("namespace %s: hibernation check failed; will look again", namespace)

        await asyncio.gather(*(one(ns) for ns in namespaces))

    def _managed_cluster(self, namespace: str, thorough: bool = True) -> tuple[Any, dict[str, Any]] | None:
        """The namespace's shape and live managed DaskCluster, when hibernation concerns it. Cheap for
        the common case (a tier without hibernation, never hibernated): no render, no unpacking."""
        controller = self.controller
        policy = controller.policy.policy if controller.policy else None
        inputs = controller.inputs(namespace)
        if policy is None or inputs.profile is None or inputs.namespace is None:
            return None
        labels = dict(inputs.namespace.labels)
        if labels.get(OPT_OUT_LABEL, "").lower() == "true":
            return None
        facts = NamespaceFacts(name=namespace, labels=labels, owner=inputs.profile.owner or inputs.namespace.owner,
                               contributors=inputs.contributors)
        shape = resolve(policy, facts)
        known = self.decisions.get(namespace)
        if not thorough and shape.settings.lifecycle.hibernate_seconds is None and (
                known is None or known.state == AWAKE) and not self._idle.get(namespace):
            return None  # hibernation off here, and the first sweep found nothing of ours to undo
        if not shape.settings.enabled:
            return None
        for ref, obj in controller.live(namespace).items():
            if ref.kind == "DaskCluster" and ref.name == shape.settings.cluster_name:
                return shape, obj
        return None

    async def _activity(self, namespace: str, shape: Any, cluster: dict[str, Any]) -> Activity:
        informer = self.controller.informer
        assert informer is not None and self._http is not None
        name = shape.settings.cluster_name
        annotations = (cluster.get("metadata") or {}).get("annotations") or {}
        pods: list[PodFacts] = [p for p in informer.items(DASK_PODS, namespace) if p.cluster == name]
        workers = sum(1 for p in pods if p.component == "worker" and p.phase not in ("Succeeded", "Failed"))
        notebooks = len(informer.items(NOTEBOOK_PODS, namespace)) + len(informer.items(NOTEBOOKS, namespace))
        jobs = len(informer.items(DASK_JOBS, namespace))
        hibernated = HIBERNATED_ANNOTATION in annotations
        after = shape.settings.lifecycle.hibernate_seconds
        clients: int | None = 0
        if not hibernated and after is not None and not (workers or notebooks or jobs):
            schedulers = [p for p in pods if p.component == "scheduler"]
            # No ready scheduler (starting, failing, or not made yet): not known to be idle.
            clients = await scheduler_clients(self._http, namespace, name) if any(p.ready for p in schedulers) else None
        now = self.clock.now()
        # Idle since the annotation says (it survives a restart), else since now: never hibernated early.
        last = idle_since(self._idle_mark(namespace, annotations), now)
        return Activity(hibernate_after=None if after is None else float(after), hibernated=hibernated,
                        wake_requested=WAKE_REQUESTED_ANNOTATION in annotations,
                        last_activity=last, workers=workers,
                        clients=clients, notebooks=notebooks, jobs=jobs, now=now)

    async def check(self, namespace: str, thorough: bool = True) -> Decision | None:
        found = self._managed_cluster(namespace, thorough)
        if found is None:
            self._idle.pop(namespace, None)
            self.first.forget(namespace)
            return None
        shape, cluster = found
        activity = await self._activity(namespace, shape, cluster)
        decision = decide(activity)
        previous = self.decisions.get(namespace)
        self.decisions[namespace] = decision
        if previous is None or (previous.state, previous.busy) != (decision.state, decision.busy):
            log.debug("namespace %s: lifecycle %s: %s", namespace, decision.state, decision.reason)
        name = shape.settings.cluster_name
        if decision.action is Action.HIBERNATE:
            await self._hibernate(namespace, name, cluster, decision)
        elif decision.action is Action.WAKE:
            await self._wake(namespace, shape, cluster, decision)
        else:
            await self._mark(namespace, name, cluster, decision, activity)
        await self._record_if_changed(namespace, name, decision, activity)
        self.first.resume(namespace, (cluster.get("metadata") or {}).get("annotations") or {})
        if self.first.warming(namespace):
            await self.first.look(namespace, name, self._ready(namespace, name))
        if previous is None or previous.state != decision.state:
            metrics.HIBERNATED.set(sum(1 for d in self.decisions.values() if d.state == HIBERNATED))
        return decision

    async def _record_if_changed(self, namespace: str, name: str, decision: Decision, activity: Activity) -> None:
        """Status says Hibernated, Waking (until the scheduler is ready) or Awake — written only when
        that changes, and never in a namespace that has not hibernated yet (no write per resync)."""
        recorded = self._recorded_state(namespace)
        state = decision.state
        if state == AWAKE and recorded in (HIBERNATED, WAKING) and not self._scheduler_ready(namespace, name):
            state = WAKING
        if state == recorded or (recorded == "" and state == AWAKE):
            return
        try:
            await self._record(namespace, Decision(decision.action, decision.reason, state, None), activity.now)
        except API_ERRORS as err:
            log.warning("namespace %s: could not record %s in its status (%s)", namespace, state,
                        from_exception(err, verb="patch", resource="configmaps", namespace=namespace))

    def _recorded_state(self, namespace: str) -> str:
        for ref, obj in self.controller.live(namespace).items():
            if ref.kind == "ConfigMap" and ref.name == STATUS_CONFIGMAP:
                return str((obj.get("data") or {}).get("lifecycle", ""))
        return ""

    def _ready(self, namespace: str, name: str) -> tuple[bool, bool]:
        """Is a scheduler pod, and a worker pod, of the cluster Ready?"""
        informer = self.controller.informer
        assert informer is not None
        ready = {p.component for p in informer.items(DASK_PODS, namespace) if p.cluster == name and p.ready}
        return "scheduler" in ready, "worker" in ready

    def _scheduler_ready(self, namespace: str, name: str) -> bool:
        return self._ready(namespace, name)[0]

    def _idle_mark(self, namespace: str, annotations: dict[str, str]) -> str | None:
        return self._idle[namespace] if namespace in self._idle else annotations.get(IDLE_SINCE_ANNOTATION)

    async def _mark(self, namespace: str, name: str, cluster: dict[str, Any], decision: Decision,
                    activity: Activity) -> None:
        """Keep the idle-since annotation (the idle timer in Kubernetes), and answer a wake request."""
        current = self._idle_mark(namespace, (cluster.get("metadata") or {}).get("annotations") or {})
        changes: dict[str, str | None] = {}
        if activity.wake_requested:  # awake already: the request is answered
            changes[WAKE_REQUESTED_ANNOTATION] = None
        mark = idle_mark(decision, current, activity.now)
        if mark is not None:
            changes[IDLE_SINCE_ANNOTATION] = mark or None
        if changes:
            try:
                await self._annotate(namespace, name, changes)
            except API_ERRORS as err:
                log.warning("namespace %s: could not annotate %s (%s); will look again", namespace, name,
                            from_exception(err, verb="patch", resource="daskclusters", namespace=namespace))
                return
        self._idle[namespace] = current if mark is None else (mark or None)

    async def _scale_scheduler(self, namespace: str, cluster: str, replicas: int) -> None:
        deployment = Deployment({"metadata": {"name": scheduler_service(cluster), "namespace": namespace}},
                                api=self.controller.api)
        await deployment.patch({"spec": {"replicas": replicas}})

    async def _annotate(self, namespace: str, cluster: str, annotations: dict[str, str | None]) -> None:
        obj = DaskCluster({"apiVersion": DASK_API, "kind": "DaskCluster",
                           "metadata": {"name": cluster, "namespace": namespace}}, api=self.controller.api)
        await obj.patch({"metadata": {"annotations": annotations}})

    async def _record(self, namespace: str, decision: Decision, now: float) -> None:
        status = ConfigMap({"metadata": {"name": STATUS_CONFIGMAP, "namespace": namespace}}, api=self.controller.api)
        await status.patch({"data": {"lifecycle": decision.state, "lifecycleMessage": decision.reason,
                                     "lifecycleSince": rfc3339(now)}})

    async def _event(self, namespace: str, cluster: dict[str, Any], reason: str, message: str) -> None:
        meta = cluster.get("metadata") or {}
        involved = {"apiVersion": DASK_API, "kind": "DaskCluster", "name": meta.get("name"),
                    "namespace": namespace, "uid": meta.get("uid", "")}
        await post_event(self.controller.api, involved=involved, namespace=namespace, reason=reason, message=message)

    async def _hibernate(self, namespace: str, name: str, cluster: dict[str, Any], decision: Decision) -> None:
        now = self.clock.now()
        try:
            await self._scale_scheduler(namespace, name, 0)
            await self._annotate(namespace, name, {HIBERNATED_ANNOTATION: rfc3339(now), IDLE_SINCE_ANNOTATION: None})
        except API_ERRORS as err:
            log.warning("namespace %s: could not hibernate %s (%s); will look again", namespace, name,
                        from_exception(err, verb="patch", resource="deployments", namespace=namespace))
            return
        self._idle[namespace] = None
        metrics.LIFECYCLE.labels(action="hibernate").inc()
        log.info("namespace %s: hibernated %s: %s", namespace, name, decision.reason)
        await self._event(namespace, cluster, "Hibernated", f"Dask cluster {name} hibernated ({decision.reason}); "
                          f"its scheduler starts again when a notebook starts, on connect(), on its dashboard "
                          f"URL, or with `dask-kubeflow cluster wake`")

    async def _wake(self, namespace: str, shape: Any, cluster: dict[str, Any], decision: Decision) -> None:
        name = shape.settings.cluster_name
        try:
            await self._scale_scheduler(namespace, name, 1)
            await self._annotate(namespace, name, {HIBERNATED_ANNOTATION: None, WAKE_REQUESTED_ANNOTATION: None,
                                                   IDLE_SINCE_ANNOTATION: None})
            self._idle[namespace] = None
        except API_ERRORS as err:
            log.warning("namespace %s: could not wake %s (%s); will look again", namespace, name,
                        from_exception(err, verb="patch", resource="deployments", namespace=namespace))
            return
        metrics.LIFECYCLE.labels(action="wake").inc()
        log.info("namespace %s: woke %s: %s", namespace, name, decision.reason)
        if decision.warm:  # someone is waiting: the first worker starts with the scheduler
            clamp = self.controller.inputs(namespace).max_workers  # the budget's clamp (None: none)
            await self.first.start(namespace, name, first_workers(shape.settings.scaling.maximum, clamp))
        await self._event(namespace, cluster, "Woken", f"Dask cluster {name} is starting again: {decision.reason}")
