"""Ask a scheduler's HTTP JSON endpoints how big and how busy its cluster is (I/O edge).

Uses the same upstream resolution as the proxy; an unreachable or slow scheduler yields ``None``
so one broken cluster never breaks the page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from ..kube.names import gateway_prefix
from .clusters_page import SchedulerStats
from .upstream import served_prefix

log = logging.getLogger(__name__)


def stats_from_json(counts: dict[str, Any], identity: dict[str, Any] | None) -> SchedulerStats:
    """``/json/counts.json`` gives workers, cores and processing tasks; identity gives memory."""
    memory = None
    if identity is not None:
        memory = sum(int(w.get("memory_limit") or 0) for w in (identity.get("workers") or {}).values())
    return SchedulerStats(
        workers=int(counts.get("workers", 0)),
        cores=int(counts.get("cores", 0)),
        memory_bytes=memory,
        tasks_in_flight=int(counts.get("processing", 0)),
    )


async def _get_json(session: aiohttp.ClientSession, url: str, timeout: float) -> dict[str, Any]:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        response.raise_for_status()
        return await response.json(content_type=None)


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
    prefix = served_prefix(cluster)
    if prefix is None:
        prefix = gateway_prefix(namespace, name)
    base = upstream_base.rstrip("/") + prefix.rstrip("/")
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
    return stats_from_json(counts, identity)
