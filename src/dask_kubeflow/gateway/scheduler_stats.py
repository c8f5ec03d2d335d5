"""Ask a scheduler's HTTP JSON endpoints how big and how busy its cluster is (I/O edge).

Uses the same upstream resolution as the proxy; an unreachable or slow scheduler yields ``None``
so one broken cluster never breaks the page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from .clusters_page import SchedulerStats
from .upstream import gateway_prefix, served_prefix

log = logging.getLogger(__name__)


def stats_from_json(counts: dict[str, Any], identity: dict[str, Any]) -> SchedulerStats:
    """``/json/counts.json`` gives workers, cores and processing tasks; identity gives memory."""
    workers = identity.get("workers") or {}
    memory = sum(int(w.get("memory_limit") or 0) for w in workers.values())
    return SchedulerStats(
        workers=int(counts.get("workers", len(workers))),
        cores=int(counts.get("cores", 0)),
        memory_bytes=memory,
        tasks_in_flight=int(counts.get("processing", 0)),
    )


async def fetch_stats(
    session: aiohttp.ClientSession,
    upstream_base: str,
    namespace: str,
    cluster: dict[str, Any],
    timeout: float,
) -> SchedulerStats | None:
    prefix = served_prefix(cluster)
    if prefix is None:
        prefix = gateway_prefix(namespace, cluster["metadata"]["name"])
    base = upstream_base.rstrip("/") + prefix.rstrip("/")
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.get(f"{base}/json/counts.json", timeout=client_timeout) as counts_response:
            counts_response.raise_for_status()
            counts = await counts_response.json(content_type=None)
        async with session.get(f"{base}/json/identity.json", timeout=client_timeout) as identity_response:
            identity_response.raise_for_status()
            identity = await identity_response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
        log.info("scheduler of %s/%s not answering at %s: %s", namespace, cluster["metadata"]["name"], base, exc)
        return None
    return stats_from_json(counts, identity)
