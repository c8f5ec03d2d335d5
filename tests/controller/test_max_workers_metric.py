"""``dask_kubeflow_controller_cluster_max_workers{namespace,tier}``: what the Grafana dashboard shows as
"max" next to the workers now: the DaskAutoscaler maximum the controller applies, one series per namespace."""

from __future__ import annotations

from prometheus_client import generate_latest

from dask_kubeflow.controller import metrics
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import render_namespace

NAME = "dask_kubeflow_controller_cluster_max_workers"


def series() -> dict[tuple[str, str], float]:
    out = {}
    for family in metrics.REGISTRY.collect():
        if family.name == NAME:
            out |= {(s.labels["namespace"], s.labels["tier"]): s.value for s in family.samples}
    return out


def test_the_autoscaler_maximum_of_the_rendered_objects():
    policy = parse_policy({"tiers": [{"name": "big", "match": {"namespaces": ["team-*"]}, "scaling": {"maximum": 12}}]})
    facts = NamespaceFacts("team-a")
    assert metrics.max_workers_of(render_namespace(facts, resolve(policy, facts))) == 12
    assert metrics.max_workers_of([]) is None


def test_one_series_per_namespace_that_follows_its_tier_and_goes_away():
    metrics.record_cluster_max_workers("ns-metric-a", "default", 4)
    metrics.record_cluster_max_workers("ns-metric-b", "default", 4)
    assert {k: v for k, v in series().items() if k[0].startswith("ns-metric-")} == {
        ("ns-metric-a", "default"): 4, ("ns-metric-b", "default"): 4}
    metrics.record_cluster_max_workers("ns-metric-a", "big", 16)  # moved to another tier: the old series goes
    metrics.record_cluster_max_workers("ns-metric-b", "default", None)  # no managed cluster any more
    assert {k: v for k, v in series().items() if k[0].startswith("ns-metric-")} == {("ns-metric-a", "big"): 16}
    metrics.record_cluster_max_workers("ns-metric-a", "big", None)
    metrics.record_cluster_max_workers("ns-metric-never", None, None)  # nothing to remove: no error
    assert not [k for k in series() if k[0].startswith("ns-metric-")]
    assert NAME.encode() in generate_latest(metrics.REGISTRY)
