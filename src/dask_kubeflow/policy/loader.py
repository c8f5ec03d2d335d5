"""Loading a policy: YAML file or parsed document -> ``Policy``, or every problem at once.

A policy is validated as a whole. Every problem is reported together, each with the file, the field
path and what is allowed; a policy with any problem is refused entirely. The only I/O is reading
the file ``load_policy`` is given (and ``$DASK_KUBEFLOW_POLICY`` in ``policy_from_env``).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from pydantic import ValidationError

from .bounded_yaml import MAX_BYTES, load_yaml
from .model import ShapeSettings, Tier
from .problems import PolicyError, PolicyProblem
from .shape import Policy

__all__ = ["PolicyError", "PolicyProblem", "load_policy", "parse_policy", "parse_policy_text", "policy_from_env",
           "POLICY_ENV"]

POLICY_ENV = "DASK_KUBEFLOW_POLICY"

_TOP_KEYS = {"defaults", "tiers"}
_TIER_KEYS = {"name", "match"}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"


def _hint(loc: tuple[Any, ...]) -> str:
    """The fix for a mapping or list where one value belongs."""
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if last == "name":
        return "; a tier name is one word such as gpu"
    return "; write one value here (check the indentation)" if last else ""


def _problems(err: ValidationError, source: str, prefix: str) -> list[PolicyProblem]:
    """pydantic's errors as problems under ``prefix``, in words an admin can act on."""
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
        elif isinstance(item.get("input"), (dict, list)) and not item["type"].startswith("value_error"):
            message = f"{message} (got a {'mapping' if isinstance(item['input'], dict) else 'list'}{_hint(loc)})"
        elif not item["type"].startswith("value_error"):
            message = f"{message} (got {_short(item.get('input'))})"
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


class _Parse:
    """One pass over a policy document, collecting every problem instead of stopping at the first.

    Layers: built-in values < defaults < tier; each layer changes only the keys it writes.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[PolicyProblem] = []
        self.builtin = ShapeSettings().model_dump(by_alias=True, mode="json")

    def problem(self, path: str, message: str) -> None:
        self.problems.append(PolicyProblem(self.source, path, message))

    def validate(self, data: dict[str, Any], where: str) -> ShapeSettings | None:
        try:
            return ShapeSettings.model_validate(data)
        except ValidationError as err:
            self.problems += _problems(err, self.source, where)
            return None

    def defaults(self, raw: Any) -> tuple[dict[str, Any], ShapeSettings | None]:
        """The merged defaults document and its settings (None when they are invalid)."""
        if not isinstance(raw, dict):
            self.problem("defaults", "must be a mapping of cluster settings")
            return self.builtin, None
        merged = _deep_merge(self.builtin, raw)
        return merged, self.validate(merged, "defaults")

    def tiers(self, raw_tiers: Any, base: dict[str, Any]) -> list[Tier]:
        if not isinstance(raw_tiers, list):
            self.problem("tiers", "must be a list of tiers, each with name and match")
            return []
        seen: dict[str, int] = {}
        tiers = [self.tier(index, raw, base, seen) for index, raw in enumerate(raw_tiers)]
        return [t for t in tiers if t is not None]

    def tier(self, index: int, raw: Any, base: dict[str, Any], seen: dict[str, int]) -> Tier | None:
        where = f"tiers[{index}]"
        if not isinstance(raw, dict):
            self.problem(where, "must be a mapping with name, match and the settings it overrides")
            return None
        name = raw.get("name")
        if isinstance(name, str):
            where = f"tiers[{index}] ({name})"
            if name in seen:
                self.problem(f"{where}.name", f"duplicate tier name; tiers[{seen[name]}] already uses it")
            else:
                seen[name] = index
        head: Tier | None
        try:
            head = Tier.model_validate({**{k: raw[k] for k in _TIER_KEYS if k in raw}, "settings": {}})
        except ValidationError as err:
            self.problems += _problems(err, self.source, where)
            head = None
        # A tier's settings are the defaults with the tier's keys laid over them, validated whole,
        # so "limits below requests" is caught even when one side comes from defaults.
        overrides = {k: v for k, v in raw.items() if k not in _TIER_KEYS}
        settings = self.validate(_deep_merge(base, overrides), where)
        if head is None or settings is None:
            return None
        return Tier(name=head.name, match=head.match, settings=settings)


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate a policy document (already parsed from YAML). Raises PolicyError listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError([PolicyProblem(source, "", "the policy must be a mapping with keys defaults and tiers")])
    parse = _Parse(source)
    for key in data:
        if key not in _TOP_KEYS:
            parse.problem(str(key), "unknown key; a policy has only defaults and tiers")
    raw_defaults, defaults = parse.defaults(data.get("defaults") or {})
    # When the defaults themselves are broken, tiers are checked over the built-in values instead,
    # so each problem is reported once, where it was written.
    tiers = parse.tiers(data.get("tiers") or [], raw_defaults if defaults is not None else parse.builtin)
    if parse.problems or defaults is None:
        raise PolicyError(parse.problems)
    return Policy(defaults=defaults, tiers=tuple(tiers), source=source)


def parse_policy_text(data: bytes | str, source: str = "<policy>") -> Policy:
    """Read (bounded: see ``bounded_yaml``) and validate a policy YAML text. Raises PolicyError."""
    return parse_policy(load_yaml(data, source), source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy YAML file."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)  # never more than the limit, whatever the file's size
    except OSError as err:
        raise PolicyError([PolicyProblem(source, "", f"cannot read the file: {err.strerror or err}")]) from None
    return parse_policy_text(data, source)


def policy_from_env(policy: Policy | str | os.PathLike[str] | None = None) -> Policy:
    """The policy connect() uses: the argument, else $DASK_KUBEFLOW_POLICY, else built-in defaults."""
    if isinstance(policy, Policy):
        return policy
    if policy is not None:
        return load_policy(policy)
    if path := os.environ.get(POLICY_ENV):
        return load_policy(path)
    return Policy.builtin()
