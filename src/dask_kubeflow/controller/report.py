"""What one reconcile tells the world: the status ConfigMap, Events on the Profile, metrics, logs.

Users read the status ConfigMap and Events in their namespace (they cannot read the controller's
logs); operators read the metrics and logs. Written only when something changed, so an unchanged
resync writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kr8s.asyncio import Api

from ..kube.errors import KubeError
from ..kube.namespace_status import status_data
from ..kube.resources import KUBEFLOW_API, ObjectRef, ref_of
from . import metrics
from .events import post_event
from .livestate import LiveState
from .reconcile import NamespaceInputs, Plan
from .results import Changes, ReconcileError, TemporaryError
from .status import status_ref, write_status

__all__ = ["Report", "Reporter"]

log = logging.getLogger("dask_kubeflow.controller")


@dataclass(frozen=True)
class Report:
    """One reconcile: its inputs, the plan, the changes made and the error (None: it succeeded)."""

    inputs: NamespaceInputs
    plan: Plan
    changes: Changes
    error: ReconcileError | None = None

    @property
    def namespace(self) -> str:
        return self.inputs.name

    @property
    def phase(self) -> str:
        return "Error" if self.error else self.plan.phase


class Reporter:
    def __init__(self, api: Api, live_state: LiveState, policy_version: Callable[[], str]) -> None:
        self.api, self.live_state, self.policy_version = api, live_state, policy_version
        self._managed: set[str] = set()
        self._failing: set[str] = set()

    async def report(self, report: Report, live: dict[ObjectRef, dict[str, Any]]) -> bool:
        """Metrics, logs, status and Events of one reconcile; False if the status could not be
        written (the namespace is then retried, so the status never stays wrong)."""
        self._count(report)
        if report.inputs.profile is None or report.inputs.namespace is None:
            return True  # no Profile: its status went with the managed objects; no namespace: nowhere to write
        status_live = live.get(status_ref(report.namespace))
        last_error = ((status_live or {}).get("data") or {}).get("lastError", "")
        if not await self._write_status(report, status_live, last_error):
            return False
        await self._post_event(report, last_error)
        return True

    def _count(self, report: Report) -> None:
        namespace, plan, changes, error = report.namespace, report.plan, report.changes, report.error
        if error is not None:
            metrics.RECONCILES.labels(outcome="error").inc()
            reason = "quota" if plan.problem else ("api" if isinstance(error, TemporaryError) else "conflict")
            metrics.ERRORS.labels(reason=reason).inc()
            self._failing.add(namespace)
            log.error("namespace %s: reconcile failed: %s", namespace, error.message)
        else:
            metrics.RECONCILES.labels(outcome="changed" if changes.changed else "unchanged").inc()
            self._failing.discard(namespace)
        if plan.phase == "Ready":
            self._managed.add(namespace)
        else:
            self._managed.discard(namespace)
        metrics.MANAGED_NAMESPACES.set(len(self._managed))
        metrics.record_cluster_max_workers(namespace, plan.tier, metrics.max_workers_of(list(plan.desired)))
        metrics.FAILING_NAMESPACES.set(len(self._failing))
        if changes.changed:
            log.info("namespace %s: %s (tier %s): created [%s] updated [%s] removed [%s]", namespace,
                     plan.phase, plan.tier or "-", ", ".join(changes.created), ", ".join(changes.updated),
                     ", ".join(changes.pruned))

    async def _write_status(self, report: Report, status_live: dict[str, Any] | None, last_error: str) -> bool:
        data = status_data(
            phase=report.phase,
            tier=report.plan.tier,
            message=report.plan.message,
            last_error=report.error.message if report.error else last_error,
            objects=[str(ref_of(o)) for o in report.plan.desired],
            contributors=report.inputs.contributors,
            policy=self.policy_version(),
            exceeded=[e.as_dict() for e in report.plan.exceeded],
        )
        try:
            written = await write_status(self.api, report.namespace, data, status_live)
        except KubeError as err:
            log.warning("namespace %s: could not write its status ConfigMap (%s); will retry", report.namespace, err)
            return False
        if written is not None:
            self.live_state.wrote(written)
            if report.plan.exceeded:  # shown to users by status/doctor; said here for the admin
                log.warning("namespace %s: %d user cluster limit(s) above tier %r: %s", report.namespace,
                            len(report.plan.exceeded), report.plan.tier,
                            "; ".join(f"{e.cluster}: {e.limit}" for e in report.plan.exceeded))
        return True

    async def _post_event(self, report: Report, last_error: str) -> None:
        profile = report.inputs.profile
        assert profile is not None
        involved = {"apiVersion": KUBEFLOW_API, "kind": "Profile", "name": profile.name, "uid": profile.uid}
        if report.error is not None:
            if report.error.message != last_error:
                await post_event(self.api, involved=involved, namespace=report.namespace, reason="ReconcileFailed",
                                 warning=True, message=report.error.message)
        elif report.changes.changed:
            reason = "Applied" if report.plan.desired else "Removed"
            await post_event(self.api, involved=involved, namespace=report.namespace, reason=reason,
                             message=f"{report.plan.message}; {report.changes.summary()}")
