"""Ask a scheduler's HTTP JSON endpoints how big and how busy its cluster is (I/O edge).

The URL is ``<resolver base><gateway_prefix(ns, name)>/json/...`` — derived from namespace and name
only, as the proxy's; the caller fetches only clusters ``served_behind_gateway``. Redirects are not
followed, answers are read up to ``MAX_STATS_BYTES`` within the timeout, and anything unexpected
(unreachable, slow, not 200, not the JSON shape) yields ``None``, so one broken or hostile
scheduler never breaks the page nor makes the gateway fetch anything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from ..kube.names import gateway_prefix
from .clusters_page import SchedulerStats

log = logging.getLogger(__name__)

MAX_STATS_BYTES = 1024 * 1024  # counts.json is ~100 bytes; identity.json ~1 KB per worker


class StatsError(Exception):
    """The scheduler's answer was not the JSON the page needs."""


def stats_from_json(counts: Any, identity: Any) -> SchedulerStats:
    """``/json/counts.json`` gives workers, cores and processing tasks; identity gives memory.
    Raises ``StatsError`` for any other shape."""
    try:
        memory = None
        if identity is not None:
            memory = sum(int(w.get("memory_limit") or 0) for w in (identity.get("workers") or {}).values())
        return SchedulerStats(
            workers=int(counts.get("workers", 0)),
            cores=int(counts.get("cores", 0)),
            memory_bytes=memory,
            tasks_in_flight=int(counts.get("processing", 0)),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise StatsError(f"unexpected JSON: {exc}") from exc


async def _get_json(session: aiohttp.ClientSession, url: str, timeout: float) -> Any:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False) as response:
        if response.status != 200:
            raise StatsError(f"answered {response.status}, not 200")
        body = await response.content.read(MAX_STATS_BYTES + 1)
        if len(body) > MAX_STATS_BYTES:
            raise StatsError(f"answer larger than {MAX_STATS_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise StatsError(f"not JSON: {exc}") from exc


async def fetch_stats(
    session: aiohttp.ClientSession,
    upstream_base: str,
    namespace: str,
    cluster: dict[str, Any],
    timeout: float,
) -> SchedulerStats | None:
    """Counts are required (no answer: None); identity (for memory) is optional, as the scheduler
    occasionally fails to serialise it while workers come and go."""
    name = cluster["metadata"]["name"]
    base = upstream_base.rstrip("/") + gateway_prefix(namespace, name)
    counts, identity = await asyncio.gather(
        _get_json(session, f"{base}/json/counts.json", timeout),
        _get_json(session, f"{base}/json/identity.json", timeout),
        return_exceptions=True,
    )
    if isinstance(counts, BaseException):
        log.info("scheduler of %s/%s not answering at %s: %s", namespace, name, base, counts)
        return None
    if isinstance(identity, BaseException):
        log.info("scheduler of %s/%s: no worker memory from %s/json/identity.json: %s", namespace, name, base, identity)
        identity = None
    try:
        return stats_from_json(counts, identity)
    except StatsError as exc:
        log.info("scheduler of %s/%s at %s: %s", namespace, name, base, exc)
        return None
