"""The controller's usage record, ConfigMap ``dask-kubeflow-usage``: its format, written and read here (pure).

The controller (controller/usage.py, accounting.py) writes it with ``ledger_data`` + ``budget_data`` +
``record_body``; ``dask-kubeflow usage``, ``status``, ``doctor``, connect() and the gateway's clusters
page read it here (``parse`` / ``from_configmap``, ``usage_rows``, ``budget_of``, ``namespace_totals``),
so the format — and the budget sentences users read (``budget_message``) — are defined once and
readers need not import the controller. ``data`` holds:

- ``period`` (YYYY-MM, UTC), ``usage`` (JSON ``{"<cluster>/<component>": [core-seconds, GiB-seconds]}``),
  ``pods`` (JSON ``{pod uid: accounted up to, seconds since the epoch}``), ``coreHours``;
- ``budget``: the budget state last announced (ok | warning | exceeded); what the controller enforces;
- with a budget known: ``budgetMessage`` (the sentence users read) and ``budgetCoreHours`` ("" without a
  budget), ``budgetTier``, ``budgetContact``, ``budgetClampTo``, ``budgetWarnAt`` (the tier's terms).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .names import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, USAGE_CONFIGMAP

__all__ = [
    "OK", "WARNING", "EXCEEDED", "BudgetTerms", "UsageRecord", "BudgetNotice",
    "ledger_data", "budget_data", "record_body", "ledger_fields", "parse", "from_configmap",
    "budget_message", "budget_notice", "budget_summary", "budget_line", "budget_entry",
    "usage_rows", "budget_of", "namespace_totals",
]

OK, WARNING, EXCEEDED = "ok", "warning", "exceeded"
DEFAULT_CONTACT = "your platform admin"
_COMPACT = (",", ":")


# -- the format ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BudgetTerms:
    """A tier's monthly budget, as the record carries it (``policy.lifecycle.Budget`` and the tier's name)."""

    core_hours: float
    tier: str = ""
    contact: str = DEFAULT_CONTACT
    clamp_to: int = 0
    warn_at: float = 0.8


def ledger_data(period: str, usage: Mapping[str, tuple[float, float]], pods: Mapping[str, float],
                state: str) -> dict[str, str]:
    """The accounting part of the record (what ``controller.usage.Ledger`` persists)."""
    cores = sum(c for c, _ in usage.values())
    return {"period": period,
            "usage": json.dumps({k: [round(c, 3), round(m, 3)] for k, (c, m) in sorted(usage.items())},
                                separators=_COMPACT),
            "pods": json.dumps({k: round(v, 3) for k, v in sorted(pods.items())}, separators=_COMPACT),
            "coreHours": f"{cores / 3600:.4f}", "budget": state}


def budget_data(terms: BudgetTerms | None, message: str) -> dict[str, str]:
    """The budget part of the record: the tier's terms ("" without a budget) and the sentence users read."""
    if terms is None:
        return {"budgetMessage": message, "budgetCoreHours": "", "budgetTier": "", "budgetContact": "",
                "budgetClampTo": "", "budgetWarnAt": ""}
    return {"budgetMessage": message, "budgetCoreHours": f"{terms.core_hours:g}", "budgetTier": terms.tier,
            "budgetContact": terms.contact, "budgetClampTo": str(terms.clamp_to), "budgetWarnAt": f"{terms.warn_at:g}"}


def record_body(namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The ConfigMap manifest carrying ``data``."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": USAGE_CONFIGMAP, "namespace": namespace,
                         "labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "usage"}},
            "data": dict(data)}


def ledger_fields(data: Mapping[str, str] | None) -> tuple[str, dict[str, tuple[float, float]], dict[str, float], str]:
    """(period, usage, pods, announced state) of a record; ValueError when it is missing or malformed."""
    try:
        usage = {str(k): (float(v[0]), float(v[1])) for k, v in json.loads(data["usage"]).items()}  # type: ignore[index]
        pods = {str(k): float(v) for k, v in json.loads(data.get("pods") or "{}").items()}  # type: ignore[union-attr]
        return str(data["period"]), usage, pods, str(data.get("budget") or OK)  # type: ignore[index, union-attr]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise ValueError(f"not a usage record: {type(err).__name__}: {err}") from None


def _terms(data: Mapping[str, str]) -> BudgetTerms | None:
    limit = data.get("budgetCoreHours") or ""
    if not limit:
        return None
    return BudgetTerms(float(limit), str(data.get("budgetTier") or ""),
                       str(data.get("budgetContact") or DEFAULT_CONTACT),
                       int(data.get("budgetClampTo") or 0), float(data.get("budgetWarnAt") or 0.8))


# -- reading it ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsageRecord:
    """What a namespace's usage record says."""

    namespace: str
    period: str
    usage: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    state: str = OK  # the budget state last announced: what the controller enforces
    terms: BudgetTerms | None = None  # None: no budget (or none known to the controller yet)
    message: str = ""

    @property
    def core_hours(self) -> float:
        return sum(c for c, _ in self.usage.values()) / 3600

    @property
    def memory_gib_hours(self) -> float:
        return sum(m for _, m in self.usage.values()) / 3600

    @property
    def percent(self) -> float | None:
        if self.terms is None:
            return None
        return 100.0 * self.core_hours / self.terms.core_hours if self.terms.core_hours > 0 else 100.0


def parse(namespace: str, data: Mapping[str, str] | None) -> UsageRecord:
    """The record in ``data``; ValueError when it is missing or malformed."""
    period, usage, _, state = ledger_fields(data)
    assert data is not None
    if state not in (OK, WARNING, EXCEEDED):
        raise ValueError(f"unknown budget state {state!r}")
    try:
        terms = _terms(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"unreadable budget terms: {err}") from None
    return UsageRecord(namespace, period, usage, state, terms, str(data.get("budgetMessage") or ""))


