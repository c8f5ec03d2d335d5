"""How much of the shared gateway one user may hold (pure bookkeeping, no I/O).

Every upstream connection — an HTTP request in flight or an open websocket — takes a slot: at most
``max_connections_per_user`` per user and ``max_upstream_connections`` in all. A request beyond
either is refused at once (429 for the user's own cap, 503 for the global one) instead of queueing,
so one user's many tabs or a script cannot exhaust sockets, memory or the connector for everyone.
Memory per slot is bounded by the websocket message caps and by streaming HTTP bodies chunk by
chunk (see docs/security.md for the arithmetic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class OverLimit(Exception):
    """No slot free; ``status`` is what the browser gets, ``reason`` says which cap."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class ConnectionLimits:
    per_user: int
    total: int
    _held: Counter[str] = field(default_factory=Counter)
    _total: int = 0

    def held(self, user: str | None = None) -> int:
        return self._total if user is None else self._held[user]

    @contextmanager
    def slot(self, user: str) -> Iterator[None]:
        """Hold one upstream connection for ``user`` for the duration of the block."""
        if self._held[user] >= self.per_user:
            raise OverLimit(429, f"{user} already has {self._held[user]} dashboard connections open "
                                 f"(the limit per user is {self.per_user})")
        if self._total >= self.total:
            raise OverLimit(503, f"the gateway has {self._total} dashboard connections open "
                                 f"(its limit is {self.total})")
        self._held[user] += 1
        self._total += 1
        try:
            yield
        finally:
            self._held[user] -= 1
            self._total -= 1
            if not self._held[user]:
                del self._held[user]
