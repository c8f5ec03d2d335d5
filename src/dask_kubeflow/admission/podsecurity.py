"""Pod security of every Dask pod spec (pure): what would let a pod out of its sandbox.

Refused whatever the tier: privileged containers, added capabilities, hostPath volumes, the node's
network/PID/IPC namespaces. Per tier: the ServiceAccount (``allowedServiceAccounts``) and, when the
tier lists any, the images (``allowedImages``, globs).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from ..policy import ClusterShape
from .limits import CONTAINER_LISTS
from .objects import PodSpecAt, dig

__all__ = ["pod_security_problems"]

_HOST_NAMESPACES = {"hostNetwork": "the node's network", "hostPID": "the node's processes",
                    "hostIPC": "the node's shared memory"}
_ALL_CONTAINER_LISTS = (*CONTAINER_LISTS, "ephemeralContainers")


def _host_problems(pod: Mapping[str, Any], where: str) -> list[str]:
    problems = [f"{where}.{key}: true would give the pod {what}; Dask pods run in their own, remove it"
                for key, what in _HOST_NAMESPACES.items() if pod.get(key) is True]
    for i, volume in enumerate(pod.get("volumes") or ()):
        if isinstance(volume, Mapping) and volume.get("hostPath") is not None:
            path = (volume.get("hostPath") or {}).get("path", "")
            problems.append(f"{where}.volumes[{i}].hostPath ({path}) mounts the node's files; use an emptyDir, "
                            f"a PersistentVolumeClaim or object storage instead")
    return problems


def _container_problems(where: str, container: Mapping[str, Any], shape: ClusterShape) -> list[str]:
    problems = []
    context = container.get("securityContext") or {}
    if context.get("privileged") is True:
        problems.append(f"{where}.securityContext.privileged: true is not allowed for Dask pods; remove it")
    added = (context.get("capabilities") or {}).get("add") or []
    if added:
        problems.append(f"{where}.securityContext.capabilities.add {list(added)} is not allowed for Dask pods; "
                        f"remove it (capabilities may only be dropped)")
    image, allowed = container.get("image"), shape.settings.allowed_images
    if allowed and not any(fnmatch.fnmatchcase(str(image or ""), glob) for glob in allowed):
        problems.append(f"{where}.image {image!r} is not among the images tier {shape.tier!r} allows "
                        f"({', '.join(allowed)}); use one of those, e.g. {shape.settings.image}")
    return problems


def pod_security_problems(obj: Mapping[str, Any], at: PodSpecAt, shape: ClusterShape) -> list[str]:
    pod = dig(obj, at.path)
    problems = _host_problems(pod, at.where)
    for key in _ALL_CONTAINER_LISTS:
        for i, container in enumerate(pod.get(key) or ()):
            if isinstance(container, Mapping):
                problems += _container_problems(f"{at.where}.{key}[{i}]", container, shape)
    account = pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"
    allowed = shape.settings.allowed_service_accounts
    if account not in allowed:
        problems.append(f"{at.where}.serviceAccountName {account!r} is not one tier {shape.tier!r} allows "
                        f"({', '.join(allowed) or 'none'}); remove it to run as the default ServiceAccount")
    return problems
