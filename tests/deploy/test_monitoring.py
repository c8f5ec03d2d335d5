"""deploy/monitoring: the monitors validate against prometheus-operator's CRDs, select what really runs, and
every metric the Grafana dashboard queries is one the code (or distributed's scheduler) exports."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml
from distributed import Scheduler
from prometheus_client.parser import text_string_to_metric_families

from dask_kubeflow.controller import metrics as controller_metrics
from dask_kubeflow.gateway.metrics import GatewayMetrics
from dask_kubeflow.kube.names import (
    DASHBOARD_PORT_NAME,
    DASHBOARD_PREFIX_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_COMPONENT_LABEL,
    TIER_LABEL,
)

from ..render.validation import _strict, validate
from .test_kustomize import container, kustomize, one

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
MONITORING_CRDS = REPO / "reference" / "monitoring"
DASHBOARD = json.loads((DEPLOY / "monitoring" / "grafana-dashboard.json").read_text())


@cache
def monitor_validators() -> dict[tuple[str, str], jsonschema.Draft4Validator]:
    validators = {}
    for path in sorted(MONITORING_CRDS.glob("monitoring.coreos.com_*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            schema = dict(version["schema"]["openAPIV3Schema"])
            schema["properties"] = {**schema["properties"], "metadata": {"type": "object"}}
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            validators[key] = jsonschema.Draft4Validator(_strict(schema))
    return validators


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> list[dict]:
    """The kubeflow overlay with monitoring, as the doc tells admins to add it."""
    overlay = tmp_path_factory.mktemp("with-monitoring")
    relative = os.path.relpath(DEPLOY, overlay)
    (overlay / "kustomization.yaml").write_text(f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {relative}/overlays/kubeflow
components:
  - {relative}/monitoring
  - {relative}/monitoring/istio
  - {relative}/components/params
""")
    return kustomize(overlay)


def test_monitors_validate_against_prometheus_operator_crds(installed):
    monitors = [o for o in installed if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert sorted(o["kind"] for o in monitors) == ["PodMonitor", "PodMonitor", "ServiceMonitor"]
    for obj in monitors:
        error = jsonschema.exceptions.best_match(monitor_validators()[(obj["apiVersion"], obj["kind"])].iter_errors(obj))
        assert error is None, f"{obj['kind']}/{obj['metadata']['name']}: {error}"
    for obj in installed:
        if not obj["apiVersion"].startswith("monitoring.coreos.com/"):
            validate(obj)  # the metrics AuthorizationPolicy and the dashboard ConfigMap too


def test_monitors_live_in_the_install_namespace(installed):
    for obj in installed:
        if obj["apiVersion"].startswith("monitoring.coreos.com/") or obj["metadata"]["name"].endswith("-metrics") \
                or obj["metadata"]["name"] == "dask-kubeflow-grafana-dashboard":
            assert obj["metadata"]["namespace"] == "kubeflow", obj["metadata"]["name"]


def test_controller_and_gateway_monitors_select_their_pods_and_ports(installed):
    monitor = one(installed, "PodMonitor", "dask-kubeflow-controller")["spec"]
    pod = one(installed, "Deployment", "dask-kubeflow-controller")["spec"]["template"]
    assert monitor["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"] for p in container(installed, "dask-kubeflow-controller")["ports"]}
    assert {e["port"] for e in monitor["podMetricsEndpoints"]} <= ports
    monitor = one(installed, "ServiceMonitor", "dask-kubeflow-gateway")["spec"]
    service = one(installed, "Service", "dask-kubeflow-gateway")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    [rule] = one(installed, "AuthorizationPolicy", "dask-kubeflow-gateway-metrics")["spec"]["rules"]
    assert rule["to"][0]["operation"]["paths"] == [e["path"] for e in monitor["endpoints"]]


