"""Usage accounting and budgets (pure): requests × time Running, per namespace, cluster and component.

A namespace's :class:`Ledger` is what ConfigMap ``dask-kubeflow-usage`` holds: the period (calendar
month, UTC), core-seconds and memory GiB-seconds per ``<cluster>/<component>``, and, per pod uid,
the moment up to which that pod has been accounted. ``account`` adds, for every pod seen Running,
the interval from that moment (or its start) to now (or its finish) and moves the moment forward —
so the same interval is never counted twice, and a controller that restarts resumes from the
persisted moments and loses nothing of a pod still running. A pod deleted between two looks is
accounted up to the last look (the sampling resolution: the loop's interval).

``budget_state`` turns a ledger and the tier's ``budget`` into ok / warning / exceeded and the
message users read; ``clamped_maximum`` is the autoscaler maximum render is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..policy import ClusterShape
from ..policy.lifecycle import Budget
from .activity import PodFacts
from .clock import month_of, month_start

__all__ = ["Ledger", "account", "BudgetState", "budget_state", "clamped_maximum", "clamp_workers", "GIB"]

GIB = float(1 << 30)
OK, WARNING, EXCEEDED = "ok", "warning", "exceeded"


@dataclass(frozen=True)
class Ledger:
    period: str
    usage: dict[str, tuple[float, float]] = field(default_factory=dict)  # "<cluster>/<component>" -> (core-s, GiB-s)
    pods: dict[str, float] = field(default_factory=dict)  # pod uid -> accounted up to (seconds since the epoch)
    budget: str = OK  # the budget state last announced (an Event is posted once per crossing)

    @property
    def core_seconds(self) -> float:
        return sum(c for c, _ in self.usage.values())

    @property
    def memory_gib_seconds(self) -> float:
        return sum(m for _, m in self.usage.values())

    def to_data(self) -> dict[str, str]:
        usage = {k: [round(c, 3), round(m, 3)] for k, (c, m) in sorted(self.usage.items())}
        return {"period": self.period, "usage": json.dumps(usage, separators=(",", ":")),
                "pods": json.dumps({k: round(v, 3) for k, v in sorted(self.pods.items())}, separators=(",", ":")),
                "coreHours": f"{self.core_seconds / 3600:.4f}", "budget": self.budget}

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None, now: float) -> Ledger:
        """The persisted ledger (a fresh one for this month when there is none or it is unreadable)."""
        try:
            usage = {str(k): (float(v[0]), float(v[1])) for k, v in json.loads(data["usage"]).items()}  # type: ignore[index]
            pods = {str(k): float(v) for k, v in json.loads(data["pods"]).items()}  # type: ignore[index]
            return cls(str(data["period"]), usage, pods, str(data.get("budget", OK)))  # type: ignore[index, union-attr]
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            return cls(month_of(now))


def account(ledger: Ledger, pods: Iterable[PodFacts], now: float) -> tuple[Ledger, dict[str, tuple[float, float]]]:
    """The ledger with every pod's Running time up to ``now`` added, and what was added per key.

    A new month starts a new ledger (the intervals before its first second belong to the old one,
    which is over); pods no longer seen are forgotten (accounted up to the last look)."""
    if ledger.period != month_of(now):
        ledger = Ledger(month_of(now), {}, {}, OK)
    floor = month_start(now)
    usage, marks, added = dict(ledger.usage), {}, {}
    for pod in pods:
        if pod.started is None or not pod.uid:
            continue  # never ran (Pending), nothing to count
        begin = max(pod.started, ledger.pods.get(pod.uid, pod.started), floor)
        end = min(pod.finished if pod.finished is not None else now, now)
        marks[pod.uid] = max(begin, end)
        if end <= begin or pod.phase not in ("Running", "Succeeded", "Failed"):
            continue
        seconds, key = end - begin, f"{pod.cluster}/{pod.component}"
        delta = (seconds * pod.cpu, seconds * pod.memory / GIB)
        core, mem = usage.get(key, (0.0, 0.0))
        usage[key] = (core + delta[0], mem + delta[1])
        old = added.get(key, (0.0, 0.0))
        added[key] = (old[0] + delta[0], old[1] + delta[1])
    return replace(ledger, usage=usage, pods=marks), added


@dataclass(frozen=True)
class BudgetState:
    state: str  # ok | warning | exceeded (| "" without a budget)
    used_hours: float
    budget_hours: float | None
    message: str


def budget_state(ledger: Ledger, budget: Budget, tier: str) -> BudgetState:
    used = ledger.core_seconds / 3600
    if budget.core_hours is None:
        return BudgetState("", used, None, f"{used:.2f} core-hours used in {ledger.period} (no budget)")
    limit = budget.core_hours
    figures = f"{used:.2f} of {limit:g} core-hours used in {ledger.period} (tier {tier!r})"
    if used >= limit:
        return BudgetState(EXCEEDED, used, limit, (
            f"budget spent: {figures}; the autoscaler is held at {budget.clamp_to} worker(s) "
            f"until the month ends or the budget is raised — ask {budget.contact}"))
    if used >= budget.warn_at * limit:
        return BudgetState(WARNING, used, limit, (
            f"budget nearly spent: {figures}; past {limit:g} the autoscaler is held at {budget.clamp_to} "
            f"worker(s) — ask {budget.contact} for more"))
    return BudgetState(OK, used, limit, figures)


def clamped_maximum(state: BudgetState, budget: Budget) -> int | None:
    """The autoscaler maximum while the budget is spent; None: the tier's own."""
    return budget.clamp_to if state.state == EXCEEDED else None


def clamp_workers(shape: ClusterShape, maximum: int | None) -> ClusterShape:
    """``shape`` with its autoscaler held at ``maximum`` workers (None: unchanged). Render is given
    this shape as data and stays pure; the tier's own limits are never raised."""
    if maximum is None or maximum >= shape.settings.scaling.maximum:
        return shape
    scaling = shape.settings.scaling.model_copy(update={"maximum": maximum,
                                                        "minimum": min(shape.settings.scaling.minimum, maximum)})
    return ClusterShape(shape.tier, shape.settings.model_copy(update={"scaling": scaling}))
