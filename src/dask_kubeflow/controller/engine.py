"""The running controller: a work queue of namespaces, workers that reconcile them, and the
bookkeeping around each reconcile (status ConfigMap, Events on the Profile, metrics, logs).

State lives in Kubernetes: what is wanted comes from Profiles, Namespaces, RoleBindings and the
policy ConfigMap; what is there comes from list-and-watch caches (``informer``). The
only memory is caches filled from the API, the queue and the not-yet-echoed writes; a restart
rebuilds all of them from the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from kr8s import ServerError
from kr8s._exceptions import APITimeoutError
from kr8s.asyncio import Api

from . import apply, metrics
from .events import post_event
from ..kube.resources import ObjectRef, ref_of
from .informer import Informer, Source
from .livestate import LiveState
from .policy_source import PolicySource
from .reconcile import NamespaceInputs, Outcome, reconcile
from .settings import ControllerSettings
from .status import status_data, status_ref, write_status
from .watched import ALL_SOURCES, CONTRIBUTORS, MANAGED_SOURCES, NAMESPACES, QUOTAS, profile_facts
from .workqueue import WorkQueue

__all__ = ["Controller"]

log = logging.getLogger("dask_kubeflow.controller")
_LISTING_GRACE = 5.0  # seconds


class Controller:
    def __init__(self, settings: ControllerSettings) -> None:
        self.settings = settings
        self.queue = WorkQueue()
        self.live_state = LiveState()
        self.api: Api | None = None
        self.policy: PolicySource | None = None
        self.informer: Informer | None = None
        self.profiles: dict[str, dict[str, Any]] = {}  # kept by the kopf Profile handler
        self.first_pass_done = False
        self._managed_ns: set[str] = set()
        self._failing: set[str] = set()
        self._seen_while_busy: dict[str, list[dict[str, Any] | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- wiring (called from the kopf startup handler) ---------------------------------------------
    def attach(self, api: Api) -> None:
        self.api = api
        self.informer = Informer(api, ALL_SOURCES, on_change=self._changed)
        s = self.settings
        self.policy = PolicySource(api, s.policy_namespace, s.policy_name, s.policy_key, on_change=self.requeue_all)

    async def start(self) -> None:
        assert self.policy is not None and self.informer is not None
        try:
            await self.policy.load()
        except Exception as err:  # the policy watch keeps trying; say why nothing happens meanwhile
            log.error("cannot read the policy ConfigMap %s/%s yet (%s); retrying. Nothing is reconciled "
                      "until it is read.", self.policy.namespace, self.policy.name, err)
        self._tasks = [asyncio.create_task(self._worker(i), name=f"reconcile-worker-{i}")
                       for i in range(self.settings.workers)]
        self._tasks.append(asyncio.create_task(self.policy.watch_forever(), name="policy-watch"))
        self._tasks.append(asyncio.create_task(self.informer.run(), name="informer"))
        if self.settings.resync_seconds > 0:
            self._tasks.append(asyncio.create_task(self._resync_forever(), name="periodic-resync"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # -- what to look at ---------------------------------------------------------------------------
    def has_managed(self, namespace: str) -> bool:
        return self.informer is not None and any(self.informer.has(s, namespace) for s in MANAGED_SOURCES)

    def known_namespaces(self) -> set[str]:
        """Profile namespaces plus every namespace holding an object of ours (maybe orphaned)."""
        names = set(self.profiles)
        if self.informer is not None:
            for source in MANAGED_SOURCES:
                names |= self.informer.namespaces(source)
        return names

    def enqueue(self, namespace: str | None, delay: float = 0.0) -> None:
        if namespace:
            self.queue.add(namespace, delay)
            metrics.QUEUE_DEPTH.set(len(self.queue))

    def profile_changed(self, name: str, profile: dict[str, Any] | None) -> None:
        if profile is None:
            self.profiles.pop(name, None)
        else:
            self.profiles[name] = profile
        self.enqueue(name)

    def _changed(self, source: Source, namespace: str, obj: dict[str, Any] | None) -> None:
        if source in MANAGED_SOURCES:
            self.managed_changed(namespace, obj)
        elif namespace in self.profiles:
            self.enqueue(namespace)
        elif source is NAMESPACES and self.has_managed(namespace):
            self.enqueue(namespace, delay=_LISTING_GRACE)  # maybe orphaned; maybe its Profile is coming

    def managed_changed(self, namespace: str, obj: dict[str, Any] | None) -> None:
        """One of our objects changed. The echo of a write we just made is no reason to look again;
        while the namespace is being reconciled the echo may even arrive before the write returns,
        so decide when that reconcile is done."""
        if obj is None and namespace not in self.profiles:
            # Listed at start-up before kopf delivered its Profile: look a little later (the Profile
            # event queues it now if it has one), so a restart does not ask the API about each.
            self.enqueue(namespace, delay=_LISTING_GRACE)
        elif self.queue.is_processing(namespace):
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
        if self.policy is None:
            return "starting"
        if reason := self.policy.why_not_ready():
            return reason
        if self.informer is None or not self.informer.synced.is_set():
            return "listing namespaces and the objects dask-kubeflow manages"
        if not self.first_pass_done and self.queue.idle():
            self.first_pass_done = True
        if not self.first_pass_done:
            return "first pass over the profile namespaces still running"
        return None

    # -- inputs ----------------------------------------------------------------------------------
    def inputs(self, namespace: str) -> NamespaceInputs:
        assert self.informer is not None
        found = self.informer.items(NAMESPACES, namespace)
        return NamespaceInputs(
            name=namespace,
            profile=self.profiles.get(namespace),
            namespace=found[0] if found else None,
            contributors=tuple(sorted(set(self.informer.items(CONTRIBUTORS, namespace)))),
            quotas=tuple(self.informer.items(QUOTAS, namespace)),
        )

    def live(self, namespace: str) -> dict[ObjectRef, dict[str, Any]]:
        assert self.informer is not None
        objects = [obj for source in MANAGED_SOURCES for obj in self.informer.items(source, namespace)]
        return self.live_state.view(namespace, objects)

    async def _profile_is_gone(self, namespace: str) -> bool:
        """Before emptying a namespace because no Profile is known, ask the API (a cache must never
        be the reason thousands of clusters are deleted)."""
        assert self.api is not None
        try:
            async with self.api.call_api("GET", version="kubeflow.org/v1", url=f"profiles/{namespace}") as resp:
                body = resp.json()
        except ServerError as err:
            if err.response is not None and err.response.status_code == 404:
                return True
            raise
        self.profiles.setdefault(namespace, profile_facts(body))
        return False

    # -- work ------------------------------------------------------------------------------------
    async def _worker(self, number: int) -> None:
        assert self.informer is not None
        await self.informer.synced.wait()  # never decide from a half-filled cache
        while True:
            namespace = await self.queue.get()
            failed = True
            try:
                failed = await self.process(namespace)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the worker; the namespace is retried
                log.exception("namespace %s: unexpected error while reconciling; will retry", namespace)
                metrics.ERRORS.labels(reason="internal").inc()
            finally:
                self._after(namespace)
                retry = self.queue.done(namespace, failed=failed)
                metrics.QUEUE_DEPTH.set(len(self.queue))
            if retry is not None:
                log.info("namespace %s: retrying in %.1fs (attempt %d)", namespace, retry,
                         self.queue.failures(namespace) + 1)
            if self.queue.idle():
                self.first_pass_done = True

    async def process(self, namespace: str) -> bool:
        """Reconcile one namespace; returns True when it should be retried with backoff."""
        assert self.api is not None and self.policy is not None
        policy = self.policy.policy
        if policy is None:
            return False  # nothing is reconciled until a policy is valid; a good reload re-queues all
        inputs = self.inputs(namespace)
        live = self.live(namespace)
        if inputs.profile is None and not live:
            return False  # not a profile namespace and nothing of ours in it
        if inputs.profile is None:
            try:
                if not await self._profile_is_gone(namespace):
                    inputs = self.inputs(namespace)
            except (ServerError, APITimeoutError, httpx.HTTPError) as err:
                log.warning("namespace %s: cannot check whether its Profile exists (%s); will retry", namespace, err)
                return True
        if inputs.namespace is not None and inputs.namespace.get("terminating"):
            return False  # Kubernetes is deleting the namespace and everything in it
        started = time.perf_counter()
        outcome = await reconcile(self.api, self.live_state, inputs, policy, live)
        status_written = await self._report(namespace, inputs, outcome, live.get(status_ref(namespace)))
        metrics.DURATION.observe(time.perf_counter() - started)
        return (bool(outcome.errors) and outcome.transient) or not status_written

    async def _report(self, namespace: str, inputs: NamespaceInputs, outcome: Outcome,
                      status_live: dict[str, Any] | None) -> bool:
        """Status ConfigMap, Events, metrics and logs of one reconcile; False if the status could not be
        written (the namespace is then retried, so the status never stays wrong)."""
        assert self.api is not None and self.policy is not None
        plan = outcome.plan
        error = "; ".join(outcome.errors)
        if outcome.errors:
            metrics.RECONCILES.labels(outcome="error").inc()
            reason = "quota" if plan.problem else ("api" if outcome.transient else "conflict")
            metrics.ERRORS.labels(reason=reason).inc()
            self._failing.add(namespace)
            log.error("namespace %s: reconcile failed: %s", namespace, error)
        else:
            metrics.RECONCILES.labels(outcome="changed" if outcome.changed else "unchanged").inc()
            self._failing.discard(namespace)
        if plan.phase == "Ready":
            self._managed_ns.add(namespace)
        else:
            self._managed_ns.discard(namespace)
        metrics.MANAGED_NAMESPACES.set(len(self._managed_ns))
        metrics.FAILING_NAMESPACES.set(len(self._failing))
        if outcome.changed:
            log.info("namespace %s: %s (tier %s): created [%s] updated [%s] removed [%s]", namespace,
                     plan.phase, plan.tier or "-", ", ".join(outcome.created), ", ".join(outcome.updated),
                     ", ".join(outcome.pruned))

        if inputs.profile is None or inputs.namespace is None:
            return True  # no Profile: its status went with the managed objects; no namespace: nowhere to write
        old = (status_live or {}).get("data") or {}
        data = status_data(
            phase="Error" if outcome.errors else plan.phase,
            tier=plan.tier,
            message=plan.message,
            last_error=error or old.get("lastError", ""),
            objects=[_ref_str(o) for o in plan.desired],
            contributors=inputs.contributors,
            policy=self.policy.version,
        )
        try:
            written = await write_status(self.api, namespace, data, status_live)
            if written is not None:
                self.live_state.wrote(written)
        except apply.ApiWriteError as err:
            log.warning("namespace %s: could not write its status ConfigMap: %s", namespace, err)
            return False

        profile = inputs.profile
        involved = {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "name": profile.get("name"),
                    "uid": profile.get("uid")}
        if outcome.errors and error != old.get("lastError", ""):
            await post_event(self.api, involved=involved, namespace=namespace, reason="ReconcileFailed",
                             warning=True, message=error)
        elif outcome.changed:
            parts = [f"{verb} {', '.join(items)}" for verb, items in
                     (("created", outcome.created), ("updated", outcome.updated), ("removed", outcome.pruned))
                     if items]
            reason = "Applied" if plan.desired else "Removed"
            await post_event(self.api, involved=involved, namespace=namespace, reason=reason,
                             message=f"{plan.message}; {'; '.join(parts)}")
        return True

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            self.requeue_all()


def _ref_str(obj: dict[str, Any]) -> str:
    return str(ref_of(obj))
