"""Pieces of pod specs shared by the scheduler and the workers: resources, env, placement, security, and the
workload fields (volumes and mounts, envFrom, imagePullSecrets, affinity, priority, ServiceAccount, pod metadata)."""

from __future__ import annotations

from typing import Any

from ..policy import Resources, ShapeSettings

GPU_RESOURCE = "nvidia.com/gpu"


def container_resources(resources: Resources, gpus: int = 0) -> dict[str, dict[str, str]]:
    """Requests and limits, both always present so Kubeflow's kf-resource-quota admits the pod.

    A side the policy left out is filled from the other: a missing request equals the limit
    (what Kubernetes itself would default) and a missing limit equals the request.
    """
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for name in ("cpu", "memory"):
        request = getattr(resources.requests, name)
        limit = getattr(resources.limits, name)
        if request or limit:
            requests[name] = request or limit
            limits[name] = limit or request
    if gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(gpus)
    return {"requests": requests, "limits": limits}


def env_list(*layers: dict[str, str]) -> list[dict[str, str]]:
    """Kubernetes env entries; a later layer overrides an earlier one, each name appears once."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return [{"name": name, "value": value} for name, value in merged.items()]


def placement(settings: ShapeSettings) -> dict[str, Any]:
    """nodeSelector and tolerations of the policy, only when it sets them."""
    out: dict[str, Any] = {}
    if settings.node_selector:
        out["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        out["tolerations"] = [
            t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in settings.tolerations
        ]
    return out


def pod_security(settings: ShapeSettings) -> dict[str, Any]:
    """The pod ``securityContext`` of the tier's profile (Kubernetes Pod Security Standards).

    ``restricted``: non-root (the plain Dask image's user is root, so a numeric user is set: 1000 by
    default), the runtime's default seccomp profile. ``baseline``: the image's user unless the tier
    sets one, still with the default seccomp profile.
    """
    sec = settings.security
    out: dict[str, Any] = {}
    if sec.profile == "restricted":
        out["runAsNonRoot"] = True
    if sec.run_as_user is not None:
        out["runAsUser"] = sec.run_as_user
    if sec.run_as_group is not None:
        out["runAsGroup"] = sec.run_as_group
    out["seccompProfile"] = {"type": "RuntimeDefault"}
    return out


def container_security(settings: ShapeSettings) -> dict[str, Any]:
    """The container ``securityContext``: never gain privileges; ``restricted`` drops every capability."""
    out: dict[str, Any] = {"allowPrivilegeEscalation": False}
    if settings.security.profile == "restricted":
        out["capabilities"] = {"drop": ["ALL"]}
    return out


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")


def _volume(volume: Any) -> dict[str, Any]:
    """One ``pod.volumes`` entry as Kubernetes writes it (an emptyDir with no settings stays ``{}``)."""
    out = _dump(volume)
    if volume.empty_dir is not None:
        out["emptyDir"] = _dump(volume.empty_dir)
    return out


def pod_workload(settings: ShapeSettings, component: Any) -> dict[str, Any]:
    """Pod-spec fields of the policy's ``pod`` and of one component (``worker`` or ``scheduler``):
    volumes, imagePullSecrets, affinity, priorityClassName, serviceAccountName; only those set."""
    pod = settings.pod
    out: dict[str, Any] = {}
    if component.service_account_name:
        out["serviceAccountName"] = component.service_account_name
    if pod.volumes:
        out["volumes"] = [_volume(v) for v in pod.volumes]
    if pod.image_pull_secrets:
        out["imagePullSecrets"] = [{"name": name} for name in pod.image_pull_secrets]
    if pod.affinity is not None and (affinity := pod.affinity.to_kubernetes()):
        out["affinity"] = affinity
    if pod.priority_class_name:
        out["priorityClassName"] = pod.priority_class_name
    return out


def container_workload(settings: ShapeSettings, component: Any) -> dict[str, Any]:
    """Container fields: the component's ``volumeMounts`` and the pod's ``envFrom``; only those set."""
    out: dict[str, Any] = {}
    if component.volume_mounts:
        out["volumeMounts"] = [_dump(m) for m in component.volume_mounts]
    if settings.pod.env_from:
        out["envFrom"] = [_dump(e) for e in settings.pod.env_from]
    return out


def pod_metadata(settings: ShapeSettings) -> dict[str, Any]:
    """``spec.scheduler.metadata`` / ``spec.worker.metadata`` of the DaskCluster: the operator copies
    these labels and annotations onto the Deployments and pods it creates. Empty when none are set."""
    out: dict[str, Any] = {}
    if settings.pod.labels:
        out["labels"] = dict(settings.pod.labels)
    if settings.pod.annotations:
        out["annotations"] = dict(settings.pod.annotations)
    return out
