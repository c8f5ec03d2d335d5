"""What real workloads need from the Dask pods: data, credentials, placement, pod metadata (pure).

``pod`` (both the scheduler and the workers): ``volumes`` (PersistentVolumeClaim, Secret, ConfigMap,
emptyDir), ``envFrom`` (every key of a Secret or ConfigMap as environment), ``imagePullSecrets``,
``affinity``, ``priorityClassName``, and extra ``labels`` / ``annotations`` the operator copies onto
the pods (through the DaskCluster's ``spec.scheduler.metadata`` / ``spec.worker.metadata``).
``worker`` and ``scheduler`` each add ``volumeMounts`` (of volumes declared in ``pod.volumes``) and
``serviceAccountName`` (which ``allowedServiceAccounts`` must allow). ``check_workload`` is the
cross-field check ``ShapeSettings`` runs over the merged settings.
"""

from __future__ import annotations

import posixpath
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..kube.names import ISTIO_INJECT_LABEL, MANAGED_BY_LABEL, is_dns_label, is_dns_subdomain, is_label_key, is_label_value
from ..quantity import QuantityError, parse_quantity
from .affinity import Affinity
from .base import Model
from .rules import is_env_name

__all__ = ["ComponentPod", "ConfigMapVolume", "EmptyDirVolume", "EnvFromSource", "PodSettings", "PvcVolume", "RESERVED_KEYS",
           "RESERVED_PREFIXES", "SecretVolume", "Volume", "VolumeMount", "check_workload", "default_service_account"]

# Keys render, the upstream operator or Istio set on Dask pods themselves: a policy may not set them.
RESERVED_PREFIXES = ("dask.org/", "dask.kubeflow.org/")
RESERVED_KEYS = (MANAGED_BY_LABEL, ISTIO_INJECT_LABEL)
DEFAULT_SERVICE_ACCOUNT = "default"


def _name(value: str, what: str) -> str:
    if not is_dns_subdomain(value):
        raise ValueError(f"{value!r} is not a valid {what} name (lowercase letters, digits, '-' and '.')")
    return value


def _relative(path: str, what: str) -> str:
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{what} {path!r} must be a relative path without '..', e.g. config/app.yaml")
    return path


class KeyToPath(Model):
    key: str
    path: str
    mode: int | None = Field(None, ge=0, le=0o777)

    _path = field_validator("path")(lambda cls, v: _relative(v, "path"))


class PvcVolume(Model):
    claim_name: str
    read_only: bool = False

    _claim = field_validator("claim_name")(lambda cls, v: _name(v, "PersistentVolumeClaim"))


class SecretVolume(Model):
    secret_name: str
    items: tuple[KeyToPath, ...] = ()
    default_mode: int | None = Field(None, ge=0, le=0o777)
    optional: bool | None = None

    _secret = field_validator("secret_name")(lambda cls, v: _name(v, "Secret"))


class ConfigMapVolume(Model):
    name: str
    items: tuple[KeyToPath, ...] = ()
    default_mode: int | None = Field(None, ge=0, le=0o777)
    optional: bool | None = None

    _cm = field_validator("name")(lambda cls, v: _name(v, "ConfigMap"))


class EmptyDirVolume(Model):
    medium: Literal["", "Memory"] = ""
    size_limit: str | None = None

    @field_validator("size_limit", mode="before")
    @classmethod
    def _size(cls, value: Any) -> str | None:
        if value is None:
            return None
        try:
            parse_quantity(value)
        except QuantityError as err:
            raise ValueError(f"{err}; use e.g. 10Gi") from None
        return str(value)


_SOURCES = ("persistent_volume_claim", "secret", "config_map", "empty_dir")


