"""deploy/: both overlays build, every object validates, and the pieces agree with the code.

The overlays' objects must match what the rest of dask-kubeflow assumes: the gateway's pod labels
are what each namespace's NetworkPolicy admits, the controller reads the policy ConfigMap the base
generates, the route reaches the gateway Service, every CLI flag used exists, and every namespace
an object names comes from the overlay's params.env.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.gateway.config import config_from_env
from dask_kubeflow.policy import parse_policy
from dask_kubeflow.kube.names import (
    ENV_CLUSTER_DOMAIN,
    ENV_INSTALL_NAMESPACE,
    ENV_METRICS_NAMESPACE,
    ENV_OPERATOR_NAMESPACE,
    GATEWAY_POD_LABELS,
    GATEWAY_PORT,
    GATEWAY_SERVICE,
    OPERATOR_POD_LABELS,
)
from dask_kubeflow.kube.resources import RENDERED_KINDS

from ..render.validation import validate

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBECTL = Path(sys.executable).parent / "kubectl"
OVERLAYS = ["deploy/overlays/kubeflow", "deploy/overlays/standalone"]
PLURALS = {"DaskCluster": "daskclusters", "DaskAutoscaler": "daskautoscalers", "PodDefault": "poddefaults",
           "NetworkPolicy": "networkpolicies"}
BASE_PLACEHOLDER_NAMESPACE = "dask-kubeflow"  # what deploy/base says; the params component replaces it
OPERATOR_ROLE = "dask-kubernetes-operator-role-cluster"  # upstream's, compared with the chart elsewhere


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run([str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@cache
def build(directory: str) -> list[dict]:
    return kustomize(REPO / directory)


def params(overlay: str) -> dict[str, str]:
    lines = (REPO / overlay / "params.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def custom_overlay(tmp_path: Path, base: str, changes: dict[str, str], extra: str = "") -> list[dict]:
    """An admin's own overlay over one of ours, changing params.env values as the doc says."""
    (tmp_path / "params.env").write_text("".join(f"{k}={v}\n" for k, v in changes.items()))
    relative = os.path.relpath(DEPLOY, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {relative}/{base}
{extra}
configMapGenerator:
  - name: dask-kubeflow-params
    behavior: merge
    envs: [params.env]
components:
  - {relative}/components/params
""")
    return kustomize(tmp_path)


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def container(objects: list[dict], deployment: str) -> dict:
    return one(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


def env_of(objects: list[dict], deployment: str) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects, deployment).get("env") or []}


def expanded_args(objects: list[dict], deployment: str) -> list[str]:
    """The container's args as the kubelet runs them: $(VAR) from env (values, or the pod's namespace)."""
    obj = one(objects, "Deployment", deployment)
    values = {k: (v if isinstance(v, str) else obj["metadata"]["namespace"]) for k, v in env_of(objects, deployment).items()}
    return [re.sub(r"\$\((\w+)\)", lambda m: values[m[1]], a) for a in container(objects, deployment)["args"]]


def namespace_references(objects: list[dict]) -> Iterator[tuple[str, str]]:
    """(where, namespace) for every namespace an object names: its own, subjects, env, args, hosts."""
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if "namespace" in obj["metadata"]:
            yield where, obj["metadata"]["namespace"]
        if obj["kind"] == "Namespace":
            yield where, obj["metadata"]["name"]
        for subject in obj.get("subjects", []):
            yield f"{where} subject", subject["namespace"]
        if obj["kind"] == "Deployment":
            name = obj["metadata"]["name"]
            for key, value in env_of(objects, name).items():
                if key.endswith("_NAMESPACE") and isinstance(value, str):
                    yield f"{where} env {key}", value
            for arg in expanded_args(objects, name):
                if arg.startswith("--policy-configmap="):
                    yield f"{where} {arg}", arg.split("=", 1)[1].split("/")[0]


@pytest.mark.parametrize("directory", OVERLAYS)
def test_builds_and_every_object_validates(directory):
    objects = build(directory)
    assert objects
    for obj in objects:
        validate(obj)


def test_base_builds_on_its_own():
    assert build("deploy/base")


@pytest.mark.parametrize("directory", OVERLAYS)
def test_one_build_installs_the_operator_and_its_crds(directory):
    objects = build(directory)
    crds = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert crds == {f"dask{k}s.kubernetes.dask.org" for k in ("cluster", "workergroup", "job", "autoscaler")}
    operator = one(objects, "Deployment", "dask-kubernetes-operator")
    assert operator["metadata"]["namespace"] == params(directory)["OPERATOR_NAMESPACE"]
    assert OPERATOR_POD_LABELS.items() <= operator["spec"]["template"]["metadata"]["labels"].items()
    assert env_of(objects, "dask-kubeflow-controller")[ENV_OPERATOR_NAMESPACE] == operator["metadata"]["namespace"]
    assert not [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "dask-kubeflow-params"]


def test_kubeflow_overlay_lives_in_kubeflow_and_owns_none_of_kubeflows_objects():
    objects = build("deploy/overlays/kubeflow")
    assert {ns for _, ns in namespace_references(objects)} == {"kubeflow"}
    # Never a Namespace kubeflow (uninstall would delete it), never Kubeflow's dashboard config.
    assert not [o for o in objects if o["kind"] == "Namespace"]
    assert not [o for o in objects if o["metadata"]["name"] == "centraldashboard-config"]
    role = one(objects, "Role", "dask-kubeflow-dashboard-link")
    assert role["metadata"]["namespace"] == "kubeflow"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["centraldashboard-config"], "verbs": ["get", "patch"]}]
    binding = one(objects, "RoleBinding", "dask-kubeflow-dashboard-link")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "dask-kubeflow-controller", "namespace": "kubeflow"}]
    annotations = one(objects, "Deployment", "dask-kubernetes-operator")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"sidecar.istio.io/inject": "false"}


def test_standalone_overlay_is_one_plain_namespace_without_istio():
    objects = build("deploy/overlays/standalone")
    [namespace] = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == params("deploy/overlays/standalone")["INSTALL_NAMESPACE"] == "dask-system"
    assert "istio-injection" not in namespace["metadata"].get("labels", {})
    references = dict(namespace_references(objects))
    assert references.pop(f"Deployment/dask-kubeflow-controller env {ENV_METRICS_NAMESPACE}") == "monitoring"
    assert set(references.values()) == {"dask-system"}
    assert not {o["kind"] for o in objects} & {"VirtualService", "AuthorizationPolicy", "Role", "RoleBinding"}
    assert "DASK_KUBEFLOW_GATEWAY_TRUSTED_PRINCIPALS" not in env_of(objects, "dask-kubeflow-gateway")


@pytest.mark.parametrize("base, install, operator", [
    ("overlays/kubeflow", "dask-system", "kubeflow"),
    ("overlays/standalone", "kubeflow", "dask-operator"),
])
def test_every_namespace_reference_follows_params_env(tmp_path, base, install, operator):
    extra = ("  - namespace.yaml\n" if operator != install else "")
    (tmp_path / "namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: placeholder\n  labels:\n"
        "    dask.kubeflow.org/namespace: operator\n")
    objects = custom_overlay(tmp_path, base, {"INSTALL_NAMESPACE": install, "OPERATOR_NAMESPACE": operator,
                                              "METRICS_NAMESPACE": "prometheus"}, extra)
    references = dict(namespace_references(objects))
    assert references.pop(f"Deployment/dask-kubeflow-controller env {ENV_METRICS_NAMESPACE}") == "prometheus"
    operator_objects = {"ServiceAccount/dask-kubernetes-operator", "Deployment/dask-kubernetes-operator",
                        "ClusterRoleBinding/dask-kubernetes-operator-rolebinding-cluster subject",
                        "Deployment/dask-kubeflow-controller env DASK_KUBEFLOW_OPERATOR_NAMESPACE"}
    kubeflows_own = {"Role/dask-kubeflow-dashboard-link", "RoleBinding/dask-kubeflow-dashboard-link"}
    for where, namespace in references.items():
        expected = operator if where in operator_objects or "placeholder" in where else (
            "kubeflow" if where in kubeflows_own else install)
        if where.startswith("Namespace/"):
            expected = namespace  # checked below
        assert namespace == expected, f"{where} names namespace {namespace}, expected {expected}"
    assert BASE_PLACEHOLDER_NAMESPACE not in references.values()
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"} == (
        {install, operator} if base == "overlays/standalone" else ({operator} if extra else set()))
    assert references["Deployment/dask-kubeflow-controller --policy-configmap=" + install + "/dask-kubeflow-policy"] == install


def test_image_header_prefix_and_cluster_domain_follow_params_env(tmp_path):
    objects = custom_overlay(tmp_path, "overlays/kubeflow", {
        "IMAGE": "registry.example.com/dask-kubeflow:9.9", "USERID_HEADER": "x-auth-request-email",
        "USERID_PREFIX": "accounts.google.com:", "CLUSTER_DOMAIN": "k8s.example.org"})
    assert {container(objects, d)["image"] for d in ("dask-kubeflow-controller", "dask-kubeflow-gateway")} == {
        "registry.example.com/dask-kubeflow:9.9"}
    config = config_from_env({k: v for k, v in env_of(objects, "dask-kubeflow-gateway").items()})
    assert (config.userid_header, config.userid_prefix, config.cluster_domain) == (
        "x-auth-request-email", "accounts.google.com:", "k8s.example.org")
    assert env_of(objects, "dask-kubeflow-controller")[ENV_CLUSTER_DOMAIN] == "k8s.example.org"


@pytest.mark.parametrize("directory", OVERLAYS)
def test_controller_environment_is_the_documented_list(directory):
    env = env_of(build(directory), "dask-kubeflow-controller")
    assert set(env) == {ENV_INSTALL_NAMESPACE, ENV_OPERATOR_NAMESPACE, ENV_CLUSTER_DOMAIN, ENV_METRICS_NAMESPACE}
    assert env[ENV_INSTALL_NAMESPACE] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env[ENV_METRICS_NAMESPACE] == params(directory)["METRICS_NAMESPACE"]
    gateway = env_of(build(directory), "dask-kubeflow-gateway")
    assert {"USERID_HEADER", "USERID_PREFIX", "DASK_KUBEFLOW_GATEWAY_CLUSTER_DOMAIN"} <= set(gateway)


@pytest.mark.parametrize("directory", OVERLAYS)
def test_network_policy_admits_the_installed_operator_and_gateway(directory):
    """What the controller renders, run with the environment its Deployment gets, admits the namespaces
    the overlay installed the operator and the gateway into."""
    objects = build(directory)
    env = {k: v for k, v in env_of(objects, "dask-kubeflow-controller").items() if isinstance(v, str)}
    env[ENV_INSTALL_NAMESPACE] = one(objects, "Deployment", "dask-kubeflow-controller")["metadata"]["namespace"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dask-kubeflow"), "render", "--policy", str(DEPLOY / "policy.example.yaml"),
         "--namespace", "team-a", "--owner", "alice@example.com"],
        capture_output=True, text=True, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    [policy] = [o for o in yaml.safe_load_all(result.stdout) if o and o["kind"] == "NetworkPolicy"]
    sources = [f for rule in policy["spec"]["ingress"] for f in rule["from"]]
    admitted = {(s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name"),
                 tuple(sorted(s.get("podSelector", {}).get("matchLabels", {}).items()))) for s in sources}
    assert (env[ENV_OPERATOR_NAMESPACE], tuple(sorted(OPERATOR_POD_LABELS.items()))) in admitted
    assert (env[ENV_INSTALL_NAMESPACE], tuple(sorted(GATEWAY_POD_LABELS.items()))) in admitted


def test_gateway_pods_are_what_namespace_network_policies_admit():
    objects = build("deploy/overlays/kubeflow")
    deployment = one(objects, "Deployment", "dask-kubeflow-gateway")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert GATEWAY_POD_LABELS.items() <= labels.items()
    gateway = container(objects, "dask-kubeflow-gateway")
    assert gateway["args"][0] == "gateway"
    assert {"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"} in gateway["ports"]
    env = env_of(objects, "dask-kubeflow-gateway")
    assert env["DASK_KUBEFLOW_GATEWAY_TRUSTED_PRINCIPALS"].endswith("/sa/istio-ingressgateway-service-account")
    config = config_from_env(env)  # the gateway's own parser accepts what the Deployment sets
    assert config.userid_header == "kubeflow-userid" and config.userid_prefix == ""
    assert config.trusted_principals == (
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",)
    service = one(objects, "Service", GATEWAY_SERVICE)
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_route_sends_dask_paths_to_the_gateway_unchanged():
    objects = build("deploy/overlays/kubeflow")
    route = one(objects, "VirtualService", "dask-kubeflow-gateway")
    assert route["metadata"]["namespace"] == one(objects, "Service", GATEWAY_SERVICE)["metadata"]["namespace"]
    assert route["spec"]["gateways"] == ["kubeflow/kubeflow-gateway"]
    [http] = route["spec"]["http"]
    assert {"uri": {"prefix": "/dask/"}} in http["match"]
    assert "rewrite" not in http  # schedulers serve under /dask/<ns>/<cluster>/ themselves
    [destination] = http["route"]
    # A short host: Istio resolves it in the VirtualService's own namespace, with the mesh's domain.
    assert destination["destination"] == {"host": GATEWAY_SERVICE, "port": {"number": 80}}
    policy = one(objects, "AuthorizationPolicy", "dask-kubeflow-gateway")
    assert policy["metadata"]["namespace"] == route["metadata"]["namespace"]
    assert policy["spec"]["selector"]["matchLabels"].items() <= GATEWAY_POD_LABELS.items()
    assert policy["spec"]["rules"][0]["from"][0]["source"]["principals"] == [
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]


@pytest.mark.parametrize("directory", OVERLAYS)
def test_controller_reads_the_generated_policy(directory):
    objects = build(directory)
    deployment = one(objects, "Deployment", "dask-kubeflow-controller")
    args = expanded_args(objects, "dask-kubeflow-controller")
    assert args[0] == "controller"
    flags = dict(a.removeprefix("--").split("=", 1) for a in args[1:])
    namespace, name = flags["policy-configmap"].split("/")
    configmap = one(objects, "ConfigMap", name)
    assert configmap["metadata"]["namespace"] == namespace == deployment["metadata"]["namespace"]
    policy_text = configmap["data"][flags["policy-key"]]
    assert policy_text == (REPO / "deploy" / "policy.example.yaml").read_text()
    assert parse_policy(yaml.safe_load(policy_text)).tiers
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("name", ["dask-kubeflow-controller", "dask-kubeflow-gateway"])
def test_deployment_args_are_flags_the_cli_knows(name):
    args = expanded_args(build("deploy/overlays/kubeflow"), name)
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("directory", OVERLAYS)
def test_every_container_is_bounded_and_unprivileged(directory):
    image = params(directory)["IMAGE"]
    for deployment in (o for o in build(directory) if o["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for c in pod["containers"]:
            assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"].get("runAsNonRoot") or pod["securityContext"].get("runAsNonRoot")
            if deployment["metadata"]["name"].startswith("dask-kubeflow-"):
                assert c["image"] == image


def _rules(objects: list[dict], name: str) -> list[dict]:
    return one(objects, "ClusterRole", name)["rules"]


def _allows(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_rbac_is_least_privilege():
    objects = build("deploy/overlays/kubeflow")
    for role in (o for o in objects if o["kind"] in ("ClusterRole", "Role") and o["metadata"]["name"] != OPERATOR_ROLE):
        for rule in role.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], role["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
    controller = _rules(objects, "dask-kubeflow-controller")
    for api_version, kind in ((k.api_version, k.kind) for k in RENDERED_KINDS):  # what render produces, the controller may apply and prune
        group = api_version.rpartition("/")[0]
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert _allows(controller, group, PLURALS[kind], verb), f"controller cannot {verb} {kind}"
    writes = {"create", "patch", "update", "delete", "deletecollection"}
    assert not any(r for r in controller if {"services", "secrets"} & set(r["resources"]))
    # pods: read only (usage accounting, wake on a notebook pod); deployments: only hibernation's replica patch
    assert not any(writes & set(r["verbs"]) for r in controller if "pods" in r["resources"])
    assert all(set(r["verbs"]) <= {"patch"} for r in controller if "deployments" in r["resources"])
    assert not any("update" in r["verbs"] for r in controller)  # server-side apply patches, never PUTs
    gateway = _rules(objects, "dask-kubeflow-gateway")
    assert _allows(gateway, "authorization.k8s.io", "subjectaccessreviews", "create")
    assert _allows(gateway, "kubernetes.dask.org", "daskclusters", "list")
    # the clusters page creates and deletes user clusters, each after a SubjectAccessReview for the user
    user_cluster_kinds = {"daskclusters", "daskautoscalers"}
    assert not any(writes & set(r["verbs"]) for r in gateway
                   if r["resources"] != ["subjectaccessreviews"] and not set(r["resources"]) <= user_cluster_kinds)
    assert not any("update" in r["verbs"] for r in gateway)
    # wake requests (docs/hibernation.md): patch of daskclusters only, after a SubjectAccessReview for the user
    assert all(r["resources"] == ["daskclusters"] for r in gateway if "patch" in r["verbs"])
    # the controller's status and usage records: get by name, nothing else of ConfigMaps
    assert all(r["verbs"] == ["get"] and set(r.get("resourceNames", ())) == {"dask-kubeflow-status", "dask-kubeflow-usage"}
               for r in gateway if "configmaps" in r["resources"])


@pytest.mark.parametrize("directory", OVERLAYS)
def test_users_get_dask_resources_through_kubeflow_roles(directory):
    objects = build(directory)
    edit = one(objects, "ClusterRole", "dask-kubeflow-edit")
    view = one(objects, "ClusterRole", "dask-kubeflow-view")
    for role in ("admin", "edit"):
        assert edit["metadata"]["labels"][f"rbac.authorization.kubeflow.org/aggregate-to-kubeflow-{role}"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.kubeflow.org/aggregate-to-kubeflow-view"] == "true"
    assert _allows(edit["rules"], "kubernetes.dask.org", "daskclusters", "create")
    assert _allows(view["rules"], "kubernetes.dask.org", "daskclusters", "get")  # what the gateway's review asks
    assert not any({"create", "delete", "patch", "update"} & set(r["verbs"]) for r in view["rules"])
    for binding in (o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        kind = binding["roleRef"]["kind"]
        one(objects, kind, binding["roleRef"]["name"])
        account = one(objects, "ServiceAccount", binding["subjects"][0]["name"])
        assert binding["subjects"][0]["namespace"] == account["metadata"]["namespace"]


@pytest.mark.parametrize("directory", OVERLAYS)
def test_uninstall_selector_finds_everything_but_the_crds(directory):
    """docs/install-kubeflow.md removes the platform with -l app.kubernetes.io/part-of=dask-kubeflow and
    keeps the CRDs (deleting them would delete every user's Dask objects): the labels must say so."""
    for obj in build(directory):
        labelled = (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "dask-kubeflow"
        assert labelled == (obj["kind"] != "CustomResourceDefinition"), f"{obj['kind']}/{obj['metadata']['name']}"
