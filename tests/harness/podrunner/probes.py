"""Readiness probes, run against the pod's own loopback address as the kubelet runs them against the pod IP."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp

PERIOD_CAP_SECONDS = 1.0  # probes run at most this far apart, so tests do not wait for 10 s periods
TIMEOUT_CAP_SECONDS = 5.0


def probe_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(
        f"probe port {port!r} names no port of container {container.get('name')!r}; "
        "declare it under the container's ports with that name or give the number"
    )


async def probe_once(
    probe: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, session: aiohttp.ClientSession
) -> tuple[bool, str]:
    """Run one probe; (succeeded, why)."""
    timeout = min(float(probe.get("timeoutSeconds", 1)), TIMEOUT_CAP_SECONDS)
    try:
        if "httpGet" in probe:
            get = probe["httpGet"]
            if str(get.get("scheme", "HTTP")).upper() != "HTTP":
                return False, "HTTPS probes are not run by the local pod runner"
            port = probe_port(get.get("port"), container)
            path = get.get("path") or "/"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            url = f"http://{pod_ip}:{port}{path if path.startswith('/') else '/' + path}"
            async with session.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as resp:
                return 200 <= resp.status < 400, f"GET {url} -> {resp.status}"
        if "tcpSocket" in probe:
            port = probe_port(probe["tcpSocket"].get("port"), container)
            _, writer = await asyncio.wait_for(asyncio.open_connection(pod_ip, port), timeout)
            writer.close()
            return True, f"tcp {pod_ip}:{port} open"
        return False, "only httpGet and tcpSocket probes are run by the local pod runner"
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        return False, f"probe failed: {exc!r}"


def probe_timing(probe: Mapping[str, Any]) -> tuple[float, float, int, int]:
    """(initial delay, period, success threshold, failure threshold), the period capped for test speed."""
    return (
        float(probe.get("initialDelaySeconds", 0)),
        min(float(probe.get("periodSeconds", 10)), PERIOD_CAP_SECONDS),
        int(probe.get("successThreshold", 1)),
        int(probe.get("failureThreshold", 3)),
    )
