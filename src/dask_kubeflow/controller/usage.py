"""Usage accounting and budgets (pure): requests × time Running, per namespace, cluster and component.

A namespace's :class:`Ledger` is what ConfigMap ``dask-kubeflow-usage`` holds: the period (calendar
month, UTC), core-seconds and memory GiB-seconds per ``<cluster>/<component>``, and, per pod uid,
the moment up to which that pod has been accounted. ``account`` adds, for every pod seen Running,
the interval from that moment (or its start) to now (or its finish) and moves the moment forward —
so the same interval is never counted twice, and a controller that restarts resumes from the
persisted moments and loses nothing of a pod still running. A pod deleted between two looks is
accounted up to when it stopped (``departed``: its containers' ``finishedAt``, else the moment its
deletion was seen, never past its ``deletionTimestamp``), from the last state the watch gave.

``budget_state`` turns a ledger and the tier's ``budget`` into ok / warning / exceeded and the
message users read; ``clamped_maximum`` is the autoscaler maximum render is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..kube.usage_record import EXCEEDED, OK, WARNING, BudgetTerms, budget_message, ledger_data, ledger_fields
from ..policy import ClusterShape
from ..policy.lifecycle import Budget
from .activity import PodFacts
from .clock import month_of, month_start

__all__ = ["Ledger", "account", "departed", "BudgetState", "budget_state", "clamped_maximum", "clamp_workers", "GIB"]

GIB = float(1 << 30)


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
        return ledger_data(self.period, self.usage, self.pods, self.budget)  # the format: kube/usage_record.py

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None, now: float) -> Ledger:
        """The persisted ledger (a fresh one for this month when there is none or it is unreadable)."""
        try:
            return cls(*ledger_fields(data))
        except ValueError:
            return cls(month_of(now))


def account(ledger: Ledger, pods: Iterable[PodFacts], now: float) -> tuple[Ledger, dict[str, tuple[float, float]]]:
    """The ledger with every pod's Running time up to ``now`` added, and what was added per key.

    A new month starts a new ledger (the intervals before its first second belong to the old one,
    which is over); pods no longer seen are forgotten (a deleted pod is passed once more, as
    ``departed`` makes it, then forgotten)."""
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


def departed(pod: PodFacts, seen: float) -> PodFacts:
    """A pod the watch reported deleted, as ``account`` takes it one last time: stopped when its
    containers all terminated (their last ``finishedAt``: a graceful deletion reports them), else
    when the deletion was ``seen`` (the API removed it then; the controller's clock), but never past
    its ``deletionTimestamp`` (when the kubelet kills it). The interval already accounted is not
    counted again: ``account`` starts from the pod's accounted moment."""
    stop = pod.ended if pod.ended is not None else seen
    if pod.deleting is not None:
        stop = min(stop, pod.deleting)
    return replace(pod, finished=stop)


@dataclass(frozen=True)
class BudgetState:
    state: str  # ok | warning | exceeded (| "" without a budget)
    used_hours: float
    budget_hours: float | None
    message: str
    terms: BudgetTerms | None = None  # what the usage record carries for readers (kube/usage_record.py)


def budget_state(ledger: Ledger, budget: Budget, tier: str) -> BudgetState:
    used = ledger.core_seconds / 3600
    if budget.core_hours is None:
        return BudgetState("", used, None, budget_message(OK, used, ledger.period, None))
    limit = budget.core_hours
    terms = BudgetTerms(limit, tier, budget.contact, budget.clamp_to, budget.warn_at)
    state = EXCEEDED if used >= limit else WARNING if used >= budget.warn_at * limit else OK
    return BudgetState(state, used, limit, budget_message(state, used, ledger.period, terms), terms)


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
