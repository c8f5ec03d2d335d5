"""The running controller: a work queue of namespaces, workers that reconcile them, and the
bookkeeping around each reconcile (status ConfigMap, Events on the Profile, metrics, logs).

State lives in Kubernetes: what is wanted comes from Profiles, Namespaces, RoleBindings and the
policy ConfigMap; what is there comes from the same list-and-watch caches (``informer``). The only
memory is those caches, the queue and the not-yet-echoed writes; a restart rebuilds all of them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from kr8s.asyncio import Api

from . import metrics
from .accounting import Accounting
from .activity import ACTIVITY_SOURCES
from .clock import clock_from_env
from .hibernation import Hibernation
from .dashboard_link import keep_dashboard_link
from .events import post_event
from .informer import Informer, Source
from .livestate import LiveState
from .policy_source import PolicySource
from .reconcile import NamespaceInputs, reconcile, safe_plan
from .report import Report, Reporter
from .results import DONE, RETRY, ReconcileError, Result, TemporaryError
from .settings import ControllerSettings
from .supervisor import Supervisor
from .watched import (ALL_SOURCES, CONTRIBUTORS, COUNTED_SOURCES, MANAGED_SOURCES, NAMESPACES, PACKER, PROFILES,
                      QUOTAS)
from ..admission import Usage
from .workqueue import WorkQueue
from ..kube.names import MANAGED_BY, MANAGED_BY_LABEL
from ..kube.resources import ObjectRef

__all__ = ["Controller"]

_COUNTED = frozenset(COUNTED_SOURCES.values())


def _ours(obj: dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY

log = logging.getLogger("dask_kubeflow.controller")


class Controller:
    def __init__(self, settings: ControllerSettings) -> None:
        self.settings = settings
        self.queue = WorkQueue()
        self.live_state = LiveState()
        self.api: Api | None = None
        self.policy: PolicySource | None = None
        self.informer: Informer | None = None
        self.reporter: Reporter | None = None
        self.clock = clock_from_env(settings.clock_file)
        self.hibernation: Hibernation | None = None
        self.accounting: Accounting | None = None
        self.first_pass_done = False
        self._seen_while_busy: dict[str, list[dict[str, Any] | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.supervisor = Supervisor(self._task_died)

    # -- wiring (called from the kopf startup handler) ---------------------------------------------
    def attach(self, api: Api, watch_api: Api | None = None) -> None:
        """``watch_api``: the client the informer lists and watches with (``kube.api.get_watch_api``:
        a connection pool of its own, so the long-lived watches do not make ``api`` churn connections)."""
        self.api = api
        self.informer = Informer(watch_api or api, [*ALL_SOURCES, *ACTIVITY_SOURCES], on_change=self._changed)
        self.hibernation = Hibernation(self, self.clock, self.settings.lifecycle_interval)
        s = self.settings
        self.accounting = Accounting(self, self.clock, s.lifecycle_interval, s.usage_flush or 10 * s.lifecycle_interval)
        s = self.settings
        self.policy = PolicySource(api, s.policy_namespace, s.policy_name, s.policy_key, on_change=self.requeue_all)
        self.reporter = Reporter(api, self.live_state, lambda: self.policy.version if self.policy else "none")

    async def start(self) -> None:
        assert self.policy is not None and self.informer is not None
        try:
            await self.policy.load()
        except Exception as err:  # the policy watch keeps trying; say why nothing happens meanwhile
            log.error("cannot read the policy ConfigMap %s/%s yet (%s); retrying. Nothing is reconciled "
                      "until it is read.", self.policy.namespace, self.policy.name, err)
        # The loops that must run for as long as the controller does: supervised (a loop that dies is
        # logged, posted as an Event, takes /readyz down, and is started again with back-off).
        for i in range(self.settings.workers):
            self.supervisor.start(f"reconcile-worker-{i}", functools.partial(self._worker, i))
        self.supervisor.start("policy-watch", self.policy.watch_forever)
        self.supervisor.start("informer", self.informer.run)
        if self.hibernation is not None:
            self.supervisor.start("hibernation", self.hibernation.run)
        if self.accounting is not None:
            self.supervisor.start("usage-accounting", self.accounting.run)
        if self.settings.resync_seconds > 0:
            self.supervisor.start("periodic-resync", self._resync_forever)
        if self.settings.dashboard_link and self.api is not None:  # Kubeflow's menu item: one-shot, best effort
            self._tasks.append(asyncio.create_task(keep_dashboard_link(self.api, self.settings.dashboard_link),
                                                   name="dashboard-link"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.supervisor.stop()

    async def _task_died(self, name: str, message: str) -> None:
        """An Event next to the policy ConfigMap (the controller's one well-known object)."""
        if self.api is None:
            return
        s = self.settings
        await post_event(self.api, namespace=s.policy_namespace, reason="ControllerTaskFailed", warning=True,
                         involved={"apiVersion": "v1", "kind": "ConfigMap", "name": s.policy_name,
                                   "namespace": s.policy_namespace}, message=message)

    # -- what to look at ---------------------------------------------------------------------------
    def has_managed(self, namespace: str) -> bool:
        return self.informer is not None and any(self.informer.has(s, namespace) for s in MANAGED_SOURCES)

    def has_profile(self, namespace: str) -> bool:
        return self.informer is not None and self.informer.has(PROFILES, namespace)

    def known_namespaces(self) -> set[str]:
        """Profile namespaces plus every namespace holding an object of ours (maybe orphaned)."""
        if self.informer is None:
            return set()
        names = self.informer.namespaces(PROFILES)
        for source in MANAGED_SOURCES:
            names |= self.informer.namespaces(source)
        return names

    def enqueue(self, namespace: str | None, delay: float = 0.0) -> None:
        if namespace:
            self.queue.add(namespace, delay)
            metrics.QUEUE_DEPTH.set(len(self.queue))

    def _changed(self, source: Source, namespace: str, obj: dict[str, Any] | None) -> None:
        if source in _COUNTED:  # kept for the webhook's count; a user's cluster also for the status record
            if (obj is None or not _ours(obj)) and self.has_profile(namespace):
                self.enqueue(namespace)  # added, scaled or deleted: is it still within the tier?
            return
        if source in ACTIVITY_SOURCES or (source in MANAGED_SOURCES and source.cls.kind == "DaskCluster"):
            if self.hibernation is not None and self.informer is not None and self.informer.synced.is_set():
                self.hibernation.nudge(namespace)  # pods, notebooks, DaskJobs, the DaskCluster's annotations
            if source in ACTIVITY_SOURCES:
                return  # never a reason to reconcile the namespace's objects
        if source in MANAGED_SOURCES:
            self.managed_changed(namespace, obj)
        elif source is PROFILES or self.has_profile(namespace) or self.has_managed(namespace):
            self.enqueue(namespace)

    def managed_changed(self, namespace: str, obj: dict[str, Any] | None) -> None:
        """One of our objects changed. The echo of a write we just made is no reason to look again;
        while the namespace is being reconciled the echo may even arrive before the write returns,
        so decide when that reconcile is done."""
        if self.queue.is_processing(namespace):
            self._seen_while_busy.setdefault(namespace, []).append(obj)
        elif obj is None or not self.live_state.is_echo(obj):
            self.enqueue(namespace)

    def _after(self, namespace: str) -> None:
        for obj in self._seen_while_busy.pop(namespace, ()):
            if obj is None or not self.live_state.is_echo(obj):
                self.enqueue(namespace)

    def requeue_all(self) -> None:
        """After a policy change (and periodically): every namespace, rate-limited."""
        if self.informer is not None and self.informer.synced.is_set():
            self.queue.add_all(list(self.known_namespaces()), self.settings.reload_rate)
            metrics.QUEUE_DEPTH.set(len(self.queue))

    def why_not_ready(self) -> str | None:
        """None when ready, else why not (for /readyz). Reads state only."""
        if self.policy is None:
            return "starting"
        if down := self.supervisor.why_down():
            return f"a controller task is down ({down})"
        if reason := self.policy.why_not_ready():
            return reason
        if self.informer is None or not self.informer.synced.is_set():
            return "listing Profiles, Namespaces and the objects dask-kubeflow manages"
        if not self.first_pass_done:
            return "first pass over the profile namespaces still running"
        return None

    # -- inputs ----------------------------------------------------------------------------------
    def inputs(self, namespace: str) -> NamespaceInputs:
        assert self.informer is not None
        profile = self.informer.items(PROFILES, namespace)
        found = self.informer.items(NAMESPACES, namespace)
        return NamespaceInputs(
            name=namespace,
            profile=profile[0] if profile else None,
            namespace=found[0] if found else None,
            contributors=tuple(sorted(set(self.informer.items(CONTRIBUTORS, namespace)))),
            quotas=tuple(self.informer.items(QUOTAS, namespace)),
            max_workers=self.accounting.clamp(namespace) if self.accounting else None,
            dask=self.usage(namespace),
        )

    def usage(self, namespace: str) -> Usage | None:
        """The namespace's Dask objects as the webhook counts them, from the cache (None until synced)."""
        if self.informer is None or not self.informer.synced.is_set():
            return None
        clusters, groups, autoscalers = (tuple(self.informer.items(COUNTED_SOURCES[r], namespace))
                                         for r in ("daskclusters", "daskworkergroups", "daskautoscalers"))
        return Usage(clusters, groups, autoscalers)

    def live(self, namespace: str) -> dict[ObjectRef, dict[str, Any]]:
        assert self.informer is not None
        objects = [PACKER.unpack(packed) for source in MANAGED_SOURCES for packed in self.informer.items(source, namespace)]
        return self.live_state.view(namespace, objects)

    # -- work ------------------------------------------------------------------------------------
    async def _worker(self, number: int) -> None:
        assert self.informer is not None
        await self.informer.synced.wait()  # never decide from a half-filled cache
        self._note_idle()
        while True:
            namespace = await self.queue.get()
            result = RETRY
            try:
                result = await self.process(namespace)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the worker; the namespace is retried
                log.exception("namespace %s: unexpected error while reconciling; will retry", namespace)
                metrics.ERRORS.labels(reason="internal").inc()
            finally:
                self._after(namespace)
                self._finish(namespace, result)
            self._note_idle()

    def _finish(self, namespace: str, result: Result) -> None:
        retry = self.queue.done(namespace, failed=result.requeue)
        if result.requeue_after is not None:
            self.enqueue(namespace, delay=result.requeue_after)
        metrics.QUEUE_DEPTH.set(len(self.queue))
        if retry is not None:
            log.info("namespace %s: retrying in %.1fs (attempt %d)", namespace, retry,
                     self.queue.failures(namespace) + 1)

    def _note_idle(self) -> None:
        """The first pass is done once the queue has run dry after the caches were synced."""
        if self.queue.idle():
            self.first_pass_done = True

    async def process(self, namespace: str) -> Result:
        """Reconcile one namespace and report it; the Result says whether to look again."""
        assert self.api is not None and self.policy is not None and self.reporter is not None
        policy = self.policy.policy
        if policy is None:
            return DONE  # nothing is reconciled until a policy is valid; a good reload re-queues all
        inputs = self.inputs(namespace)
        live = self.live(namespace)
        if inputs.profile is None and not live:
            return DONE  # not a profile namespace and nothing of ours in it
        if inputs.namespace is not None and inputs.namespace.terminating:
            return DONE  # Kubernetes is deleting the namespace and everything in it
        started = time.perf_counter()
        wanted = safe_plan(inputs, policy, self.settings.platform)
        error: ReconcileError | None = None
        try:
            changes = await reconcile(self.api, self.live_state, inputs, wanted, live)
        except ReconcileError as err:
            changes, error = err.changes, err
        written = await self.reporter.report(Report(inputs, wanted, changes, error), live)
        metrics.DURATION.observe(time.perf_counter() - started)
        return RETRY if isinstance(error, TemporaryError) or not written else DONE

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            self.requeue_all()

