"""The policy model: what an admin may configure, and how a namespace's facts pick its shape (pure).

``defaults`` (the shape of every namespace's Dask cluster) and an ordered list of ``tiers`` that
override some of those fields for the namespaces they match. ``shape.resolve(policy, namespace)`` turns a
policy plus the facts of one namespace into the ``ClusterShape`` that ``render`` and the embedded
cluster use. Each field validates itself; ``loader`` turns a YAML document into a ``Policy`` and
reports every problem at once.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from ..kube.names import MAX_CLUSTER_NAME, is_label_key, is_label_value, is_service_name
from ..quantity import QuantityError, parse_quantity
from .base import Model as _Model
from .isolation import NetworkSettings, PodSecurity
from .lifecycle import Budget, Lifecycle
from .rules import duration_seconds, is_duration, is_env_name, is_namespace_glob, is_owner
from .workload import ComponentPod, PodSettings, check_workload


class Facts(Protocol):
    """What a tier may match on (``shape.NamespaceFacts`` is the one implementation)."""

    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def owner(self) -> str | None: ...

__all__ = [
    "Budget",
    "Dashboard",
    "Lifecycle",
    "ResourceList",
    "Resources",
    "Scaling",
    "SchedulerSpec",
    "ShapeSettings",
    "Tier",
    "TierMatch",
    "Toleration",
    "UserClusters",
    "WorkerSpec",
    "DEFAULT_CLUSTER_NAME",
    "DEFAULT_IMAGE",
    "DEFAULT_TIER",
]

DEFAULT_CLUSTER_NAME = "dask-cluster"
DEFAULT_IMAGE = "ghcr.io/dask/dask:2026.8.0-py3.12"
DEFAULT_TIER = "default"
_TEMPLATE_FIELDS = {"namespace", "cluster"}




def _quantity(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a Kubernetes quantity; use e.g. 500m, 2, 512Mi, 4Gi")
    try:
        parse_quantity(value)
    except QuantityError as err:
        raise ValueError(str(err)) from None
    return str(value)


class ResourceList(_Model):
    cpu: str | None = None
    memory: str | None = None

    _check = field_validator("cpu", "memory", mode="before")(lambda cls, v: None if v is None else _quantity(v))


class Resources(_Model):
    """Kubernetes requests and limits of one container. Limits may not be below requests."""

    requests: ResourceList = ResourceList()
    limits: ResourceList = ResourceList()

    @model_validator(mode="after")
    def _limits_not_below_requests(self) -> Resources:
        for name in ("cpu", "memory"):
            request, limit = getattr(self.requests, name), getattr(self.limits, name)
            if request is not None and limit is not None and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(
                    f"limits.{name} ({limit}) is below requests.{name} ({request}); "
                    f"raise the limit or lower the request"
                )
        return self

    @property
    def cpu(self) -> str | None:
        """The CPU a container may use: its limit, else its request."""
        return self.limits.cpu or self.requests.cpu

    @property
    def memory(self) -> str | None:
        return self.limits.memory or self.requests.memory


class SchedulerSpec(ComponentPod):  # + volumeMounts, serviceAccountName (workload.py)
    resources: Resources = Resources(
        requests=ResourceList(cpu="250m", memory="1Gi"), limits=ResourceList(cpu="1", memory="2Gi")
    )


class WorkerSpec(ComponentPod):  # + volumeMounts, serviceAccountName (workload.py)
    resources: Resources = Resources(
        requests=ResourceList(cpu="1", memory="2Gi"), limits=ResourceList(cpu="2", memory="4Gi")
    )
    threads: int = Field(4, ge=1, le=256, description="threads per worker process")
    processes: int = Field(1, ge=1, le=64, description="worker processes per worker pod")
    gpus: int = Field(0, ge=0, le=16, description="nvidia.com/gpu per worker pod")

    @model_validator(mode="after")
    def _memory_is_bounded(self) -> WorkerSpec:
        if self.resources.memory is None:
            raise ValueError(
                "resources needs limits.memory (or requests.memory): Dask sizes each worker's "
                "--memory-limit from it"
            )
        return self


class Scaling(_Model):
    minimum: int = Field(0, ge=0, description="workers kept when idle (0 = scale to zero)")
    maximum: int = Field(4, ge=1, le=1000, description="most workers the autoscaler may start")
    idle_after: str = Field("5m", description="idle time before workers are removed, e.g. 90s, 5m, 1h")

    @field_validator("idle_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str:
        text = str(value)
        if not is_duration(text):
            raise ValueError(f"{value!r} is not a duration; use e.g. 90s, 5m or 1h30m")
        return text

    @model_validator(mode="after")
    def _minimum_not_above_maximum(self) -> Scaling:
        if self.minimum > self.maximum:
            raise ValueError(
                f"minimum ({self.minimum}) is above maximum ({self.maximum}); "
                f"lower minimum or raise maximum"
            )
        return self

    @property
    def idle_seconds(self) -> int:
        return duration_seconds(self.idle_after)


class Dashboard(_Model):
    url_template: str = Field(
        "/dask/{namespace}/{cluster}/status",
        description="link users see; relative links open on the Kubeflow host of the notebook",
    )

    @field_validator("url_template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        found = set(re.findall(r"{([^{}]*)}", value))
        unknown = found - _TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('{' + u + '}' for u in sorted(unknown))}; "
                f"allowed are {{namespace}} and {{cluster}}"
            )
        return value

    def url(self, namespace: str, cluster: str) -> str:
        return self.url_template.replace("{namespace}", namespace).replace("{cluster}", cluster)


class Versions(_Model):
    packages: tuple[str, ...] = Field((), description="extra packages connect() compares with the cluster's")

    @field_validator("packages")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in value if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", p)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a Python package name; use e.g. pyarrow or scikit-learn")
        return value


class Toleration(_Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)


class UserClusters(_Model):
    """Clusters a namespace's users run beside the managed one (admission counts them)."""

    maximum: int = Field(2, ge=0, le=100, description="user-made DaskClusters per namespace")
    total_workers: int | None = Field(None, ge=0, le=10000, description="workers across them (None: scaling.maximum)")


