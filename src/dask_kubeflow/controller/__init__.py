"""The profile controller: every Kubeflow profile namespace gets its Dask cluster, kept right.

Modules, one concern each: ``handlers`` (kopf: life cycle, probes), ``informer`` and ``watched``
(the one road in: list-and-watch caches of Profiles, Namespaces, contributor RoleBindings, quotas
and our own objects), ``facts`` (the typed values kept of them), ``workqueue`` (coalescing,
per-namespace backoff), ``engine`` (workers), ``reconcile`` (plan → apply → prune),
``results`` (Changes, Result, TemporaryError/PermanentError), ``report`` (status, Events, metrics
and logs of each reconcile), ``quota`` (does the tier fit the namespace's quota), ``apply`` (kr8s
writes), ``livestate`` (drift comparison, echoes of our own writes), ``policy_source`` (policy
ConfigMap reload), ``status`` (per-namespace status ConfigMap), ``events`` (Kubernetes Events),
``metrics`` (Prometheus, readiness), ``runner`` (kopf operator loop). Run it with
``dask-kubeflow controller``.
"""

from __future__ import annotations

from .settings import ControllerSettings
from .status import read_namespace_status, read_namespace_status_async

__all__ = ["ControllerSettings", "read_namespace_status", "read_namespace_status_async"]
