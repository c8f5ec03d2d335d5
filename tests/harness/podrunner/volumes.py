"""Volumes and ``envFrom`` of a pod, as far as local processes can have them.

The runner has no mount namespaces: every pod shares the host's filesystem. So a volume is a directory
(``emptyDir``: one per pod; ``configMap`` / ``secret``: the object's keys written as files, one
directory per object shared by the pods mounting it; a ``persistentVolumeClaim``: one directory per
claim, shared by every pod that mounts it, as a ReadWriteMany claim is) and a ``volumeMount`` is a symlink at ``mountPath`` to it. Only a mountPath
inside the runner's work directory can be made (tests choose one there); any other, a volume source
other than these four, or a missing ConfigMap/Secret (not ``optional``) fails the container with a
message saying so, as a real kubelet leaves such a pod in ContainerCreating.

``envFrom`` (``configMapRef`` / ``secretRef`` with ``prefix``) reads the objects through the API; the
container's own ``env`` wins over it, as in Kubernetes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .commands import UnsupportedContainer

__all__ = ["PodSources", "env_from", "mount_volumes", "read_sources"]

PodSources = dict[tuple[str, str], dict[str, str] | None]  # (kind, name) -> data (None: does not exist)


def _refs(pod: Mapping[str, Any]) -> set[tuple[str, str]]:
    spec = pod.get("spec") or {}
    refs = set()
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs.add(("configmaps", volume["configMap"]["name"]))
        if "secret" in volume:
            refs.add(("secrets", volume["secret"]["secretName"]))
    for container in spec.get("containers") or []:
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                refs.add(("configmaps", source["configMapRef"]["name"]))
            if "secretRef" in source:
                refs.add(("secrets", source["secretRef"]["name"]))
    return refs


async def read_sources(api: Any, pod: Mapping[str, Any]) -> PodSources:
    """The data of every ConfigMap and Secret the pod's volumes and envFrom name (Secrets decoded)."""
    namespace = pod["metadata"]["namespace"]
    out: PodSources = {}
    for kind, name in sorted(_refs(pod)):
        found = [o async for o in api.async_get(kind, name, namespace=namespace, raw=True)]  # type: ignore[misc]
        if not found:
            out[(kind, name)] = None
            continue
        data = dict(found[0].get("data") or {})
        if kind == "secrets":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        out[(kind, name)] = data
    return out


def _data(sources: PodSources, kind: str, name: str, optional: bool | None, what: str) -> dict[str, str]:
    data = sources.get((kind, name))
    if data is None:
        if optional:
            return {}
        raise UnsupportedContainer(f"{what}: {kind[:-1]} {name!r} does not exist (a kubelet would keep the pod "
                                   f"in ContainerCreating until it does)")
    return data


def env_from(container: Mapping[str, Any], sources: PodSources) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for key, kind in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            if key in source:
                name = source[key]["name"]
                data = _data(sources, kind, name, source[key].get("optional"), f"envFrom {key} {name!r}")
                env.update({prefix + k: v for k, v in data.items()})
    return env


def _fill(directory: Path, data: Mapping[str, str], items: list[Mapping[str, Any]] | None) -> None:
    chosen = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
    for key, path in chosen:
        if key in data:
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[key])


def _volume_dir(volume: Mapping[str, Any], pod: Mapping[str, Any], sources: PodSources, pod_dir: Path,
                workdir: Path) -> Path:
    name = volume["name"]
    if "persistentVolumeClaim" in volume:
        directory = workdir / "claims" / pod["metadata"]["namespace"] / volume["persistentVolumeClaim"]["claimName"]
        directory.mkdir(parents=True, exist_ok=True)
        return directory
    if "emptyDir" in volume:  # one per pod
        directory = pod_dir / "volumes" / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory
    for key, kind, name_key in (("configMap", "configmaps", "name"), ("secret", "secrets", "secretName")):
        if key in volume:
            # The same object (and items) gives the same files: one directory for every pod mounting it.
            source = volume[key]
            digest = hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:12]
            directory = workdir / kind / pod["metadata"]["namespace"] / f"{source[name_key]}-{digest}"
            directory.mkdir(parents=True, exist_ok=True)
            _fill(directory, _data(sources, kind, source[name_key], source.get("optional"), f"volume {name!r}"),
                  source.get("items"))
            return directory
    kind = next((k for k in volume if k != "name"), "?")
    raise UnsupportedContainer(f"volume {name!r}: source {kind} is not supported by the local pod runner "
                               f"(emptyDir, configMap, secret and persistentVolumeClaim are)")


def mount_volumes(container: Mapping[str, Any], pod: Mapping[str, Any], sources: PodSources, pod_dir: Path,
                  workdir: Path) -> None:
    """Make each of the container's volumeMounts a symlink at its mountPath (inside ``workdir``)."""
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        path = Path(mount["mountPath"])
        if mount["name"] not in volumes:
            raise UnsupportedContainer(f"volumeMount {mount['name']!r}: the pod declares no such volume")
        if not path.is_absolute() or workdir.resolve() not in path.resolve().parents:
            raise UnsupportedContainer(
                f"volumeMount at {path}: the local pod runner can only mount inside its work directory "
                f"{workdir} (processes share the host's filesystem); use a mountPath under it in tests")
        target = _volume_dir(volumes[mount["name"]], pod, sources, pod_dir, workdir)
        if mount.get("subPath"):
            target = target / mount["subPath"]
            target.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            if path.resolve() == target.resolve():
                continue
            raise UnsupportedContainer(f"volumeMount at {path}: another pod already mounts a different volume "
                                       f"there (pods share the host's filesystem here)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target, target_is_directory=True)
