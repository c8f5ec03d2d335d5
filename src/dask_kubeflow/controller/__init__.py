"""The profile controller: every Kubeflow profile namespace gets its Dask cluster, kept right.

Modules, one concern each: ``handlers`` (kopf: Profiles, life cycle, probes), ``informer`` and
``watched`` (list-and-watch caches of Namespaces, contributor RoleBindings, quotas and our own
objects), ``workqueue`` (coalescing, per-namespace backoff), ``engine`` (workers; status, events,
metrics and logs around each reconcile), ``reconcile`` (resolve → render → apply → prune),
``quota`` (does the tier fit the namespace's quota), ``apply`` (kr8s writes), ``livestate``
(drift comparison, echoes of our own writes), ``policy_source`` (policy ConfigMap reload),
``status`` (per-namespace status ConfigMap), ``events`` (Kubernetes Events), ``metrics``
(Prometheus, readiness), ``runner`` (kopf operator loop). Run it with ``dask-kubeflow controller``.
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
