"""The one bridge from synchronous code (CLI, notebooks) to kr8s's asyncio API.

Notebook kernels already run a loop in the main thread, so ``asyncio.run`` is not an option; one
long-lived loop on a daemon thread also keeps the cached kr8s session (``api.client``) warm between
calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="dask-kubeflow-kr8s", daemon=True).start()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start a coroutine on the shared loop thread; its future lets the caller do other work meanwhile."""
    return asyncio.run_coroutine_threadsafe(coro, _get_loop())


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a kr8s coroutine on the shared loop thread and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _get_loop()).result(timeout)
