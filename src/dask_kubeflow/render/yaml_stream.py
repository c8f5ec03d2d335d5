"""The YAML stream ``dask-kubeflow render`` prints: keys in render order, multi-line text as blocks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml when present: 10x faster
    def ignore_aliases(self, data: Any) -> bool:  # plain YAML: no &anchors / *aliases
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(manifests: Iterable[dict[str, Any]]) -> str:
    """A ``---``-separated stream that ``kubectl apply -f -`` accepts."""
    return yaml.dump_all(list(manifests), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         explicit_start=True, width=120)
