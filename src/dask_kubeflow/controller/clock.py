"""The controller's clock: wall time, or wall time plus an offset read from a file (tests, demos).

Hibernation waits hours and budgets run per calendar month; tests cannot. ``dask-kubeflow controller
--clock-file PATH`` (or ``$DASK_KUBEFLOW_CLOCK_FILE``) makes the controller read PATH, a number of
seconds to add to the wall clock ("3600" = one hour ahead), whenever the file changes. A missing or
unreadable file means no offset. Only what the controller decides by time (idle timers, usage
intervals, the budget period) reads this clock; Kubernetes timestamps stay what the API says.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

__all__ = ["Clock", "ENV_CLOCK_FILE", "clock_from_env", "rfc3339", "parse_rfc3339", "month_of", "month_start"]

ENV_CLOCK_FILE = "DASK_KUBEFLOW_CLOCK_FILE"
log = logging.getLogger("dask_kubeflow.controller")


class Clock:
    """``now()``: seconds since the epoch, plus the offset in ``path`` (re-read when it changes)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else None
        self._stamp: tuple[int, int] | None = None
        self.offset = 0.0

    def _refresh(self) -> None:
        assert self.path is not None
        try:
            stat = self.path.stat()
        except OSError:
            self._stamp, self.offset = None, 0.0
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.offset = float(self.path.read_text().strip() or 0)
        except (OSError, ValueError) as err:
            log.warning("clock file %s is not a number of seconds (%s); using no offset", self.path, err)
            self.offset = 0.0

    def now(self) -> float:
        if self.path is not None:
            self._refresh()
        return time.time() + self.offset


def clock_from_env(path: str | None = None) -> Clock:
    return Clock(path or os.environ.get(ENV_CLOCK_FILE) or None)


def rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> float | None:
    """Seconds since the epoch of a Kubernetes timestamp (None if absent or unreadable)."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def month_of(seconds: float) -> str:
    """The budget period (calendar month, UTC) a moment falls in: ``2026-12``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m")


def month_start(seconds: float, months_ahead: int = 0) -> float:
    """Start of the month of ``seconds`` (``months_ahead=1``: of the next one), in seconds."""
    day = dt.datetime.fromtimestamp(seconds, dt.UTC)
    index = day.year * 12 + day.month - 1 + months_ahead
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC).timestamp()
