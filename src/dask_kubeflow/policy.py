"""The platform policy: the one configuration model every part of dask-kubeflow reads.

An admin writes one YAML file: ``defaults`` (the shape of every namespace's Dask cluster) and an
ordered list of ``tiers`` that override some of those fields for the namespaces they match.
``resolve(policy, namespace)`` turns that file plus the facts of one namespace into the
``ClusterShape`` that ``render`` and the embedded cluster use. Everything here is pure: no I/O
except ``load_policy`` reading the file it is given.

A policy is validated as a whole when it is loaded. Every problem is reported at once, each with
the file, the field path and what is allowed; a policy with any problem is refused entirely.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .quantity import QuantityError, parse_quantity, to_bytes, to_cores

__all__ = [
    "ClusterShape",
    "NamespaceFacts",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "Tier",
    "TierMatch",
    "load_policy",
    "parse_policy",
    "policy_from_env",
    "resolve",
    "DEFAULT_CLUSTER_NAME",
    "POLICY_ENV",
]

DEFAULT_CLUSTER_NAME = "dask-cluster"
DEFAULT_IMAGE = "ghcr.io/dask/dask:2026.8.0-py3.12"
POLICY_ENV = "DASK_KUBEFLOW_POLICY"
DEFAULT_TIER = "default"

# The operator derives "<cluster>-scheduler" and "<cluster>-default-worker-<10 hex>" from the
# cluster name; both must stay valid 63-character DNS labels.
MAX_CLUSTER_NAME = 63 - len("-default-worker-") - 10
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^@[^@\s]+\.[^@\s]+$")
_NAMESPACE_GLOB = re.compile(r"^[-a-z0-9*?\[\]!]+$")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_TEMPLATE_FIELDS = {"namespace", "cluster"}


class _Model(BaseModel):
    """camelCase keys in YAML (as in Kubernetes), unknown keys refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def _quantity(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a Kubernetes quantity; use e.g. 500m, 2, 512Mi, 4Gi")
    try:
        parse_quantity(value)
    except QuantityError as err:
        raise ValueError(str(err)) from None
    return str(value)


def _is_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return (
        0 < len(name) <= 63
        and bool(_LABEL_NAME.match(name))
        and (not prefix or (len(prefix) <= 253 and bool(_LABEL_PREFIX.match(prefix))))
    )


def _is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_NAME.match(value))


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


class SchedulerSpec(_Model):
    resources: Resources = Resources(
        requests=ResourceList(cpu="250m", memory="1Gi"), limits=ResourceList(cpu="1", memory="2Gi")
    )


class WorkerSpec(_Model):
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
        match = _DURATION.match(text)
        if not text or not match or not any(match.groupdict().values()):
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
        match = _DURATION.match(self.idle_after)
        assert match is not None
        return sum(int(v or 0) * k for v, k in zip(match.group("h", "m", "s"), (3600, 60, 1)))


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


class Toleration(_Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)


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
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for scheduler and workers")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        if len(value) > MAX_CLUSTER_NAME or not _DNS_LABEL.match(value):
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

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str) or not _ENV_NAME.match(k)]
            if bad:
                raise ValueError(f"{bad[0]!r} is not a valid environment variable name")
            return {k: ("" if v is None else str(v)) for k, v in value.items()}
        return value

    @field_validator("node_selector")
    @classmethod
    def _node_selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not _is_label_key(key) or not _is_label_value(val):
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
            if not _NAMESPACE_GLOB.match(glob):
                raise ValueError(
                    f"{glob!r} can never match a namespace (names are lowercase letters, digits and "
                    f"'-'); use a glob such as team-* or ml-?"
                )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not _is_label_key(key) or not _is_label_value(str(val)):
                raise ValueError(f"{key}={val!r} is not a valid Kubernetes label; no namespace can carry it")
        return value

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for owner in value:
            if not (_EMAIL.match(owner) or _DOMAIN.match(owner)):
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

    def matches(self, namespace: NamespaceFacts) -> bool:
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
        if len(value) > 63 or not _DNS_LABEL.match(value) or value == DEFAULT_TIER:
            raise ValueError(
                f"{value!r} is not a usable tier name; use lowercase letters, digits and '-' "
                f"(it becomes a label value), and not {DEFAULT_TIER!r}"
            )
        return value


@dataclass(frozen=True)
class NamespaceFacts:
    """What the policy may look at to pick a tier: the facts of one profile namespace."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    contributors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterShape:
    """The resolved settings of one namespace's Dask cluster: what render and connect() read."""

    tier: str
    settings: ShapeSettings

    @property
    def worker_memory_bytes(self) -> int:
        """Memory of one worker pod, split between its processes by --memory-limit."""
        memory = self.settings.worker.resources.memory
        assert memory is not None  # validated
        return to_bytes(memory)

    @property
    def worker_memory_limit_per_process(self) -> int:
        return self.worker_memory_bytes // self.settings.worker.processes

    @property
    def worker_cores(self) -> float:
        cpu = self.settings.worker.resources.cpu
        return to_cores(cpu) if cpu else float(self.settings.worker.threads * self.settings.worker.processes)


