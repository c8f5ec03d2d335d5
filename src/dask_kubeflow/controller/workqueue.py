"""A coalescing, rate-limited work queue of namespace names (the client-go workqueue idea).

Why not one kopf handler per event: many events (Profile, Namespace, RoleBinding, every managed
object, a policy reload) all mean "look at namespace X again". Coalescing them into one key means
one reconcile however many events arrived, never two reconciles of the same namespace at once, and
a failing namespace retried with its own exponential backoff while every other namespace proceeds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

from ..kube.retry import delay_for

__all__ = ["WorkQueue"]


class WorkQueue:
    """Keys become ready at a time; a key is handed to one worker at a time.

    ``add`` of a key that is already queued keeps the earlier time; ``add`` of a key that is being
    processed marks it to run again once ``done`` is called (so no event is ever lost).
    """

    def __init__(self, *, base_delay: float = 0.5, max_delay: float = 60.0) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._ready_at: dict[str, float] = {}
        self._processing: set[str] = set()
        self._again: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self.base_delay = base_delay
        self.max_delay = max_delay

    def __len__(self) -> int:
        return len(self._ready_at) + len(self._again)

    def is_processing(self, key: str) -> bool:
        return key in self._processing

    def idle(self) -> bool:
        return not self._ready_at and not self._again and not self._processing

    def add(self, key: str, delay: float = 0.0) -> None:
        when = time.monotonic() + max(delay, 0.0)
        if key in self._processing:
            self._again[key] = min(when, self._again.get(key, when))
            return
        if key in self._ready_at and self._ready_at[key] <= when:
            return
        self._ready_at[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        self._changed.set()

    def add_all(self, keys: list[str], rate: float) -> None:
        """Queue every key, spread at ``rate`` keys per second so a reload does not flood the API."""
        for index, key in enumerate(sorted(keys)):
            self.add(key, delay=index / rate if rate > 0 else 0.0)

    async def get(self) -> str:
        while True:
            now = time.monotonic()
            while self._heap:
                when, _, key = self._heap[0]
                if self._ready_at.get(key) != when:  # superseded by an earlier add
                    heapq.heappop(self._heap)
                    continue
                if when > now:
                    break
                heapq.heappop(self._heap)
                del self._ready_at[key]
                self._processing.add(key)
                return key
            self._changed.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass

    def done(self, key: str, *, failed: bool = False) -> float | None:
        """Finish ``key``. A failed key is retried after a backoff, which is returned."""
        self._processing.discard(key)
        retry: float | None = None
        if failed:
            count = self._failures.get(key, 0)
            self._failures[key] = count + 1
            retry = delay_for(count, self.base_delay, self.max_delay)
            self.add(key, delay=retry)
        else:
            self._failures.pop(key, None)
        if key in self._again:
            self.add(key, delay=max(self._again.pop(key) - time.monotonic(), 0.0))
        self._changed.set()
        return retry

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)
