"""The running controller: a work queue of namespaces, workers that reconcile them, and the
bookkeeping around each reconcile (status ConfigMap, Events on the Profile, metrics, logs).

State lives in Kubernetes: what is wanted comes from Profiles, Namespaces, RoleBindings and the
policy ConfigMap; what is there comes from watches of our labelled objects (kopf indexes). The
only memory is the queue and the not-yet-echoed writes; a restart rebuilds both from the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from kr8s.asyncio import Api

from . import apply, metrics
from .events import post_event
from .kinds import ObjectRef, ref_of
from .livestate import LiveState
from .policy_source import PolicySource
from .reconcile import NamespaceInputs, Outcome, reconcile
from .settings import ControllerSettings
from .status import status_data, status_ref, write_status
from .workqueue import WorkQueue

__all__ = ["Controller"]

log = logging.getLogger("dask_kubeflow.controller")


def _first(store: Any) -> Any:
    return next(iter(store), None) if store is not None else None


class Controller:
    def __init__(self, settings: ControllerSettings) -> None:
        self.settings = settings
        self.queue = WorkQueue()
        self.live_state = LiveState()
        self.api: Api | None = None
        self.policy: PolicySource | None = None
        self.profiles: Mapping[str, Any] = {}
        self.namespaces: Mapping[str, Any] = {}
        self.contributors: Mapping[str, Any] = {}
        self.quotas: Mapping[str, Any] = {}
        self.managed: list[Mapping[str, Any]] = []
        self.indexed = False  # the watches have listed everything once
        self.first_pass_done = False
        self._managed_ns: set[str] = set()
        self._failing: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- wiring (called from the kopf startup handler) ---------------------------------------------
    def attach(self, api: Api, *, profiles: Mapping[str, Any], namespaces: Mapping[str, Any],
               contributors: Mapping[str, Any], quotas: Mapping[str, Any],
               managed: list[Mapping[str, Any]]) -> None:
        self.api = api
        self.quotas = quotas
        self.profiles, self.namespaces, self.contributors, self.managed = profiles, namespaces, contributors, managed
        s = self.settings
        self.policy = PolicySource(api, s.policy_namespace, s.policy_name, s.policy_key, on_change=self.requeue_all)

    async def start(self) -> None:
        assert self.policy is not None
        try:
            await self.policy.load()
        except Exception as err:  # the policy watch keeps trying; say why nothing happens meanwhile
            log.error("cannot read the policy ConfigMap %s/%s yet (%s); retrying. Nothing is reconciled "
                      "until it is read.", self.policy.namespace, self.policy.name, err)
        self._tasks = [asyncio.create_task(self._worker(i), name=f"reconcile-worker-{i}")
                       for i in range(self.settings.workers)]
        self._tasks.append(asyncio.create_task(self.policy.watch_forever(), name="policy-watch"))
        if self.settings.resync_seconds > 0:
            self._tasks.append(asyncio.create_task(self._resync_forever(), name="periodic-resync"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # -- what to look at ---------------------------------------------------------------------------
    def known_namespaces(self) -> set[str]:
        """Profile namespaces plus every namespace holding an object of ours (maybe orphaned)."""
        names = set(self.profiles.keys())
        for index in self.managed:
            names.update(index.keys())
        return names

    def enqueue(self, namespace: str | None, delay: float = 0.0) -> None:
        if namespace:
            self.queue.add(namespace, delay)
            metrics.QUEUE_DEPTH.set(len(self.queue))

    def requeue_all(self) -> None:
        """After a policy change (and periodically): every namespace, rate-limited."""
        if self.indexed:
            self.queue.add_all(list(self.known_namespaces()), self.settings.reload_rate)
            metrics.QUEUE_DEPTH.set(len(self.queue))

    def why_not_ready(self) -> str | None:
        if self.policy is None:
            return "starting"
        if reason := self.policy.why_not_ready():
            return reason
        if not self.first_pass_done and self.indexed and self.queue.idle():
            self.first_pass_done = True
        if not self.first_pass_done:
            return "first pass over the profile namespaces still running"
        return None

    # -- inputs ----------------------------------------------------------------------------------
    def inputs(self, namespace: str) -> NamespaceInputs:
        users = sorted({str(u) for u in (self.contributors.get(namespace) or ())})
        return NamespaceInputs(
            name=namespace,
            profile=_first(self.profiles.get(namespace)),
            namespace=_first(self.namespaces.get(namespace)),
            contributors=tuple(users),
            quotas=tuple(self.quotas.get(namespace) or ()),
        )

    def live(self, namespace: str) -> dict[ObjectRef, dict[str, Any]]:
        indexed = [obj for index in self.managed for obj in (index.get(namespace) or ())]
        return self.live_state.view(namespace, indexed)

    # -- work ------------------------------------------------------------------------------------
    async def _worker(self, number: int) -> None:
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
                retry = self.queue.done(namespace, failed=failed)
                metrics.QUEUE_DEPTH.set(len(self.queue))
            if retry is not None:
                log.info("namespace %s: retrying in %.1fs (attempt %d)", namespace, retry,
                         self.queue.failures(namespace) + 1)
            if self.indexed and self.queue.idle():
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
            metrics.ERRORS.labels(reason="conflict" if not outcome.transient else "api").inc()
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
