"""Hibernate/wake decisions, the settable clock and the lifecycle policy fields (pure, milliseconds)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dask_kubeflow.controller.clock import Clock, month_of, month_start, parse_rfc3339, rfc3339
from dask_kubeflow.controller.hibernation import Hibernation
from dask_kubeflow.controller.lifecycle import (
    AWAKE,
    HIBERNATED,
    OPERATOR_COOLDOWN,
    WAKING,
    WARM_LIMIT,
    Action,
    Activity,
    Hold,
    autoscaler_hold,
    decide,
    first_workers,
    idle_mark,
    idle_since,
)
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.policy.loader import PolicyError

IDLE = Activity(hibernate_after=3600.0, hibernated=False, wake_requested=False, last_activity=0.0, workers=0,
                clients=0, notebooks=0, jobs=0, now=4000.0)


def test_idle_past_hibernate_after_hibernates() -> None:
    decision = decide(IDLE)
    assert decision.action is Action.HIBERNATE and decision.state == HIBERNATED
    assert "idle for 4000s" in decision.reason


def test_idle_but_not_long_enough_waits_and_says_when() -> None:
    decision = decide(replace(IDLE, now=3000.0))
    assert decision.action is Action.NONE and decision.state == AWAKE
    assert "hibernates in 600s" in decision.reason and decision.recheck == 30.0


@pytest.mark.parametrize("change, what", [
    ({"workers": 1}, "1 worker(s)"),
    ({"clients": 2}, "2 connected client(s)"),
    ({"clients": None}, "did not say how many clients"),
    ({"notebooks": 1}, "1 notebook(s)"),
    ({"jobs": 1}, "1 DaskJob(s)"),
    ({"wake_requested": True}, "a wake request"),
])
def test_anything_in_use_keeps_it_awake_and_restarts_the_timer(change: dict, what: str) -> None:
    decision = decide(replace(IDLE, **change))
    assert decision.action is Action.NONE and decision.busy and what in decision.reason


def test_hibernation_off_never_hibernates() -> None:
    assert decide(replace(IDLE, hibernate_after=None)).action is Action.NONE


@pytest.mark.parametrize("change, why", [
    ({"wake_requested": True}, "a wake was requested"),
    ({"notebooks": 1}, "notebook(s) starting or running"),
    ({"jobs": 2}, "2 DaskJob(s)"),
    ({"hibernate_after": None}, "hibernation is off"),
])
def test_a_hibernated_cluster_wakes_through_every_door(change: dict, why: str) -> None:
    decision = decide(replace(IDLE, hibernated=True, **change))
    assert decision.action is Action.WAKE and decision.state == WAKING and why in decision.reason


def test_a_hibernated_cluster_nobody_wants_stays_asleep() -> None:
    decision = decide(replace(IDLE, hibernated=True, now=10 ** 9))
    assert decision.action is Action.NONE and decision.state == HIBERNATED


def test_the_clock_file_moves_time_and_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock = Clock(path)
    assert abs(clock.now() - time.time()) < 1  # no file: no offset
    path.write_text("7200")
    assert 7199 < clock.now() - time.time() < 7201
    path.write_text("not a number")
    assert abs(clock.now() - time.time()) < 1


def test_months_and_timestamps() -> None:
    t = parse_rfc3339("2026-12-31T23:59:59Z")
    assert t is not None and month_of(t) == "2026-12" and month_of(t + 1) == "2027-01"
    assert rfc3339(month_start(t, months_ahead=1)) == "2027-01-01T00:00:00Z"
    assert rfc3339(month_start(t)) == "2026-12-01T00:00:00Z"
    assert parse_rfc3339("") is None and parse_rfc3339("garbage") is None


def test_policy_lifecycle_and_budget_fields() -> None:
    policy = parse_policy({"defaults": {"lifecycle": {"hibernateAfter": "8h"},
                                        "budget": {"coreHours": 100, "clampTo": 1, "contact": "ops@example.com"}}})
    assert policy.defaults.lifecycle.hibernate_seconds == 8 * 3600
    assert policy.defaults.budget.core_hours == 100 and policy.defaults.budget.warn_at == 0.8
    assert parse_policy({}).defaults.lifecycle.hibernate_seconds is None  # off when unset
    with pytest.raises(PolicyError) as info:
        parse_policy({"defaults": {"lifecycle": {"hibernateAfter": "soon"}}})
    assert "not a duration" in str(info.value)


# -- the idle timer lives in Kubernetes (the idle-since annotation) ------------------------------------

def test_the_idle_timer_counts_from_the_persisted_annotation() -> None:
    since = parse_rfc3339("2026-12-10T00:00:00Z") or 0.0
    assert idle_since("2026-12-10T00:00:00Z", since + 3000) == since  # a restarted controller resumes
    assert idle_since(None, since + 3000) == since + 3000  # first seen idle now
    assert idle_since("garbage", since) == since
    decision = decide(replace(IDLE, last_activity=idle_since("2026-12-10T00:00:00Z", since + 4000), now=since + 4000))
    assert decision.action is Action.HIBERNATE


def test_the_idle_mark_is_written_once_when_idle_and_removed_when_used() -> None:
    now = parse_rfc3339("2026-12-10T00:00:00Z") or 0.0
    waiting = decide(replace(IDLE, last_activity=now, now=now))
    assert waiting.idle and idle_mark(waiting, None, now) == "2026-12-10T00:00:00Z"
    assert idle_mark(waiting, "2026-12-09T23:00:00Z", now) is None  # already there: no write per look
    busy = decide(replace(IDLE, workers=1, now=now))
    assert idle_mark(busy, "2026-12-09T23:00:00Z", now) == "" and idle_mark(busy, None, now) is None
    off = decide(replace(IDLE, hibernate_after=None))
    assert idle_mark(off, "2026-12-09T23:00:00Z", now) == ""  # the tier stopped hibernating
    asleep = decide(replace(IDLE, hibernated=True))
    assert not asleep.idle and idle_mark(asleep, None, now) is None


# -- a wake starts the first worker and holds the autoscaler until it is up -------------------------------

@pytest.mark.parametrize("change, warm", [
    ({"wake_requested": True}, True), ({"notebooks": 1}, True), ({"jobs": 1}, True),
    ({"hibernate_after": None}, False),  # a policy change is no user waiting
])
def test_a_wake_through_a_door_wants_a_first_worker(change: dict, warm: bool) -> None:
    assert decide(replace(IDLE, hibernated=True, **change)).warm is warm


@pytest.mark.parametrize("maximum, clamp, workers", [(8, None, 1), (1, None, 1), (0, None, 0), (8, 0, 0), (8, 3, 1)])
def test_the_first_worker_respects_the_tier_maximum_and_the_budget_clamp(maximum: int, clamp: int | None,
                                                                          workers: int) -> None:
    assert first_workers(maximum, clamp) == workers


def test_the_autoscaler_is_held_while_scheduler_or_worker_start_then_released() -> None:
    woken = 1000.0
    first = autoscaler_hold(woken, woken, 0.0, (False, False), hold=15.0)
    assert first == Hold(woken + 15.0, False)
    assert autoscaler_hold(woken + 5, woken, first.until or 0, (True, False), 15.0) == Hold(None, False)  # still held
    renewed = autoscaler_hold(woken + 10, woken, first.until or 0, (True, False), 15.0)
    assert renewed == Hold(woken + 25.0, False)  # less than half of it left: renewed
    both = autoscaler_hold(woken + 10.5, woken, renewed.until or 0, (True, True), 15.0)
    assert both.done and both.until is None  # already held 15 s past both being Ready: no write
    late = autoscaler_hold(woken + 30, woken, woken + 25.0, (True, True), 15.0)
    assert late == Hold(woken + 30 + OPERATOR_COOLDOWN, True)  # one last operator-sized pause, then free
    assert autoscaler_hold(woken + WARM_LIMIT + 1, woken, 0.0, (False, False), 15.0) == Hold(None, True)


class _FirstWorker:
    def __init__(self) -> None:
        self.started: list[int] = []

    async def start(self, namespace: str, cluster: str, workers: int) -> bool:
        self.started.append(workers)
        return workers > 0


async def _noop(*args: Any, **kwargs: Any) -> None:
    return None


@pytest.mark.parametrize("maximum, clamp, door, started", [
    (4, None, True, [1]), (4, 0, True, [0]), (1, 0, True, [0]), (4, None, False, []),  # a policy maximum is >= 1
])
def test_the_wake_asks_for_a_first_worker_within_the_tier_and_the_budget(maximum: int, clamp: int | None,
                                                                          door: bool, started: list[int]) -> None:
    controller = SimpleNamespace(api=None, inputs=lambda namespace: SimpleNamespace(max_workers=clamp))
    hibernation = Hibernation(controller, Clock(), interval=1.0)  # type: ignore[arg-type]
    hibernation.first = _FirstWorker()  # type: ignore[assignment]
    hibernation._scale_scheduler = hibernation._annotate = hibernation._event = _noop  # type: ignore[method-assign]
    shape = resolve(parse_policy({"defaults": {"scaling": {"minimum": 0, "maximum": maximum}}}), NamespaceFacts("ns"))
    change = {"wake_requested": True} if door else {"hibernate_after": None}
    decision = decide(replace(IDLE, hibernated=True, **change))
    asyncio.run(hibernation._wake("ns", shape, {"metadata": {"name": "dask-cluster"}}, decision))
    assert hibernation.first.started == started  # type: ignore[attr-defined]
