"""One kopf handler loaded next to the upstream operator (`kopf run -m <controller> -m <this module>`)
that backports the outcome of dask/dask-kubernetes#977 to 2026.3.0.

Why: in 2026.3.0 `daskcluster_create_components` ends by writing `status.phase: Pending`, while
`handle_scheduler_service_status` writes `Running` as soon as the scheduler Service appears. When
the Service handler wins the race, `Pending` overwrites `Running` and the DaskCluster stays Pending
for good (upstream issue #968; measured here: 2 of 12 clusters). Upstream fixed it after 2026.3.0
(#977: the phase becomes Running once all components exist). This handler does the same from the
outside; the upstream operator's code runs unmodified. `UpstreamOperator(backports=False)` runs
the operator without it.
"""

from __future__ import annotations

from typing import Any

import kopf
import kr8s
from dask_kubernetes.operator._objects import DaskCluster
from kr8s.asyncio.objects import Service


@kopf.on.field("daskcluster.kubernetes.dask.org", field="status.phase", new="Pending")
async def daskcluster_running_once_components_exist(
    name: str | None, namespace: str | None, logger: kopf.Logger, **__: Any
) -> None:
    """A cluster whose scheduler Service exists (and, for a LoadBalancer, has an ingress) is Running."""
    assert name and namespace
    try:
        service = await Service.get(f"{name}-scheduler", namespace=namespace)
    except kr8s.NotFoundError:
        return
    if service.spec.get("type") == "LoadBalancer" and not service.status.get("loadBalancer", {}).get("ingress"):
        return
    cluster = await DaskCluster.get(name, namespace=namespace)
    await cluster.patch({"status": {"phase": "Running"}})
    logger.info("Backport of dask-kubernetes#977: scheduler Service exists, DaskCluster %s is Running.", name)
