"""Names and addresses derived from (namespace, cluster): one place, so every part agrees."""

from __future__ import annotations

from .constants import DASHBOARD_ROOT, SCHEDULER_PORT


def dashboard_prefix(namespace: str, cluster: str) -> str:
    """Path under which the scheduler serves its whole dashboard: ``/dask/<ns>/<cluster>``."""
    return f"{DASHBOARD_ROOT}/{namespace}/{cluster}"


def scheduler_service(cluster: str) -> str:
    """Service the upstream operator creates for the scheduler."""
    return f"{cluster}-scheduler"


def scheduler_address(namespace: str, cluster: str) -> str:
    """Dask address of the scheduler from any pod in the cluster."""
    return f"tcp://{scheduler_service(cluster)}.{namespace}:{SCHEDULER_PORT}"


def network_policy_name(cluster: str) -> str:
    return f"{cluster}-ingress"
