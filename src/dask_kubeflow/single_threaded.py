"""Dask settings for single-threaded workers (GIL-bound work), shared by the embedded cluster and render.

With one thread per worker process, the task holds the GIL nearly all the time, and every periodic
callback of distributed's takes it, and a core, away from the task: the event-loop tick every 20 ms,
the sampling profiler every 10 ms, the memory monitor every 100 ms, the system monitor every 500 ms,
work stealing every 100 ms. On 2 cores an idle embedded cluster of two such workers used 14% of a
core with distributed's defaults and 2.6% with these (``benchmarks/single_threaded_settings.py``).

What stays: the profiler still samples (ten times a second), memory limits are still checked twice a
second, the dashboard's system page updates every 2 s. The scheduler also queues one task per
worker, not two (``worker-saturation``), so equal shards split evenly.

Render sets ``SCHEDULER`` on the scheduler pod and ``WORKER`` on the worker pods of tiers with
``worker.threads: 1`` (a policy ``env`` entry of the same name wins). The embedded cluster, where
scheduler, nannies and workers share the machine, also quiets the scheduler's own background work
(``embedded``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["SCHEDULER", "WORKER", "as_env", "embedded", "env_name"]

SCHEDULER: Final[dict[str, object]] = {"distributed.scheduler.worker-saturation": 1.0}
_SCHEDULER_BACKGROUND: Final[dict[str, object]] = {
    "distributed.scheduler.work-stealing-interval": "500ms",
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}
WORKER: Final[dict[str, object]] = {
    "distributed.worker.profile.interval": "100ms",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
}


def embedded() -> dict[str, object]:
    """Everything, for a cluster whose scheduler runs on the workers' cores."""
    return {**SCHEDULER, **_SCHEDULER_BACKGROUND, **WORKER}


def env_name(key: str) -> str:
    """The environment variable dask reads ``key`` from: ``DASK_`` + the key, ``__`` between levels."""
    return "DASK_" + "__".join(part.upper().replace("-", "_") for part in key.split("."))


def as_env(config: dict[str, object]) -> dict[str, str]:
    """``config`` as container environment (dask parses each value back with ``ast.literal_eval``)."""
    return {env_name(key): str(value) for key, value in config.items()}
