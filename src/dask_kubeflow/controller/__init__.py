"""The profile controller: every Kubeflow profile namespace gets its Dask cluster, kept right.

Modules, one concern each: ``handlers`` (kopf watches and indexes), ``engine`` (work queue,
workers, status and events around each reconcile), ``reconcile`` (resolve → render → apply →
prune), ``apply`` (kr8s writes), ``livestate`` (drift comparison), ``policy_source`` (policy
ConfigMap reload), ``status`` (per-namespace status ConfigMap), ``metrics`` (Prometheus and
readiness), ``runner`` (kopf operator loop). Run it with ``dask-kubeflow controller``.
"""

from __future__ import annotations

from .settings import OPT_OUT_LABEL, STATUS_CONFIGMAP, ControllerSettings
from .status import read_namespace_status, read_namespace_status_async

__all__ = [
    "ControllerSettings",
    "OPT_OUT_LABEL",
    "STATUS_CONFIGMAP",
    "read_namespace_status",
    "read_namespace_status_async",
]
