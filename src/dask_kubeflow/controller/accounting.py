"""The accounting loop: usage ledgers from the Dask pods the informer follows (I/O edge of ``usage``).

Every ``interval`` seconds each namespace with Dask pods (or a ledger) is accounted up to the
controller's clock; the Prometheus counters grow by what was added; the ledger is written to
ConfigMap ``dask-kubeflow-usage`` every ``flush`` seconds (and at once when the budget state
changes), so a restart resumes from the written per-pod moments. A budget crossed posts one Event
(the state is persisted, so a restart does not post it again) and re-queues the namespace: its
reconcile then renders the autoscaler with the clamped maximum (``clamp``).

A pod deleted between two looks is kept from its DELETED watch event (the informer's ``on_deleted``:
its last status) and accounted at the next look up to when it stopped (``usage.departed``), then
forgotten. Pods that vanish without a DELETED event (a watch re-list) count up to the last look.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from ..kube.errors import KubeError
from ..kube.resources import KUBEFLOW_API
from ..kube.usage_record import budget_data, record_body
from ..policy import resolve
from . import apply
from . import lifecycle_metrics as metrics
from .activity import DASK_PODS, USAGE_RECORDS, PodFacts
from .clock import Clock
from .events import post_event
from .hibernation import Controller
from .reconcile import safe_plan
from .usage import EXCEEDED, OK, WARNING, BudgetState, Ledger, account, budget_state, clamped_maximum, departed

__all__ = ["Accounting", "usage_body"]

log = logging.getLogger("dask_kubeflow.controller")


def usage_body(namespace: str, ledger: Ledger, state: BudgetState | None) -> dict[str, Any]:
    """The usage ConfigMap (its format: kube/usage_record.py, shared with every reader)."""
    data = ledger.to_data()
    if state is not None:
        data |= budget_data(state.terms, state.message)
    return record_body(namespace, data)


class Accounting:
    def __init__(self, controller: Controller, clock: Clock, interval: float, flush: float) -> None:
        self.controller, self.clock, self.interval, self.flush = controller, clock, interval, flush
        self._ledgers: dict[str, Ledger] = {}
        self._written: dict[str, float] = {}
        self.states: dict[str, BudgetState] = {}
        self._clamps: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._gone: dict[str, dict[str, PodFacts]] = {}  # namespace -> uid -> a deleted pod, not accounted yet
        self._listening = False

    def pod_deleted(self, namespace: str, pod: PodFacts) -> None:
        """A Dask pod the watch reported deleted: account it at the next look up to when it stopped."""
        if pod.uid:
            self._gone.setdefault(namespace, {})[pod.uid] = departed(pod, self.clock.now())

    def clamp(self, namespace: str) -> int | None:
        """The autoscaler maximum the namespace's budget allows now (None: the tier's)."""
        return self._clamps.get(namespace)

    async def run(self) -> None:
        informer = self.controller.informer
        assert informer is not None
        if not self._listening:  # once, though the supervisor may start this loop again
            informer.on_deleted(DASK_PODS, self.pod_deleted)
            self._listening = True
        await informer.synced.wait()
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # accounting must go on; the next tick recounts from the ledgers
                log.exception("usage accounting failed; trying again in %.0fs", self.interval)
            await asyncio.sleep(self.interval)

    def _ledger(self, namespace: str, now: float) -> Ledger:
        if namespace not in self._ledgers:
            informer = self.controller.informer
            records = informer.items(USAGE_RECORDS, namespace) if informer is not None else []
            self._ledgers[namespace] = Ledger.from_data(records[0] if records else None, now)
            self._written[namespace] = now
        return self._ledgers[namespace]

    def _budget(self, namespace: str, ledger: Ledger) -> tuple[BudgetState, Any] | None:
        controller = self.controller
        policy = controller.policy.policy if controller.policy else None
        if policy is None:
            return None
        plan = safe_plan(controller.inputs(namespace), policy)
        if plan.facts is None or plan.phase != "Ready":
            return None
        shape = resolve(policy, plan.facts)
        return budget_state(ledger, shape.settings.budget, shape.tier), shape

    async def tick(self) -> None:
        informer = self.controller.informer
        assert informer is not None
        now = self.clock.now()
        namespaces = informer.namespaces(DASK_PODS) | set(self._ledgers) | informer.namespaces(USAGE_RECORDS)
        for namespace in sorted(namespaces | set(self._gone)):
            old = self._ledger(namespace, now)
            gone = self._gone.pop(namespace, {})
            ledger, added = account(old, [*informer.items(DASK_PODS, namespace), *gone.values()], now)
            for key, (cores, gib) in added.items():
                cluster, _, component = key.partition("/")
                metrics.CORE_SECONDS.labels(namespace, cluster, component).inc(cores)
                metrics.MEMORY_GIB_SECONDS.labels(namespace, cluster, component).inc(gib)
            found = self._budget(namespace, ledger)
            state = found[0] if found else None
            urgent = False
            if found is not None and state is not None:
                ledger, urgent = await self._announce(namespace, ledger, state, found[1])
            self._ledgers[namespace] = ledger
            if ledger != old:
                self._dirty.add(namespace)  # written at the next flush (or now, when urgent)
            if urgent or ledger.period != old.period or (
                    namespace in self._dirty and now - self._written.get(namespace, 0.0) >= self.flush):
                await self._write(namespace, ledger, state, now)
        metrics.BUDGET_CLAMPED.set(len(self._clamps))

    async def _announce(self, namespace: str, ledger: Ledger, state: BudgetState, shape: Any) -> tuple[Ledger, bool]:
        """Budget bookkeeping: the clamp, one Event per crossing; True when the ledger must be written now."""
        self.states[namespace] = state
        clamp = clamped_maximum(state, shape.settings.budget)
        if clamp != self._clamps.get(namespace):
            if clamp is None:
                self._clamps.pop(namespace, None)
            else:
                self._clamps[namespace] = clamp
            self.controller.enqueue(namespace)  # re-render the autoscaler with (or without) the clamp
        announced = ledger.budget
        current = state.state or OK
        if current == announced:
            return ledger, False
        if current in (WARNING, EXCEEDED):
            await self._event(namespace, "BudgetExceeded" if current == EXCEEDED else "BudgetWarning", state.message)
        return replace(ledger, budget=current), True

    async def _event(self, namespace: str, reason: str, message: str) -> None:
        profile = self.controller.inputs(namespace).profile
        if profile is None:
            return
        involved = {"apiVersion": KUBEFLOW_API, "kind": "Profile", "name": profile.name, "uid": profile.uid}
        await post_event(self.controller.api, involved=involved, namespace=namespace, reason=reason,
                         message=message, warning=True)

    async def _write(self, namespace: str, ledger: Ledger, state: BudgetState | None, now: float) -> None:
        try:
            await apply.server_side_apply(self.controller.api, usage_body(namespace, ledger, state))
        except KubeError as err:
            log.warning("namespace %s: could not write its usage ConfigMap (%s); will retry", namespace, err)
            return
        self._written[namespace] = now
        self._dirty.discard(namespace)
        log.debug("namespace %s: usage record written (%.1f core-seconds this period)", namespace, ledger.core_seconds)
