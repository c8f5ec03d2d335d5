"""Policies and namespaces shared by the render tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dask_kubeflow.policy import NamespaceFacts, Policy, load_policy, resolve
from dask_kubeflow.render import render_namespace

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = REPO / "deploy" / "policy.example.yaml"

# Odd but valid namespaces: the longest name Kubeflow allows, dotted owner emails, digits first.
LONG_NAMESPACE = "n" + "-0123456789" * 5 + "abcdefg"
NAMESPACES = {
    "typical": NamespaceFacts("kubeflow-user-example-com", {}, "user@example.com"),
    "long": NamespaceFacts(LONG_NAMESPACE, {"team": "ml"}, "first.last.name@sub.example.co.uk"),
    "gpu": NamespaceFacts("vision", {"dask.kubeflow.org/gpu": "true"}, "a.b@example.org"),
    "large": NamespaceFacts("team-42", {}, "x.y@example.com", ("c.d@example.com",)),
    "digits": NamespaceFacts("1a", {}, None),
}
assert len(LONG_NAMESPACE) == 63


@pytest.fixture(scope="session")
def example_policy() -> Policy:
    return load_policy(EXAMPLE_POLICY)


def render(policy: Policy, facts: NamespaceFacts) -> list[dict]:
    return render_namespace(facts, resolve(policy, facts))


def by_kind(manifests: list[dict]) -> dict[str, dict]:
    return {m["kind"]: m for m in manifests}
