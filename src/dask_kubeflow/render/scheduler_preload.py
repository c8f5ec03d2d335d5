"""Scheduler preload shipped inline with every rendered DaskCluster (the text of this file).

The upstream operator asks the scheduler every 5 s how many workers it wants (``adaptive_target``,
over HTTP at ``/api/v1/adaptive_target``, else over the Dask RPC) and retires workers through
``/api/v1/retire_workers``, then deletes the worker Deployments named in the answer. Three gaps
are closed here, inside the scheduler, because the image is plain Dask (dask_kubeflow is not
installed in it; this file may import only the standard library, dask and distributed):

1. ``--dashboard-prefix`` moves the HTTP API under the prefix, but the operator calls it at the
   root. The API is mounted at the root too, so the operator's HTTP calls succeed.
2. The operator counts worker pods, Dask counts worker processes. With ``--nworkers N`` a pod holds
   N processes named ``<pod>-0`` ... ``<pod>-<N-1>``. Here targets are given in pods, and retiring
   retires whole pods and answers with the pod (= Deployment) names the operator deletes.
3. ``adaptive_target`` asks to drop idle workers at once. The policy's ``scaling.idleAfter`` says
   how long the cluster must have been idle first: until then the current pod count is reported.
   The scheduler itself never shuts down (no ``idle_timeout``).

Settings come from the scheduler container's environment: ``DASK_KUBEFLOW_IDLE_AFTER_SECONDS`` and
``DASK_KUBEFLOW_WORKER_PROCESSES``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time

from distributed.http.utils import RequestHandler, get_handlers

IDLE_AFTER_ENV = "DASK_KUBEFLOW_IDLE_AFTER_SECONDS"
PROCESSES_ENV = "DASK_KUBEFLOW_WORKER_PROCESSES"

logger = logging.getLogger("distributed.scheduler.dask_kubeflow")


def pod_of(worker_name, processes: int) -> str:
    """The worker pod (the operator's Deployment name) a Dask worker process runs in."""
    name = str(worker_name)
    if processes > 1:
        head, sep, index = name.rpartition("-")
        if sep and index.isdigit():
            return head
    return name


class PodScaling:
    """``adaptive_target`` and worker retirement counted in pods, holding pods for ``idle_after`` s."""

    def __init__(self, scheduler, idle_after: float, processes: int = 1, clock=time.monotonic):
        self.scheduler = scheduler
        self.idle_after = idle_after
        self.processes = max(1, processes)
        self.clock = clock
        self.original = scheduler.adaptive_target
        self.seen_transitions = scheduler.transition_counter
        self.busy_at = clock()
        self.__name__ = "adaptive_target"  # the RPC server logs handlers by name

    def group(self, ws) -> str:
        return pod_of(ws.name, self.processes)

    def pods(self) -> set:
        return {self.group(ws) for ws in self.scheduler.workers.values()}

    def busy(self) -> bool:
        """Work happened since the last call, or is waiting or running now."""
        s = self.scheduler
        moved = s.transition_counter != self.seen_transitions
        self.seen_transitions = s.transition_counter
        return bool(moved or s.queued or s.unrunnable or any(ws.processing for ws in s.workers.values()))

    def wanted_pods(self, target_duration=None) -> int:
        """Dask's own target (in processes) as pods; scale-down keeps whole pods with data."""
        target = self.original(target_duration)
        pods = self.pods()
        if target >= len(self.scheduler.workers):
            return max(len(pods), math.ceil(target / self.processes))
        closable = {pod_of(name, self.processes)
                    for name in self.scheduler.workers_to_close(key=self.group, attribute="name")}
        return len(pods) - len(closable)

    def __call__(self, target_duration=None) -> int:
        wanted = self.wanted_pods(target_duration)
        now = self.clock()
        if self.busy():
            self.busy_at = now
        current = len(self.pods())
        if wanted < current and now - self.busy_at < self.idle_after:
            return current
        return wanted

    async def retire_pods(self, n: int) -> dict:
        """Gracefully retire ``n`` whole pods; ``{pod: {"name": pod}}`` as the operator reads it."""
        addresses = self.scheduler.workers_to_close(n=n * self.processes, key=self.group)
        retired = await self.scheduler.retire_workers(workers=addresses)
        pods = sorted({pod_of(info.get("name", address), self.processes) for address, info in retired.items()})
        return {pod: {"name": pod} for pod in pods}


class RetirePodsHandler(RequestHandler):
    """``POST /api/v1/retire_workers`` ``{"n": pods}`` (what the operator sends), in pods."""

    async def post(self):
        self.set_header("Content-Type", "application/json")
        scaling = self.server.dask_kubeflow_scaling
        try:
            params = json.loads(self.request.body or b"{}")
            n = int(params.get("n", 0))
            if n <= 0:
                raise ValueError(f"expected a positive number of pods as 'n', got {params.get('n')!r}")
            self.write(json.dumps(await scaling.retire_pods(n)))
        except Exception as exc:
            logger.warning("dask-kubeflow: retiring worker pods failed: %s", exc)
            self.set_status(500)
            self.write(json.dumps({"Error": str(exc)}))


def root_api_handlers(scheduler) -> list:
    """distributed's JSON API at the root, with retire_workers counted in pods."""
    handlers = []
    for path, cls, kwargs in get_handlers(scheduler, ["distributed.http.scheduler.api"], prefix="/"):
        if path == "/api/v1/retire_workers":
            cls = RetirePodsHandler
        handlers.append((path, cls, kwargs))
    return handlers


def dask_setup(scheduler) -> None:
    idle_after = float(os.environ.get(IDLE_AFTER_ENV) or 0)
    processes = int(os.environ.get(PROCESSES_ENV) or 1)
    scaling = PodScaling(scheduler, idle_after, processes)
    scheduler.dask_kubeflow_scaling = scaling
    scheduler.adaptive_target = scaling
    scheduler.handlers["adaptive_target"] = scaling
    application = getattr(scheduler, "http_application", None)
    if application is not None:
        application.add_handlers(r".*$", root_api_handlers(scheduler))
    logger.info(
        "dask-kubeflow: autoscaling counts worker pods of %d process(es); workers are kept until the "
        "cluster has been idle for %.0f s; HTTP API mounted at /api/v1 for the operator", processes, idle_after,
    )
