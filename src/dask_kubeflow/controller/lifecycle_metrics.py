"""Prometheus metrics of hibernation and usage accounting (on the controller's one registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from .metrics import REGISTRY

__all__ = ["HIBERNATED", "LIFECYCLE", "CORE_SECONDS", "MEMORY_GIB_SECONDS", "BUDGET_CLAMPED"]

_P = "dask_kubeflow_controller_"

HIBERNATED = Gauge(_P + "hibernated_clusters", "Managed clusters whose scheduler is hibernated", registry=REGISTRY)
LIFECYCLE = Counter(_P + "lifecycle_actions_total", "Hibernations and wakes carried out", ["action"],
                    registry=REGISTRY)
CORE_SECONDS = Counter("dask_kubeflow_usage_core_seconds_total",
                       "CPU core-seconds requested by Running Dask pods (requests x time Running)",
                       ["namespace", "cluster", "component"], registry=REGISTRY)
MEMORY_GIB_SECONDS = Counter("dask_kubeflow_usage_memory_gib_seconds_total",
                             "Memory GiB-seconds requested by Running Dask pods (requests x time Running)",
                             ["namespace", "cluster", "component"], registry=REGISTRY)
BUDGET_CLAMPED = Gauge(_P + "budget_clamped_namespaces", "Namespaces whose autoscaler is clamped by budget.coreHours",
                       registry=REGISTRY)