@dataclass(frozen=True)
class PolicyProblem:
    source: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}" if self.path else f"{self.source}: {self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used. Lists every problem; nothing of the file is loaded."""

    def __init__(self, problems: list[PolicyProblem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the policy is invalid ({len(problems)} problem(s)); nothing was loaded:\n{lines}")


@dataclass(frozen=True)
class Policy:
    defaults: ShapeSettings
    tiers: tuple[Tier, ...]
    source: str = "<built-in>"

    @classmethod
    def builtin(cls) -> Policy:
        return cls(defaults=ShapeSettings(), tiers=())

    def default_shape(self) -> ClusterShape:
        return ClusterShape(tier=DEFAULT_TIER, settings=self.defaults)

    def shapes(self) -> list[ClusterShape]:
        """The default shape then every tier's resolved shape, in matching order."""
        return [self.default_shape(), *(ClusterShape(t.name, t.settings) for t in self.tiers)]


def resolve(policy: Policy, namespace: NamespaceFacts) -> ClusterShape:
    """The shape of ``namespace``'s cluster: the first tier that matches, else the defaults."""
    for tier in policy.tiers:
        if tier.match.matches(namespace):
            return ClusterShape(tier=tier.name, settings=tier.settings)
    return policy.default_shape()


# -- loading ---------------------------------------------------------------------------------------

def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _problems(err: ValidationError, source: str, prefix: str) -> list[PolicyProblem]:
    problems = []
    for item in err.errors():
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _path(loc)
        full = f"{prefix}.{path}" if prefix and path else prefix or path
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against deploy/policy.example.yaml"
        elif item["type"] == "missing":
            message = "required key is missing"
        elif not item["type"].startswith("value_error") and not isinstance(item.get("input"), (dict, list)):
            message = f"{message} (got {item.get('input')!r})"
        problems.append(PolicyProblem(source, full, message))
    return problems


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


_TOP_KEYS = {"defaults", "tiers"}
_TIER_KEYS = {"name", "match"}


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate a policy document (already parsed from YAML). Raises PolicyError listing every problem."""
    problems: list[PolicyProblem] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError([PolicyProblem(source, "", "the policy must be a mapping with keys defaults and tiers")])
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(PolicyProblem(source, str(key), "unknown key; a policy has only defaults and tiers"))

    # Layers: built-in values < defaults < tier. Each layer changes only the keys it writes.
    builtin = ShapeSettings().model_dump(by_alias=True, mode="json")
    raw_defaults = data.get("defaults") or {}
    defaults: ShapeSettings | None = None
    if not isinstance(raw_defaults, dict):
        problems.append(PolicyProblem(source, "defaults", "must be a mapping of cluster settings"))
        raw_defaults = builtin
    else:
        raw_defaults = _deep_merge(builtin, raw_defaults)
        try:
            defaults = ShapeSettings.model_validate(raw_defaults)
        except ValidationError as err:
            problems += _problems(err, source, "defaults")

    raw_tiers = data.get("tiers") or []
    tiers: list[Tier] = []
    if not isinstance(raw_tiers, list):
        problems.append(PolicyProblem(source, "tiers", "must be a list of tiers, each with name and match"))
        raw_tiers = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_tiers):
        where = f"tiers[{index}]"
        if not isinstance(raw, dict):
            problems.append(PolicyProblem(source, where, "must be a mapping with name, match and the settings it overrides"))
            continue
        if isinstance(raw.get("name"), str):
            where = f"tiers[{index}] ({raw['name']})"
        name = raw.get("name")
        if name in seen:
            problems.append(PolicyProblem(source, f"{where}.name", f"duplicate tier name; tiers[{seen[name]}] already uses it"))
        elif isinstance(name, str):
            seen[name] = index
        overrides = {k: v for k, v in raw.items() if k not in _TIER_KEYS}
        head: Tier | None
        try:
            head = Tier.model_validate({**{k: raw[k] for k in _TIER_KEYS if k in raw}, "settings": {}})
        except ValidationError as err:
            problems += _problems(err, source, where)
            head = None
        # A tier's settings are the defaults with the tier's keys laid over them, validated whole,
        # so "limits below requests" is caught even when one side comes from defaults. When the
        # defaults themselves are broken, the tier is checked over the built-in values instead, so
        # each problem is reported once, where it was written.
        base = raw_defaults if defaults is not None else builtin
        try:
            settings = ShapeSettings.model_validate(_deep_merge(base, overrides))
        except ValidationError as err:
            problems += _problems(err, source, where)
            continue
        if head is not None:
            tiers.append(Tier(name=head.name, match=head.match, settings=settings))

    if problems or defaults is None:
        raise PolicyError(problems)
    return Policy(defaults=defaults, tiers=tuple(tiers), source=source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy YAML file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PolicyError([PolicyProblem(source, "", f"cannot read the file: {err.strerror or err}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise PolicyError([PolicyProblem(source, where, f"not valid YAML: {problem}")]) from None
    return parse_policy(data, source)


def policy_from_env(policy: Policy | str | os.PathLike[str] | None = None) -> Policy:
    """The policy connect() uses: the argument, else $DASK_KUBEFLOW_POLICY, else built-in defaults."""
    if isinstance(policy, Policy):
        return policy
    if policy is not None:
        return load_policy(policy)
    if path := os.environ.get(POLICY_ENV):
        return load_policy(path)
    return Policy.builtin()