def _sanitized(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def test_scheduler_monitor_finds_managed_schedulers_at_their_prefix(installed):
    """The operator copies the DaskCluster's labels and annotations onto the scheduler pod (what render
    sets: managed-by, tier, the dashboard prefix); the scheduler serves /metrics under that prefix."""
    monitor = one(installed, "PodMonitor", "dask-kubeflow-schedulers")["spec"]
    assert monitor["namespaceSelector"] == {"any": True}
    assert monitor["selector"]["matchLabels"] == {OPERATOR_COMPONENT_LABEL: "scheduler", MANAGED_BY_LABEL: MANAGED_BY}
    assert set(monitor["podTargetLabels"]) == {OPERATOR_CLUSTER_LABEL, TIER_LABEL}
    [endpoint] = monitor["podMetricsEndpoints"]
    assert endpoint["port"] == DASHBOARD_PORT_NAME
    [relabel] = endpoint["relabelings"]
    assert relabel["sourceLabels"] == [f"__meta_kubernetes_pod_annotation_{_sanitized(DASHBOARD_PREFIX_ANNOTATION)}"]
    assert (relabel["targetLabel"], relabel["replacement"]) == ("__metrics_path__", "${1}/metrics")


# -- the dashboard's queries name exported metrics ----------------------------------------------------------
PROMQL_WORDS = {"sum", "count", "max", "min", "avg", "rate", "irate", "increase", "histogram_quantile", "by",
                "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset",
                "label_values", "le"}


def query_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or labels."""
    expr = re.sub(r'"[^"]*"', "", expr)  # strings
    expr = re.sub(r"label_values\((\w+)[^,)]*,\s*\w+\)", r"\1", expr)  # Grafana's label_values(metric, label)
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\$\w+", "", expr)  # dashboard variables
    return {w for w in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr) if w not in PROMQL_WORDS}


def dashboard_queries() -> list[str]:
    exprs = [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in DASHBOARD["templating"]["list"] if "definition" in v]
    return exprs


def _family_samples(registry) -> set[str]:
    names = set()
    for family in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""],
                    "summary": ["_sum", "_count", ""], "info": ["_info"]}[family.type]
        names |= {family.name + s for s in suffixes}
    return names


@pytest.fixture(scope="module")
def scheduler_metrics() -> set[str]:
    """What a real distributed scheduler serves at /metrics (the routes render enables)."""
    import asyncio

    async def scrape() -> str:
        async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as scheduler:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{scheduler.http_server.port}/metrics", timeout=30)
                response.raise_for_status()
                return response.text

    text = asyncio.run(scrape())
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_dashboard_query_names_an_exported_metric(scheduler_metrics):
    exported = _family_samples(controller_metrics.REGISTRY) | _family_samples(GatewayMetrics().registry)
    exported |= scheduler_metrics
    queried = set().union(*map(query_metrics, dashboard_queries()))
    assert {"dask_scheduler_workers", "dask_kubeflow_gateway_request_duration_seconds_bucket",
            "dask_kubeflow_controller_reconcile_errors_total"} <= queried
    assert not queried - exported, f"the dashboard queries metrics nobody exports: {sorted(queried - exported)}"


def test_workers_panel_shows_now_wanted_and_the_tiers_maximum(installed):
    [panel] = [p for p in DASHBOARD["panels"] if p["title"].startswith("Workers now")]
    queried = set().union(*(query_metrics(t["expr"]) for t in panel["targets"]))
    assert {"dask_scheduler_workers", "dask_scheduler_desired_workers",
            "dask_kubeflow_controller_cluster_max_workers"} <= queried
    # The gauge's own namespace label (the profile namespace) must survive the scrape of the controller pod.
    [endpoint] = one(installed, "PodMonitor", "dask-kubeflow-controller")["spec"]["podMetricsEndpoints"]
    assert endpoint["honorLabels"] is True


def test_query_parser_sees_through_promql():
    assert query_metrics('sum by (le, route) (rate(a_b_bucket{code=~"5.."}[5m])) * 60 + max(c)') == {"a_b_bucket", "c"}
    assert query_metrics("label_values(dask_scheduler_clients, namespace)") == {"dask_scheduler_clients"}


def test_dashboard_covers_what_admins_watch():
    titles = " ".join(p["title"] for p in DASHBOARD["panels"]).lower()
    for topic in ("clusters per namespace", "workers", "autoscaler", "gateway latency", "gateway errors",
                  "reconcile errors"):
        assert topic in titles
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