class Volume(Model):
    """One pod volume: ``name`` plus exactly one of persistentVolumeClaim, secret, configMap, emptyDir."""

    name: str
    persistent_volume_claim: PvcVolume | None = None
    secret: SecretVolume | None = None
    config_map: ConfigMapVolume | None = None
    empty_dir: EmptyDirVolume | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_source(cls, data: Any) -> Any:
        if isinstance(data, dict):
            other = sorted(k for k in data if k not in {"name", "persistentVolumeClaim", "secret", "configMap",
                                                          "emptyDir", *_SOURCES})
            if other:
                raise ValueError(f"volume source {other[0]} is not allowed for Dask pods (node files or "
                                 f"credentials outside the namespace); use persistentVolumeClaim, secret, "
                                 f"configMap or emptyDir")
        return data

    @field_validator("name")
    @classmethod
    def _volume_name(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError(f"{value!r} is not a valid volume name; use lowercase letters, digits and '-' "
                             f"(at most 63), e.g. shared-data")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        given = [s for s in _SOURCES if getattr(self, s) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of persistentVolumeClaim, secret, configMap or emptyDir "
                             "(hostPath and other sources are not allowed for Dask pods)")
        return self


class VolumeMount(Model):
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or ":" in value or ".." in value.split("/") or posixpath.normpath(value) == "/":
            raise ValueError(f"mountPath {value!r} must be an absolute directory other than /, without ':' or "
                             f"'..', e.g. /data")
        return value

    _sub = field_validator("sub_path")(lambda cls, v: None if v is None else _relative(v, "subPath"))


class LocalRef(Model):
    name: str
    optional: bool | None = None

    _ref = field_validator("name")(lambda cls, v: _name(v, "Secret or ConfigMap"))


class EnvFromSource(Model):
    """Every key of one Secret (``secretRef``) or ConfigMap (``configMapRef``) as environment, with ``prefix``."""

    prefix: str | None = None
    secret_ref: LocalRef | None = None
    config_map_ref: LocalRef | None = None

    @model_validator(mode="after")
    def _one_ref(self) -> EnvFromSource:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError("give exactly one of secretRef or configMapRef (each with a name)")
        if self.prefix is not None and not is_env_name(self.prefix):
            raise ValueError(f"prefix {self.prefix!r} cannot start an environment variable name; use e.g. S3_")
        return self


def _metadata(value: dict[str, Any], what: str, check_value: bool) -> dict[str, str]:
    out = {}
    for key, val in value.items():
        if not isinstance(key, str) or not is_label_key(key):
            raise ValueError(f"{key!r} is not a valid {what} key (e.g. kueue.x-k8s.io/queue-name)")
        if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{key!r} is set by dask-kubeflow, the Dask operator or Istio on Dask pods; "
                             f"remove it from pod.{what}s (reserved: {', '.join(RESERVED_KEYS)}, "
                             f"{', '.join(p + '*' for p in RESERVED_PREFIXES)})")
        if isinstance(val, (dict, list)):
            raise ValueError(f"{key!r} has a mapping or list as its value; a {what} value is one piece of text")
        text = "" if val is None else str(val)
        if check_value and not is_label_value(text):
            raise ValueError(f"{key}={text!r} is not a valid label value (at most 63 letters, digits, '-', '_' "
                             f"or '.', starting and ending with a letter or digit)")
        out[key] = text
    return out


class PodSettings(Model):
    volumes: tuple[Volume, ...] = Field((), description="volumes the containers may mount (volumeMounts)")
    env_from: tuple[EnvFromSource, ...] = Field((), description="Secrets/ConfigMaps whose keys become env")
    image_pull_secrets: tuple[str, ...] = Field((), description="Secret names for pulling a private image")
    affinity: Affinity | None = None
    priority_class_name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels on the Dask pods")
    annotations: dict[str, str] = Field(default_factory=dict, description="extra annotations on the Dask pods")

    _labels = field_validator("labels", mode="before")(
        lambda cls, v: _metadata(v, "label", True) if isinstance(v, dict) else v)
    _annotations = field_validator("annotations", mode="before")(
        lambda cls, v: _metadata(v, "annotation", False) if isinstance(v, dict) else v)

    @field_validator("image_pull_secrets", "priority_class_name")
    @classmethod
    def _names(cls, value: Any) -> Any:
        for name in (value,) if isinstance(value, str) else value or ():
            _name(name, "Secret or PriorityClass")
        return value

    @model_validator(mode="after")
    def _unique_volumes(self) -> PodSettings:
        names = [v.name for v in self.volumes]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"volumes: {duplicate!r} is declared twice; give each volume its own name")
        return self


class ComponentPod(Model):
    """What the scheduler and the workers each set for themselves (base of SchedulerSpec and WorkerSpec)."""

    volume_mounts: tuple[VolumeMount, ...] = Field((), description="volumes of pod.volumes this container mounts")
    service_account_name: str | None = Field(None, description="ServiceAccount of the pods (None: default)")

    @field_validator("service_account_name")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else _name(value, "ServiceAccount")


def default_service_account(name: str | None) -> str:
    """The ServiceAccount a pod without ``serviceAccountName`` runs as."""
    return name or DEFAULT_SERVICE_ACCOUNT


def check_workload(pod: PodSettings, components: dict[str, Any], allowed_accounts: tuple[str, ...]) -> list[str]:
    """Problems across fields: mounts of undeclared volumes, ServiceAccounts the tier does not allow.

    ``components``: ``{"worker": WorkerSpec, "scheduler": SchedulerSpec}`` (each with volume_mounts and
    service_account_name)."""
    declared = {v.name for v in pod.volumes}
    problems = []
    for component, spec in components.items():
        for i, mount in enumerate(spec.volume_mounts):
            if mount.name not in declared:
                problems.append(
                    f"{component}.volumeMounts[{i}] names volume {mount.name!r}, which pod.volumes does not declare "
                    f"({', '.join(sorted(declared)) or 'none declared'}); add it to pod.volumes or fix the name")
        paths = [m.mount_path.rstrip("/") for m in spec.volume_mounts]
        twice = next((p for p in paths if paths.count(p) > 1), None)
        if twice:
            problems.append(f"{component}.volumeMounts mounts two volumes at {twice!r}; give each its own mountPath")
        account = default_service_account(spec.service_account_name)
        if account not in allowed_accounts:
            problems.append(
                f"{component}.serviceAccountName {account!r} is not in allowedServiceAccounts "
                f"{list(allowed_accounts)}; add it there (admission would refuse the managed cluster) or change it")
    return problems
