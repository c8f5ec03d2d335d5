"""Controller settings: where the policy lives, how hard to push the API, where to serve probes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kube.names import INSTALL_NAMESPACE
from ..render.platform import Platform

__all__ = ["ControllerSettings", "POLICY_CONFIGMAP", "POLICY_KEY"]

POLICY_CONFIGMAP = "dask-kubeflow-policy"
POLICY_KEY = "policy.yaml"


@dataclass(frozen=True)
class ControllerSettings:
    policy_namespace: str = INSTALL_NAMESPACE
    policy_name: str = POLICY_CONFIGMAP
    policy_key: str = POLICY_KEY
    workers: int = 8  # namespaces reconciled concurrently (more only adds HTTP pool overhead when CPU-bound)
    reload_rate: float = 50.0  # namespaces per second re-queued after a policy change or periodic resync
    resync_seconds: float = 600.0  # every namespace is looked at again this often (0 = never)
    request_timeout: float = 30.0  # seconds before an API call that got no answer is retried
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080  # /metrics and /readyz; 0 = do not serve
    liveness: str | None = "http://0.0.0.0:8081/healthz"  # kopf's liveness endpoint; None = off
    # Where the install runs (DASK_KUBEFLOW_*_NAMESPACE, ..._CLUSTER_DOMAIN): what every NetworkPolicy admits.
    platform: Platform = field(default_factory=Platform)
    # NAMESPACE/NAME of Kubeflow's centraldashboard-config to merge the "Dask clusters" item into; None = off.
    dashboard_link: str | None = None
    clock_file: str | None = None  # seconds to add to the wall clock, re-read when it changes (tests)
    lifecycle_interval: float = 30.0  # seconds between looks at idle clusters (hibernation, usage)
    usage_flush: float | None = None  # seconds between writes of a usage ConfigMap (None: 10 intervals)
