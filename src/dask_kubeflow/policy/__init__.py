"""The platform policy: the one configuration model every part of dask-kubeflow reads.

An admin writes one YAML file: ``defaults`` (the shape of every namespace's Dask cluster) and an
ordered list of ``tiers`` that override some of those fields for the namespaces they match.
``resolve(policy, namespace)`` turns that file plus the facts of one namespace into the
``ClusterShape`` that ``render`` and the embedded cluster use.

- ``model``: the settings, tiers, ``NamespaceFacts``, ``ClusterShape`` and ``resolve`` (pure);
- ``loader``: YAML file or document -> ``Policy``, or ``PolicyError`` listing every problem;
- ``rules``: the policy-only value rules (durations, env names, owners, namespace globs).

Kubernetes name rules are shared with render, the gateway and the CLI in ``dask_kubeflow.kube.names``.
Nothing here talks to the network, and nothing imports kr8s.
"""

from __future__ import annotations

from .loader import (
    POLICY_ENV,
    PolicyError,
    PolicyProblem,
    load_policy,
    parse_policy,
    parse_policy_text,
    policy_from_env,
)
from .model import (
    DEFAULT_CLUSTER_NAME,
    DEFAULT_IMAGE,
    DEFAULT_TIER,
    Dashboard,
    ResourceList,
    Resources,
    Scaling,
    SchedulerSpec,
    ShapeSettings,
    Tier,
    TierMatch,
    Toleration,
    WorkerSpec,
)
from .shape import ClusterShape, NamespaceFacts, Policy, resolve

__all__ = [
    "ClusterShape",
    "Dashboard",
    "NamespaceFacts",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "ResourceList",
    "Resources",
    "Scaling",
    "SchedulerSpec",
    "ShapeSettings",
    "Tier",
    "TierMatch",
    "Toleration",
    "WorkerSpec",
    "load_policy",
    "parse_policy",
    "parse_policy_text",
    "policy_from_env",
    "resolve",
    "DEFAULT_CLUSTER_NAME",
    "DEFAULT_IMAGE",
    "DEFAULT_TIER",
    "POLICY_ENV",
]