def from_configmap(namespace: str, body: Mapping[str, Any] | None) -> UsageRecord | None:
    """The record in a ConfigMap as the API returns it; None when there is none or it is unreadable."""
    if body is None:
        return None
    try:
        return parse(namespace, body.get("data") or None)
    except ValueError:
        return None


# -- what users read -------------------------------------------------------------------------------

def budget_message(state: str, used_hours: float, period: str, terms: BudgetTerms | None) -> str:
    """The one sentence about a budget: Events, the record's ``budgetMessage``, connect(), status, doctor."""
    if terms is None:
        return f"{used_hours:.2f} core-hours used in {period} (no budget)"
    limit = terms.core_hours
    figures = f"{used_hours:.2f} of {limit:g} core-hours used in {period} (tier {terms.tier!r})"
    if state == EXCEEDED:
        return (f"budget spent: {figures}; the autoscaler is held at {terms.clamp_to} worker(s) "
                f"until the month ends or the budget is raised — ask {terms.contact}")
    if state == WARNING:
        return (f"budget nearly spent: {figures}; past {limit:g} the autoscaler is held at {terms.clamp_to} "
                f"worker(s) — ask {terms.contact} for more")
    return figures


@dataclass(frozen=True)
class BudgetNotice:
    """What connect() says about the namespace's budget (warning or exceeded)."""

    state: str
    message: str
    clamp_to: int
    contact: str = DEFAULT_CONTACT

    def blocks(self, wanted_workers: int) -> bool:
        """Whether waiting for ``wanted_workers`` cannot succeed while the budget is spent."""
        return self.state == EXCEEDED and wanted_workers > self.clamp_to

    @property
    def fix(self) -> str:
        return (f"ask {self.contact} to raise the budget, or wait for the month to end; until then at most "
                f"{self.clamp_to} worker(s) start, so ask for no more than that (connect() without "
                "wait_for_workers still gives you the scheduler)")


def budget_notice(record: UsageRecord | None) -> BudgetNotice | None:
    """The notice for a spent or nearly spent budget; None otherwise (no record, no budget, ok)."""
    if record is None or record.terms is None or record.state not in (WARNING, EXCEEDED):
        return None
    return BudgetNotice(record.state, budget_message(record.state, record.core_hours, record.period, record.terms),
                        record.terms.clamp_to, record.terms.contact)


def budget_summary(record: UsageRecord) -> dict[str, Any]:
    """The figures ``status -o json`` and ``doctor -o json`` show (numbers, not sentences)."""
    terms, percent = record.terms, record.percent
    return {"period": record.period, "coreHours": round(record.core_hours, 4),
            "memoryGiBHours": round(record.memory_gib_hours, 4),
            "budgetCoreHours": terms.core_hours if terms else None,
            "percent": None if percent is None else round(percent, 1),
            "state": record.state if terms else "", "tier": terms.tier if terms else "",
            "contact": terms.contact if terms else "", "clampTo": terms.clamp_to if terms else None,
            "message": budget_message(record.state, record.core_hours, record.period, terms)}


def budget_line(record: UsageRecord) -> str:
    """One line: the state, percent used, used of budget, the tier and whom to ask."""
    used, terms = record.core_hours, record.terms
    if terms is None:
        return budget_message(OK, used, record.period, None)
    head = f"{record.state}, {record.percent:.0f}%: {budget_message(record.state, used, record.period, terms)}"
    return head if record.state in (WARNING, EXCEEDED) else f"{head}; more from {terms.contact}"


def budget_entry(namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    """``budget_of`` plus the parsed figures (percent, tier, contact, clampTo, line) when the record is readable."""
    entry = budget_of(namespace, data)
    try:
        record = parse(namespace, data)
    except ValueError:
        return entry
    summary = budget_summary(record)
    return {**entry, **{k: summary[k] for k in ("percent", "tier", "contact", "clampTo")}, "line": budget_line(record)}


# -- rows for the `usage` command and the gateway (data as stored) ----------------------------------

def usage_rows(namespace: str, data: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per cluster and component of a usage record."""
    try:
        usage = json.loads(data.get("usage") or "{}")
    except ValueError:
        usage = {}
    rows = []
    for key, (cores, gib) in sorted(usage.items()):
        cluster, _, component = key.partition("/")
        rows.append({"namespace": namespace, "period": data.get("period", ""), "cluster": cluster,
                     "component": component, "coreSeconds": round(float(cores), 1),
                     "memoryGiBSeconds": round(float(gib), 1), "coreHours": round(float(cores) / 3600, 4)})
    return rows


def budget_of(namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The record's budget line."""
    return {"namespace": namespace, "period": data.get("period", ""), "coreHours": float(data.get("coreHours") or 0),
            "budgetCoreHours": data.get("budgetCoreHours", ""), "budget": data.get("budget", ""),
            "message": data.get("budgetMessage", "")}


def namespace_totals(namespace: str, data: Mapping[str, str] | None) -> dict[str, Any] | None:
    """This month's totals of a namespace (core-hours, GiB-hours) and its budget line; None without a record."""
    if data is None:
        return None
    rows = usage_rows(namespace, data)
    line = budget_of(namespace, data)
    core_hours = line["coreHours"] if data.get("coreHours") else sum(r["coreSeconds"] for r in rows) / 3600
    return {**line, "coreHours": round(core_hours, 3),
            "memoryGiBHours": round(sum(r["memoryGiBSeconds"] for r in rows) / 3600, 3)}