class ShapeSettings(_Model):
    """Every field a tier may override. ``defaults`` sets them all (or keeps built-in values)."""

    enabled: bool = Field(True, description="give matching namespaces a managed Dask cluster")
    cluster_name: str = DEFAULT_CLUSTER_NAME
    image: str = DEFAULT_IMAGE
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    scheduler: SchedulerSpec = SchedulerSpec()
    worker: WorkerSpec = WorkerSpec()
    scaling: Scaling = Scaling()
    dashboard: Dashboard = Dashboard()
    versions: Versions = Versions()
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for scheduler and workers")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    network: NetworkSettings = NetworkSettings()
    security: PodSecurity = PodSecurity()
    user_clusters: UserClusters = UserClusters()
    lifecycle: Lifecycle = Lifecycle()
    budget: Budget = Budget()
    allowed_images: tuple[str, ...] = Field((), description="image globs Dask pods may use (empty: any)")
    allowed_service_accounts: tuple[str, ...] = Field(("default",), description="serviceAccountName of Dask pods")
    pod: PodSettings = PodSettings()  # volumes, envFrom, imagePullSecrets, affinity, ... (workload.py)

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        if len(value) > MAX_CLUSTER_NAME or not is_service_name(value):
            raise ValueError(
                f"{value!r} is not a valid cluster name; use lowercase letters, digits and '-', "
                f"starting with a letter, at most {MAX_CLUSTER_NAME} characters"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a container image reference; use e.g. {DEFAULT_IMAGE}")
        return value

    @model_validator(mode="after")
    def _workload(self) -> ShapeSettings:
        problems = check_workload(self.pod, {"scheduler": self.scheduler, "worker": self.worker},
                                  self.allowed_service_accounts)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _image_allowed(self) -> ShapeSettings:
        if self.allowed_images and not any(fnmatch.fnmatchcase(self.image, g) for g in self.allowed_images):
            raise ValueError(f"image {self.image!r} matches none of allowedImages {list(self.allowed_images)}; "
                             f"add a pattern for it or change image (admission would refuse the managed cluster)")
        return self

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if isinstance(value, dict):
            bad = [k for k in value if not is_env_name(k)]
            if bad:
                raise ValueError(f"{bad[0]!r} is not a valid environment variable name")
            nested = [k for k, v in value.items() if isinstance(v, (dict, list))]
            if nested:
                raise ValueError(f"{nested[0]!r} has a mapping or list as its value; an environment value is "
                                 f"one piece of text (quote it, e.g. \"[1, 2]\")")
            return {k: ("" if v is None else str(v)) for k, v in value.items()}
        return value

    @field_validator("node_selector")
    @classmethod
    def _node_selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not is_label_key(key) or not is_label_value(val):
                raise ValueError(f"{key}={val!r} is not a valid node label selector")
        return value


class TierMatch(_Model):
    """Which namespaces a tier applies to. Kinds combine with AND; entries of one kind with OR."""

    namespaces: tuple[str, ...] = Field((), description="namespace name globs, e.g. team-*")
    labels: dict[str, str] = Field(default_factory=dict, description="namespace labels that must all be present")
    owners: tuple[str, ...] = Field((), description="owner emails, or @domain for a whole domain")

    @field_validator("namespaces")
    @classmethod
    def _globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for glob in value:
            if not is_namespace_glob(glob):
                raise ValueError(
                    f"{glob!r} can never match a namespace (names are lowercase letters, digits and "
                    f"'-'); use a glob such as team-* or ml-?"
                )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not is_label_key(key) or not is_label_value(str(val)):
                raise ValueError(f"{key}={val!r} is not a valid Kubernetes label; no namespace can carry it")
        return value

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for owner in value:
            if not is_owner(owner):
                raise ValueError(f"{owner!r} is neither an email (alice@example.com) nor a domain (@example.com)")
        return value

    @model_validator(mode="after")
    def _matches_something(self) -> TierMatch:
        if not (self.namespaces or self.labels or self.owners):
            raise ValueError(
                "matches no namespace: give namespaces, labels or owners "
                "(to change every namespace, edit defaults instead)"
            )
        return self

    def matches(self, namespace: Facts) -> bool:
        if self.namespaces and not any(fnmatch.fnmatchcase(namespace.name, g) for g in self.namespaces):
            return False
        if any(namespace.labels.get(k) != v for k, v in self.labels.items()):
            return False
        if self.owners:
            owner = (namespace.owner or "").lower()
            if not any(owner == o.lower() or (o.startswith("@") and owner.endswith(o.lower())) for o in self.owners):
                return False
        return True


class Tier(_Model):
    name: str
    match: TierMatch
    settings: ShapeSettings  # merged with defaults; only the keys the tier wrote differ

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_service_name(value) or value == DEFAULT_TIER:
            raise ValueError(
                f"{value!r} is not a usable tier name; use lowercase letters, digits and '-' "
                f"(it becomes a label value), and not {DEFAULT_TIER!r}"
            )
        return value
