"""The harness's shorter autoscaler cooldown (tests/harness/operator_cooldown.py): which annotation
values it rewrites, and how the operator process is told. End to end it is exercised by every stack
whose module does not set AUTOSCALER_COOLDOWN_SECONDS = None (test_operator_e2e.py keeps upstream's)."""

from __future__ import annotations

import types

import pytest

from tests.harness import operator as operator_module
from tests.harness.operator import COOLDOWN_ENV, COOLDOWN_MODULE, UpstreamOperator, default_autoscaler_cooldown
from tests.harness.operator_cooldown import UPSTREAM_COOLDOWN_SECONDS, shortened
from tests.harness.stack import autoscaler_cooldown

NOW = 1_800_000_000.0


def test_a_fresh_upstream_cooldown_becomes_set_time_plus_the_harness_cooldown() -> None:
    assert shortened(str(NOW + UPSTREAM_COOLDOWN_SECONDS), 5.0, NOW) == NOW + 5.0
    # the watch event arrived 2 s after upstream wrote it: still set-time + 5
    assert shortened(str(NOW + UPSTREAM_COOLDOWN_SECONDS), 5.0, NOW + 2) == NOW + 5.0


def test_an_already_shortened_or_expired_or_odd_annotation_is_left_alone() -> None:
    assert shortened(str(NOW + 5.0), 5.0, NOW) is None  # this module's own patch coming back
    assert shortened(str(NOW - 1), 5.0, NOW) is None
    assert shortened(None, 5.0, NOW) is None
    assert shortened("soon", 5.0, NOW) is None
    # an event so late that less than the harness cooldown is left: nothing to shorten
    assert shortened(str(NOW + UPSTREAM_COOLDOWN_SECONDS), 5.0, NOW + 10) is None


def test_the_operator_loads_the_module_unless_told_to_run_upstreams_cooldown(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(COOLDOWN_ENV, raising=False)
    harness = UpstreamOperator(tmp_path / "kubeconfig", tmp_path / "log")
    assert harness.autoscaler_cooldown == operator_module.HARNESS_AUTOSCALER_COOLDOWN
    assert COOLDOWN_MODULE in harness.command()
    upstream = UpstreamOperator(tmp_path / "kubeconfig", tmp_path / "log", autoscaler_cooldown=None)
    assert COOLDOWN_MODULE not in upstream.command()


def test_the_run_and_the_module_choose_the_cooldown(monkeypatch) -> None:
    monkeypatch.setenv(COOLDOWN_ENV, "upstream")
    assert default_autoscaler_cooldown() is None
    monkeypatch.setenv(COOLDOWN_ENV, "2.5")
    assert default_autoscaler_cooldown() == 2.5
    monkeypatch.setenv(COOLDOWN_ENV, "fast")
    with pytest.raises(ValueError, match="neither a number of seconds nor 'upstream'"):
        default_autoscaler_cooldown()
    assert autoscaler_cooldown(types.SimpleNamespace(AUTOSCALER_COOLDOWN_SECONDS=None)) is None
    assert autoscaler_cooldown(types.SimpleNamespace()) == "default"
