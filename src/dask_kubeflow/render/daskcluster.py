"""The DaskCluster and DaskAutoscaler of one namespace, for the upstream dask-kubernetes operator.

The scheduler serves its dashboard under ``/dask/<ns>/<cluster>`` (the central gateway forwards
that path unchanged) and stays up for good: no ``spec.idleTimeout``, whose fallback makes the
scheduler shut itself down. Workers come and go with the DaskAutoscaler, between the tier's
minimum and maximum; ``scaling.idleAfter`` and pods of several worker processes are handled inside
the scheduler by the preload in ``scheduler_preload.py`` (it reports targets in pods, and keeps
reporting the current pod count until the cluster has been idle that long).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from .. import single_threaded
from ..kube.kinds import DASK_AUTOSCALER, DASK_CLUSTER
from ..kube.names import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    DASHBOARD_PREFIX_ANNOTATION,
    ENV_BOKEH_WEBSOCKET_ORIGINS,
    ENV_IDLE_AFTER_SECONDS,
    ENV_SCHEDULER_PRELOAD,
    ENV_SCHEDULER_ROUTES,
    ENV_WORKER_PROCESSES,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_COMPONENT_LABEL,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
    gateway_prefix,
)
from ..policy import ClusterShape, NamespaceFacts
from .platform import Platform
from .pods import (container_resources, container_security, container_workload, env_list, placement, pod_metadata,
                   pod_security, pod_workload)

# distributed's default scheduler routes plus the JSON API the operator calls
# (/api/v1/adaptive_target, /api/v1/retire_workers). Written as a Python list literal, which is
# how dask parses DASK_* environment values.
SCHEDULER_HTTP_ROUTES = (
    "distributed.http.scheduler.prometheus",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.scheduler.api",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
)


@cache
def scheduler_preload_text() -> str:
    """Source of the preload the scheduler runs (dask accepts a script's text as a preload).

    The module docstring is dropped: the scheduler logs the whole text when it imports it.
    """
    source = files(__package__).joinpath("scheduler_preload.py").read_text(encoding="utf-8")
    body = source.split('"""', 2)[2].lstrip("\n")
    return "# dask-kubeflow scheduler preload (dask_kubeflow/render/scheduler_preload.py)\n" + body


def _scheduler_container(namespace: NamespaceFacts, shape: ClusterShape, platform: Platform) -> dict[str, Any]:
    s = shape.settings
    prefix = gateway_prefix(namespace.name, s.cluster_name)

    def health() -> dict[str, Any]:
        return {"httpGet": {"port": DASHBOARD_PORT_NAME, "path": f"{prefix}/health"}}

    own_env = {
        ENV_SCHEDULER_ROUTES: json.dumps(list(SCHEDULER_HTTP_ROUTES)),
        ENV_SCHEDULER_PRELOAD: scheduler_preload_text(),
        ENV_IDLE_AFTER_SECONDS: str(s.scaling.idle_seconds),
        ENV_WORKER_PROCESSES: str(s.worker.processes),
        # Dashboard websockets only with the Origin the gateway sends (a list literal, as dask parses it).
        ENV_BOKEH_WEBSOCKET_ORIGINS: json.dumps(list(platform.websocket_origins)),
    }
    # Single-threaded workers: queue one task each, not two (policy env may override it).
    tuned = single_threaded.as_env(single_threaded.SCHEDULER) if s.worker.threads == 1 else {}
    return {
        "name": "scheduler",
        "image": s.image,
        "imagePullPolicy": s.image_pull_policy,
        "args": [
            "dask", "scheduler",
            "--host", "0.0.0.0",
            "--port", str(SCHEDULER_PORT),
            "--dashboard-address", f":{DASHBOARD_PORT}",
            "--dashboard-prefix", prefix,
        ],
        "env": env_list(tuned, s.env, own_env),
        "resources": container_resources(s.scheduler.resources),
        "securityContext": container_security(s),
        **container_workload(s, s.scheduler),
        "ports": [
            {"name": SCHEDULER_PORT_NAME, "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
            {"name": DASHBOARD_PORT_NAME, "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {**health(), "initialDelaySeconds": 0, "periodSeconds": 2, "timeoutSeconds": 5},
        "livenessProbe": {**health(), "initialDelaySeconds": 15, "periodSeconds": 20, "timeoutSeconds": 5},
    }


def worker_args(shape: ClusterShape) -> list[str]:
    """``dask worker`` sized by the shape; ``--name`` is the name the operator retires it by."""
    w = shape.settings.worker
    args = [
        "dask", "worker",
        "--name", "$(DASK_WORKER_NAME)",
        "--nthreads", str(w.threads),
        "--memory-limit", str(shape.worker_memory_limit_per_process),
        "--no-dashboard",
    ]
    if w.processes > 1:
        args += ["--nworkers", str(w.processes)]
    return args


def _worker_container(shape: ClusterShape) -> dict[str, Any]:
    s = shape.settings
    # Single-threaded workers: background callbacks that take the task's GIL less often.
    tuned = single_threaded.as_env(single_threaded.WORKER) if s.worker.threads == 1 else {}
    return {
        "name": "worker",
        "image": s.image,
        "imagePullPolicy": s.image_pull_policy,
        "args": worker_args(shape),
        "env": env_list(tuned, s.env),
        "resources": container_resources(s.worker.resources, gpus=s.worker.gpus),
        "securityContext": container_security(s),
        **container_workload(s, s.worker),
    }


def _pod_spec(shape: ClusterShape, container: dict[str, Any], component: Any) -> dict[str, Any]:
    # Dask pods never call the Kubernetes API: no token in them (a tier's serviceAccountName is for
    # workload identity, which cloud providers give through their own projected volumes).
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(shape.settings),
        "containers": [container],
        **placement(shape.settings),
        **pod_workload(shape.settings, component),
    }


def render_daskcluster(
    namespace: NamespaceFacts, shape: ClusterShape, metadata: dict[str, Any], platform: Platform | None = None
) -> dict[str, Any]:
    s = shape.settings
    # The operator copies spec.<component>.metadata onto the Deployments and pods it creates.
    metadata_of_pods = {"metadata": pod_metadata(s)} if pod_metadata(s) else {}
    return {
        "apiVersion": DASK_CLUSTER.api_version,
        "kind": DASK_CLUSTER.kind,
        "metadata": {
            **metadata,
            "annotations": {DASHBOARD_PREFIX_ANNOTATION: gateway_prefix(namespace.name, s.cluster_name)},
        },
        "spec": {
            "scheduler": {
                **metadata_of_pods,
                "spec": _pod_spec(shape, _scheduler_container(namespace, shape, platform or Platform()), s.scheduler),
                "service": {
                    "type": "ClusterIP",
                    "selector": {OPERATOR_CLUSTER_LABEL: s.cluster_name, OPERATOR_COMPONENT_LABEL: "scheduler"},
                    "ports": [
                        {"name": SCHEDULER_PORT_NAME, "protocol": "TCP", "port": SCHEDULER_PORT,
                         "targetPort": SCHEDULER_PORT_NAME},
                        {"name": DASHBOARD_PORT_NAME, "protocol": "TCP", "port": DASHBOARD_PORT,
                         "targetPort": DASHBOARD_PORT_NAME},
                    ],
                },
            },
            "worker": {
                "replicas": s.scaling.minimum,
                **metadata_of_pods,
                "spec": _pod_spec(shape, _worker_container(shape), s.worker),
            },
        },
    }


def render_autoscaler(shape: ClusterShape, metadata: dict[str, Any]) -> dict[str, Any]:
    scaling = shape.settings.scaling
    return {
        "apiVersion": DASK_AUTOSCALER.api_version,
        "kind": DASK_AUTOSCALER.kind,
        "metadata": metadata,
        "spec": {"cluster": shape.settings.cluster_name, "minimum": scaling.minimum, "maximum": scaling.maximum},
    }
