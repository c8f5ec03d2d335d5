"""deploy/policy.example.yaml is the admin's reference: it loads, and it documents every field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel

from dask_kubeflow.policy import ShapeSettings, TierMatch, load_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.yaml"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def field_paths(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel] | None]]:
    """Every field of ``model`` as camelCase paths, nested models included (e.g. worker.resources.limits.cpu)."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        nested = _model_of(info.annotation)
        out.append((path, nested))
        if nested is not None and info.annotation is nested:
            out += field_paths(nested, f"{path}.")
    return out


def _lookup(data: dict[str, Any], path: str) -> bool:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_example_policy_loads_with_its_tiers():
    policy = load_policy(EXAMPLE)
    assert [t.name for t in policy.tiers] == ["gpu", "large", "shared-data", "queued", "disabled"]
    assert policy.defaults.enabled and not policy.tiers[-1].settings.enabled


def test_example_shows_a_shared_rwx_volume_and_a_kueue_queue():
    tiers = {t.name: t.settings for t in load_policy(EXAMPLE).tiers}
    shared = tiers["shared-data"]
    [volume] = shared.pod.volumes
    assert volume.persistent_volume_claim is not None
    assert [m.name for m in shared.worker.volume_mounts] == [m.name for m in shared.scheduler.volume_mounts] == [volume.name]
    assert tiers["queued"].pod.labels["kueue.x-k8s.io/queue-name"] == "dask"


def test_every_shape_setting_is_set_in_defaults_and_commented():
    text = EXAMPLE.read_text()
    defaults = yaml.safe_load(text)["defaults"]
    missing_keys, missing_docs = [], []
    for path, _ in field_paths(ShapeSettings):
        if not _lookup(defaults, path):
            missing_keys.append(path)
        leaf = path.rsplit(".", 1)[-1]
        # A comment line naming the field ("# scaling.idleAfter: ..." or "# limits.memory ...").
        if not re.search(rf"^\s*#.*\b{re.escape(leaf)}\b", text, re.MULTILINE):
            missing_docs.append(path)
    assert not missing_keys, f"fields missing from defaults in {EXAMPLE.name}: {missing_keys}"
    assert not missing_docs, f"fields without a comment in {EXAMPLE.name}: {missing_docs}"


def test_list_and_tier_fields_are_documented():
    """Fields of list items (tolerations) and of tier matching appear in the file's comments."""
    text = EXAMPLE.read_text()
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    nested = [f for path, model in field_paths(ShapeSettings) if model and path == "tolerations"
              for f in (i.alias or n for n, i in model.model_fields.items())]
    assert nested, "ShapeSettings.tolerations should hold Toleration models"
    tier = [info.alias or name for name, info in TierMatch.model_fields.items()]
    undocumented = [f for f in [*nested, *tier, "tiers", "match", "name"] if not re.search(rf"\b{f}\b", comments)]
    assert not undocumented, f"not explained in comments of {EXAMPLE.name}: {undocumented}"


def test_field_walk_sees_nested_settings():
    """Guard for the tests above: the walk reaches the leaves, so a new leaf field is caught."""
    paths = [p for p, _ in field_paths(ShapeSettings)]
    assert {"worker.resources.limits.memory", "scaling.idleAfter", "dashboard.urlTemplate", "nodeSelector"} <= set(paths)
