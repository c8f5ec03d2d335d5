"""The one backoff every retry loop uses: doubling from ``initial`` up to ``maximum``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """``next()`` returns the delay to wait now and doubles the following one; ``reset()`` after a
    success. Deterministic on purpose (no jitter): a handful of watch loops, not a thundering herd."""

    initial: float = 1.0
    maximum: float = 30.0
    _current: float = 0.0

    def next(self) -> float:
        delay = self._current or self.initial
        self._current = min(delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._current = 0.0


def delay_for(attempt: int, initial: float = 1.0, maximum: float = 30.0) -> float:
    """The delay before retry number ``attempt`` (0-based): the same doubling as :class:`Backoff`."""
    return min(initial * 2 ** max(attempt, 0), maximum)
