"""deploy/: ``kubectl kustomize`` builds, every object validates, and the pieces agree with the code.

The overlay's objects must match what the rest of dask-kubeflow assumes: the gateway's pod labels
are what each namespace's NetworkPolicy admits, the controller reads the policy ConfigMap the base
generates, the route reaches the gateway Service, and every CLI flag used exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.gateway.config import config_from_env
from dask_kubeflow.policy import parse_policy
from dask_kubeflow.kube.names import GATEWAY_POD_LABELS, GATEWAY_PORT, GATEWAY_SERVICE, INSTALL_NAMESPACE
from dask_kubeflow.kube.resources import RENDERED_KINDS

from ..render.validation import kubeflow_crd_dir, validate

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"
PLURALS = {"DaskCluster": "daskclusters", "DaskAutoscaler": "daskautoscalers", "PodDefault": "poddefaults",
           "NetworkPolicy": "networkpolicies"}


@cache
def build(directory: str) -> list[dict]:
    result = subprocess.run([str(KUBECTL), "kustomize", str(REPO / directory)], capture_output=True, text=True)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def overlay() -> list[dict]:
    return build("deploy/overlays/kubeflow")


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("directory", ["deploy/base", "deploy/overlays/kubeflow"])
def test_builds_and_every_object_validates(directory):
    objects = build(directory)
    assert objects
    for obj in objects:
        validate(obj)


def test_overlay_adds_route_policy_and_dashboard_link(overlay):
    kinds = sorted({o["kind"] for o in overlay})
    assert {"VirtualService", "AuthorizationPolicy", "ConfigMap", "Deployment", "Service", "ClusterRole"} <= set(kinds)
    namespace = one(overlay, "Namespace", INSTALL_NAMESPACE)
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"


def test_gateway_pods_are_what_namespace_network_policies_admit(overlay):
    deployment = one(overlay, "Deployment", "dask-kubeflow-gateway")
    assert deployment["metadata"]["namespace"] == INSTALL_NAMESPACE
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert GATEWAY_POD_LABELS.items() <= labels.items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "gateway"
    assert {"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"} in container["ports"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["USERID_HEADER"] == "kubeflow-userid"
    assert env["DASK_KUBEFLOW_GATEWAY_TRUSTED_PRINCIPALS"].endswith("/sa/istio-ingressgateway-service-account")
    config = config_from_env(env)  # the gateway's own parser accepts what the Deployment sets
    assert config.userid_header == "kubeflow-userid"
    assert config.trusted_principals == (
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",)
    service = one(overlay, "Service", GATEWAY_SERVICE)
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_route_sends_dask_paths_to_the_gateway_unchanged(overlay):
    route = one(overlay, "VirtualService", "dask-kubeflow-gateway")["spec"]
    assert route["gateways"] == ["kubeflow/kubeflow-gateway"]
    [http] = route["http"]
    assert {"uri": {"prefix": "/dask/"}} in http["match"]
    assert "rewrite" not in http  # schedulers serve under /dask/<ns>/<cluster>/ themselves
    [destination] = http["route"]
    assert destination["destination"] == {
        "host": f"{GATEWAY_SERVICE}.{INSTALL_NAMESPACE}.svc.cluster.local", "port": {"number": 80}}
    policy = one(overlay, "AuthorizationPolicy", "dask-kubeflow-gateway")["spec"]
    assert policy["selector"]["matchLabels"].items() <= GATEWAY_POD_LABELS.items()
    assert policy["rules"][0]["from"][0]["source"]["principals"] == [
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]


def test_central_dashboard_links_are_kubeflows_plus_one_dask_item(overlay):
    ours = json.loads(one(overlay, "ConfigMap", "centraldashboard-config")["data"]["links"])
    reference = yaml.safe_load((kubeflow_crd_dir().parent / "examples" / "centraldashboard-config.yaml").read_text())
    upstream = json.loads(reference["data"]["links"])
    added = [item for item in ours["menuLinks"] if item not in upstream["menuLinks"]]
    assert added == [{"icon": "device:developer-board", "link": "/dask/", "text": "Dask clusters", "type": "item"}]
    assert [i for i in ours["menuLinks"] if i not in added] == upstream["menuLinks"]
    assert {k: v for k, v in ours.items() if k != "menuLinks"} == {k: v for k, v in upstream.items() if k != "menuLinks"}
    assert one(overlay, "ConfigMap", "centraldashboard-config")["metadata"]["namespace"] == "kubeflow"


def test_controller_reads_the_generated_policy(overlay):
    deployment = one(overlay, "Deployment", "dask-kubeflow-controller")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "controller"
    flags = dict(a.removeprefix("--").split("=", 1) for a in args[1:])
    namespace, name = flags["policy-configmap"].split("/")
    configmap = one(overlay, "ConfigMap", name)
    assert configmap["metadata"]["namespace"] == namespace == INSTALL_NAMESPACE
    policy_text = configmap["data"][flags["policy-key"]]
    assert policy_text == (REPO / "deploy" / "policy.example.yaml").read_text()
    assert parse_policy(yaml.safe_load(policy_text)).tiers
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("name", ["dask-kubeflow-controller", "dask-kubeflow-gateway"])
def test_deployment_args_are_flags_the_cli_knows(overlay, name):
    container = one(overlay, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    result = CliRunner().invoke(app, [*container["args"], "--help"])
    assert result.exit_code == 0, result.output


def test_every_container_is_bounded_and_unprivileged(overlay):
    for deployment in (o for o in overlay if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["image"] == "ghcr.io/dask-kubeflow/dask-kubeflow:0.1.0"


def _rules(overlay: list[dict], name: str) -> list[dict]:
    return one(overlay, "ClusterRole", name)["rules"]


def _allows(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_rbac_is_least_privilege(overlay):
    for role in (o for o in overlay if o["kind"] == "ClusterRole"):
        for rule in role.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], role["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
    controller = _rules(overlay, "dask-kubeflow-controller")
    for api_version, kind in ((k.api_version, k.kind) for k in RENDERED_KINDS):  # what render produces, the controller may apply and prune
        group = api_version.rpartition("/")[0]
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert _allows(controller, group, PLURALS[kind], verb), f"controller cannot {verb} {kind}"
    assert not any(r for r in controller if {"pods", "deployments", "services", "secrets"} & set(r["resources"]))
    assert not any("update" in r["verbs"] for r in controller)  # server-side apply patches, never PUTs
    gateway = _rules(overlay, "dask-kubeflow-gateway")
    assert _allows(gateway, "authorization.k8s.io", "subjectaccessreviews", "create")
    assert _allows(gateway, "kubernetes.dask.org", "daskclusters", "list")
    assert not any({"create", "patch", "update", "delete"} & set(r["verbs"])
                   for r in gateway if r["resources"] != ["subjectaccessreviews"])


def test_users_get_dask_resources_through_kubeflow_roles(overlay):
    edit = one(overlay, "ClusterRole", "dask-kubeflow-edit")
    view = one(overlay, "ClusterRole", "dask-kubeflow-view")
    assert edit["metadata"]["labels"]["rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.kubeflow.org/aggregate-to-kubeflow-view"] == "true"
    assert _allows(edit["rules"], "kubernetes.dask.org", "daskclusters", "create")
    assert _allows(view["rules"], "kubernetes.dask.org", "daskclusters", "get")  # what the gateway's review asks
    assert not any({"create", "delete", "patch", "update"} & set(r["verbs"]) for r in view["rules"])
    for binding in (o for o in overlay if o["kind"] == "ClusterRoleBinding"):
        assert binding["subjects"][0]["namespace"] == INSTALL_NAMESPACE
        one(overlay, "ClusterRole", binding["roleRef"]["name"])
        one(overlay, "ServiceAccount", binding["subjects"][0]["name"])
