"""Pod, Deployment and Service status as a kubelet / controller-manager would report them (pure).

Only what readers of these objects use is filled in: kr8s `Pod.ready()` (conditions Ready and
ContainersReady), `wait_for_scheduler` (phase, containerStatuses[].state.waiting.reason),
`Deployment.ready()` (observedGeneration, readyReplicas), `kubectl get` columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

NODE_NAME = "local-pod-runner"


def timestamp(when: float) -> str:
    return datetime.fromtimestamp(when, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ContainerView:
    """What the kubelet knows about one container at the moment status is reported."""

    name: str
    image: str
    state: str  # "running" | "waiting" | "terminated"
    ready: bool
    restart_count: int
    started_at: float | None = None
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    finished_at: float | None = None
    pid: int | None = None


def _container_status(view: ContainerView) -> dict[str, Any]:
    if view.state == "running":
        state: dict[str, Any] = {"running": {"startedAt": timestamp(view.started_at or 0)}}
    elif view.state == "terminated":
        state = {
            "terminated": {
                "exitCode": view.exit_code if view.exit_code is not None else 0,
                "reason": view.reason or "Completed",
                "finishedAt": timestamp(view.finished_at or 0),
                **({"message": view.message} if view.message else {}),
            }
        }
    else:
        state = {"waiting": {"reason": view.reason or "ContainerCreating", **({"message": view.message} if view.message else {})}}
    status: dict[str, Any] = {
        "name": view.name,
        "image": view.image,
        "imageID": "",
        "ready": view.ready,
        "started": view.state == "running",
        "restartCount": view.restart_count,
        "state": state,
    }
    if view.pid is not None:
        status["containerID"] = f"local://{view.pid}"
    return status


def pod_phase(views: Sequence[ContainerView], restart_policy: str) -> str:
    """Pending until a container has started; Succeeded/Failed once all exited for good; else Running
    (a container in CrashLoopBackOff leaves its pod Running, as on a real node)."""
    started = [v for v in views if v.state != "waiting" or v.restart_count > 0]
    if not started:
        return "Pending"
    if restart_policy != "Always" and all(v.state == "terminated" for v in views):
        return "Succeeded" if all(v.exit_code == 0 for v in views) else "Failed"
    return "Running"


def pod_status(
    *,
    views: Sequence[ContainerView],
    restart_policy: str,
    pod_ip: str,
    start_time: float,
    transitions: Mapping[str, float],
) -> dict[str, Any]:
    """`transitions` holds the time each condition last changed (kept by the runner for stable output)."""
    phase = pod_phase(views, restart_policy)
    ready = bool(views) and all(v.ready for v in views) and phase == "Running"

    def condition(kind: str, value: bool) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True" if value else "False",
            "lastProbeTime": None,
            "lastTransitionTime": timestamp(transitions.get(kind, start_time)),
        }

    return {
        "phase": phase,
        "conditions": [
            condition("PodScheduled", True),
            condition("Initialized", True),
            condition("ContainersReady", ready),
            condition("Ready", ready),
        ],
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": timestamp(start_time),
        "qosClass": "BestEffort",
        "containerStatuses": [_container_status(v) for v in views],
    }


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def deployment_status(deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Status of a Deployment from the (non-terminating) Pods it owns."""
    replicas = deployment.get("spec", {}).get("replicas")
    wanted = 1 if replicas is None else int(replicas)
    ready = sum(1 for p in pods if is_pod_ready(p))
    available = ready == wanted
    status: dict[str, Any] = {
        "observedGeneration": deployment.get("metadata", {}).get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if available else "False",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available
                else f"{ready} of {wanted} replicas are ready.",
            }
        ],
    }
    if len(pods) - ready:
        status["unavailableReplicas"] = len(pods) - ready
    return status
