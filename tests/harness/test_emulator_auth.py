"""The emulator authenticates callers and authorizes them with RBAC, as a real API server does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kr8s
import pytest
import yaml

from tests.harness.emulator import Emulator, Identity

DASK = "kubernetes.dask.org"
RBAC = "rbac.authorization.k8s.io/v1"
KUBEFLOW_ROLES = Path(__file__).resolve().parents[2] / "reference" / "kubeflow" / "examples" / \
    "kubeflow-roles-cluster-roles.yaml"


def call(emulator: Emulator, who: Identity | None, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if who is not None:
        headers["Authorization"] = f"Bearer {who.token}"
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    resp = httpx.request(method, emulator.url + path, headers=headers, content=data, timeout=30)
    is_json = resp.headers.get("Content-Type", "").startswith("application/json")
    return resp.status_code, resp.json() if resp.content and is_json else {}


def namespace(emulator: Emulator, name: str, labels: dict[str, str] | None = None) -> None:
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})


def cluster(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{DASK}/v1", "kind": "DaskCluster", "metadata": {"name": name},
            "spec": {"worker": {"replicas": 1, "spec": {"containers": [{"name": "w", "image": "x"}]}},
                     "scheduler": {"spec": {"containers": [{"name": "s", "image": "x"}]},
                                   "service": {"ports": [{"name": "comm", "port": 8786}]}}}}


def role_binding(ns: str, name: str, role: str, subjects: list[dict[str, Any]], kind: str = "ClusterRole") -> dict:
    return {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": subjects}


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


DASK_EDIT = {"apiVersion": RBAC, "kind": "ClusterRole",
             "metadata": {"name": "dask-kubeflow-edit",
                          "labels": {"rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit": "true"}},
             "rules": [{"apiGroups": [DASK], "resources": ["daskclusters", "daskclusters/status"],
                        "verbs": ["get", "list", "watch", "create", "delete", "patch", "update"]}]}


@pytest.fixture
def kubeflow_roles(emulator: Emulator) -> None:
    for doc in yaml.safe_load_all(KUBEFLOW_ROLES.read_text()):
        if doc:
            emulator.create(doc)
    emulator.create(DASK_EDIT)


# ----------------------------------------------------------------------------------------- authentication

def test_admin_kubeconfig_keeps_full_access_and_unknown_tokens_are_401(emulator: Emulator) -> None:
    api = kr8s.api(kubeconfig=str(emulator.kubeconfig))
    assert any(ns.name == "kube-system" for ns in api.get("namespaces"))
    resp = httpx.get(emulator.url + "/api/v1/namespaces", headers={"Authorization": "Bearer forged"})
    assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"


def test_identities_carry_user_info(emulator: Emulator) -> None:
    alice = emulator.identity("alice@example.com", groups=["kubeflow-users"])
    assert alice.groups == ("kubeflow-users", "system:authenticated")
    assert emulator.identity("alice@example.com", groups=["kubeflow-users"]).token == alice.token
    sa = emulator.service_account("dask-kubeflow", "controller")
    assert sa.username == "system:serviceaccount:dask-kubeflow:controller"
    assert sa.groups == ("system:serviceaccounts", "system:serviceaccounts:dask-kubeflow", "system:authenticated")
    config = yaml.safe_load(sa.kubeconfig.read_text())
    assert config["contexts"][0]["context"]["namespace"] == "dask-kubeflow"
    assert config["users"][0]["user"]["token"] == sa.token
    # What SelfSubjectAccessReview reports is decided for the caller, not the admin.
    status, body = call(emulator, sa, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        {"spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "x"}}})
    assert status == 201 and body["status"]["allowed"] is False


# ----------------------------------------------------------------------------------------- RBAC wording

def test_forbidden_wording_matches_the_api_server(emulator: Emulator) -> None:
    namespace(emulator, "bob")
    emulator.create({**cluster("x"), "metadata": {"name": "x", "namespace": "bob"}})
    alice = emulator.identity("alice@example.com")
    base = f"/apis/{DASK}/v1"
    status, body = call(emulator, alice, "DELETE", f"{base}/namespaces/bob/daskclusters/x")
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (f'daskclusters.{DASK} "x" is forbidden: User "alice@example.com" cannot delete '
                               f'resource "daskclusters" in API group "{DASK}" in the namespace "bob"')
    assert body["details"] == {"name": "x", "group": DASK, "kind": "daskclusters"}
    status, body = call(emulator, alice, "GET", f"{base}/namespaces/bob/daskclusters")
    assert body["message"] == (f'daskclusters.{DASK} is forbidden: User "alice@example.com" cannot list '
                               f'resource "daskclusters" in API group "{DASK}" in the namespace "bob"')
    status, body = call(emulator, alice, "GET", f"{base}/daskclusters")
    assert body["message"].endswith('cannot list resource "daskclusters" in API group "kubernetes.dask.org" '
                                    "at the cluster scope")
    status, body = call(emulator, alice, "GET", "/api/v1/namespaces/bob/pods/p/log")
    assert body["message"] == ('pods "p" is forbidden: User "alice@example.com" cannot get resource "pods/log" in '
                               'API group "" in the namespace "bob"')
    status, body = call(emulator, alice, "GET", "/metrics")
    assert status == 403 and body["message"] == 'forbidden: User "alice@example.com" cannot get path "/metrics"'
    assert emulator.get("daskclusters", "x", "bob") is not None


def test_discovery_is_open_to_every_authenticated_caller(emulator: Emulator) -> None:
    alice = emulator.identity("alice@example.com")
    for path in ("/api", "/api/v1", "/apis", f"/apis/{DASK}/v1", "/version", "/openapi/v3", "/healthz"):
        assert call(emulator, alice, "GET", path)[0] == 200, path


# ----------------------------------------------------------------------------------------- RBAC semantics

def test_kubeflow_aggregated_roles_grant_the_profile_namespace_only(emulator: Emulator, kubeflow_roles: None) -> None:
    namespace(emulator, "alice")
    namespace(emulator, "bob")
    emulator.create(role_binding("alice", "namespaceAdmin", "kubeflow-admin", [user("alice@example.com")]))
    alice = emulator.identity("alice@example.com")
    status, _ = call(emulator, alice, "POST", f"/apis/{DASK}/v1/namespaces/alice/daskclusters", cluster("mine"))
    assert status == 201  # kubeflow-admin -> kubeflow-edit -> dask-kubeflow-edit, by labels
    status, body = call(emulator, alice, "POST", f"/apis/{DASK}/v1/namespaces/bob/daskclusters", cluster("theirs"))
    assert status == 403 and 'cannot create resource "daskclusters"' in body["message"] and '"bob"' in body["message"]
    status, _ = call(emulator, alice, "PATCH", f"/apis/{DASK}/v1/namespaces/alice/daskclusters/mine",
                     {"spec": {"worker": {"replicas": 2}}}, "application/merge-patch+json")
    assert status == 200
    status, _ = call(emulator, alice, "GET", "/api/v1/namespaces/alice/pods")
    assert status == 200
    status, body = call(emulator, alice, "DELETE", "/api/v1/namespaces/alice")
    assert status == 403 and "at the cluster scope" in body["message"]


def test_verbs_resources_subresources_and_resource_names(emulator: Emulator) -> None:
    namespace(emulator, "team")
    for name in ("x", "y"):
        emulator.create({**cluster(name), "metadata": {"name": name, "namespace": "team"}})
    emulator.create({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "narrow", "namespace": "team"},
                     "rules": [{"apiGroups": [DASK], "resources": ["daskclusters"], "resourceNames": ["x"],
                                "verbs": ["get", "list", "patch"]},
                               {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["*"]},
                               {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]})
    emulator.create(role_binding("team", "narrow", "narrow", [user("carol")], kind="Role"))
    carol = emulator.identity("carol")
    base = f"/apis/{DASK}/v1/namespaces/team/daskclusters"
    assert call(emulator, carol, "GET", f"{base}/x")[0] == 200
    assert call(emulator, carol, "GET", f"{base}/y")[0] == 403           # resourceNames
    assert call(emulator, carol, "GET", base)[0] == 403                  # a plain list has no name
    assert call(emulator, carol, "DELETE", f"{base}/x")[0] == 403        # verb
    assert call(emulator, carol, "GET", f"{base}/x/status")[0] == 403    # subresource is its own resource
    assert call(emulator, carol, "PATCH", f"{base}/y/scale", {"spec": {"replicas": 2}},
                "application/merge-patch+json")[0] == 200                # */scale, any name
    assert call(emulator, carol, "GET", "/api/v1/namespaces/team/pods")[0] == 403
    # list with a metadata.name field selector is authorized as that name (kubectl wait, kopf do this)
    assert call(emulator, carol, "GET", f"{base}?fieldSelector=metadata.name%3Dx")[0] == 200


def test_service_accounts_bind_by_subject_and_group(emulator: Emulator) -> None:
    namespace(emulator, "team")
    controller = emulator.service_account("dask-kubeflow", "controller")
    emulator.create(role_binding("team", "sa", "view-cm", [{"kind": "ServiceAccount", "name": "controller",
                                                             "namespace": "dask-kubeflow"}]))
    emulator.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "view-cm"},
                     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})
    assert call(emulator, controller, "GET", "/api/v1/namespaces/team/configmaps")[0] == 200
    assert call(emulator, controller, "GET", "/api/v1/namespaces/default/configmaps")[0] == 403
    emulator.create({"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "all-sa"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view-cm"},
                     "subjects": [{"kind": "Group", "name": "system:serviceaccounts:dask-kubeflow"}]})
    assert call(emulator, controller, "GET", "/api/v1/namespaces/default/configmaps")[0] == 200


def test_missing_role_is_named_and_changes_apply_at_once(emulator: Emulator) -> None:
    namespace(emulator, "team")
    emulator.create(role_binding("team", "b", "nope", [user("dave")]))
    dave = emulator.identity("dave")
    status, body = call(emulator, dave, "GET", "/api/v1/namespaces/team/configmaps")
    assert status == 403
    assert body["message"].endswith('in the namespace "team": RBAC: clusterrole.rbac.authorization.k8s.io "nope" '
                                    "not found")
    emulator.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "nope"},
                     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})
    assert call(emulator, dave, "GET", "/api/v1/namespaces/team/configmaps")[0] == 200  # cache follows the store
    assert call(emulator, None, "DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings/b")[0] == 200
    assert call(emulator, dave, "GET", "/api/v1/namespaces/team/configmaps")[0] == 403


def test_subject_access_review_answers_from_rbac_then_the_rule_table(emulator: Emulator) -> None:
    namespace(emulator, "alice")
    emulator.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "dask-view"},
                     "rules": [{"apiGroups": [DASK], "resources": ["daskclusters"], "verbs": ["get", "list"]}]})
    emulator.create(role_binding("alice", "viewers", "dask-view", [user("alice@example.com")]))
    emulator.allow("bob@example.com", namespace="alice", verb="get", resource="services/proxy")

    def review(who: str, verb: str, resource: str, group: str = "", sub: str = "") -> dict[str, Any]:
        attrs = {"namespace": "alice", "verb": verb, "group": group, "resource": resource, "subresource": sub}
        status, body = call(emulator, None, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                             "spec": {"user": who, "groups": [], "resourceAttributes": attrs}})
        assert status == 201
        return body["status"]

    allowed = review("alice@example.com", "list", "daskclusters", DASK)
    assert allowed == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "viewers/alice" of ClusterRole '
                                                  '"dask-view" to User "alice@example.com"'}
    assert review("alice@example.com", "delete", "daskclusters", DASK)["allowed"] is False
    assert review("bob@example.com", "get", "services", sub="proxy")["allowed"] is True  # Emulator.allow still works


# ----------------------------------------------------------------------------------------- issue 11 item 7

def test_controller_write_power_ends_at_profile_namespaces(emulator: Emulator) -> None:
    """The shape issue 11 asks for: a ClusterRole bound per profile namespace by RoleBinding. The controller's
    ServiceAccount can write there and is refused everywhere else (kube-system included)."""
    namespace(emulator, "team-a", {"app.kubernetes.io/part-of": "kubeflow-profile"})
    emulator.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "dask-kubeflow-namespace"},
                     "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                                "verbs": ["get", "create", "patch", "delete"]}]})
    emulator.create(role_binding("team-a", "dask-kubeflow", "dask-kubeflow-namespace",
                                 [{"kind": "ServiceAccount", "name": "dask-kubeflow-controller",
                                   "namespace": "dask-kubeflow"}]))
    sa = emulator.service_account("dask-kubeflow", "dask-kubeflow-controller")
    api = kr8s.api(kubeconfig=str(sa.kubeconfig))
    from kr8s.objects import ConfigMap
    ConfigMap({"metadata": {"name": "status", "namespace": "team-a"}, "data": {"a": "1"}}, api=api).create()
    with pytest.raises(kr8s.ServerError) as refused:
        ConfigMap({"metadata": {"name": "status", "namespace": "kube-system"}, "data": {"a": "1"}}, api=api).create()
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["message"] == (
        'configmaps is forbidden: User "system:serviceaccount:dask-kubeflow:dask-kubeflow-controller" cannot create '
        'resource "configmaps" in API group "" in the namespace "kube-system"')
    assert emulator.get("configmaps", "status", "kube-system") is None


def test_kubectl_acts_as_an_identity(emulator: Emulator) -> None:
    namespace(emulator, "bob")
    alice = emulator.identity("alice@example.com")
    result = subprocess.run(["kubectl", "--kubeconfig", str(alice.kubeconfig), "get", "daskclusters", "-n", "bob"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert ('Error from server (Forbidden): daskclusters.kubernetes.dask.org is forbidden: User "alice@example.com" '
            'cannot list resource "daskclusters" in API group "kubernetes.dask.org" in the namespace "bob"'
            ) in result.stderr


# ----------------------------------------------------------------------------------------- the operator as its SA

HELM_TEMPLATES = Path(__import__("dask_kubernetes").__file__).parent / "operator" / "deployment" / "helm" / \
    "dask-kubernetes-operator" / "templates"


def operator_cluster_role(name: str) -> dict[str, Any]:
    """The upstream chart's ClusterRole (rbac.create and rbac.cluster on), its two template lines resolved."""
    text = (HELM_TEMPLATES / "clusterrole.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("{{-")]
    role = yaml.safe_load("\n".join(lines).replace('{{ include "dask_kubernetes_operator.serviceAccountName" . }}',
                                                   name))
    assert role["kind"] == "ClusterRole" and role["rules"]
    return role


@pytest.mark.timeout(300)
def test_upstream_operator_runs_as_its_service_account(emulator: Emulator, pod_runner: Any,
                                                       tmp_path: Path) -> None:
    from dask_kubernetes.operator import make_cluster_spec

    from tests.harness.operator import UpstreamOperator
    from tests.harness.stack import wait_for

    role = operator_cluster_role("dask-kubernetes-operator")
    emulator.create(role)
    emulator.create({"apiVersion": RBAC, "kind": "ClusterRoleBinding",
                     "metadata": {"name": "dask-kubernetes-operator-rolebinding-cluster"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": role["metadata"]["name"]},
                     "subjects": [{"kind": "ServiceAccount", "name": "dask-kubernetes-operator",
                                   "namespace": "dask-operator"}]})
    sa = emulator.service_account("dask-operator", "dask-kubernetes-operator")
    operator = UpstreamOperator(sa.kubeconfig, tmp_path / "operator.log", pod_runner.dns_environment()).start()
    try:
        namespace(emulator, "team")
        emulator.create({**make_cluster_spec("sa-made", n_workers=1), "metadata": {"name": "sa-made",
                                                                                    "namespace": "team"}})
        wait_for(lambda: (emulator.get("daskclusters", "sa-made", "team") or {}).get("status", {}).get("phase")
                 == "Running", timeout=180, what="DaskCluster team/sa-made Running (operator as its SA)")
        wait_for(lambda: pod_runner.processes("team", {"dask.org/component": "worker"}), timeout=180,
                 what="a worker process of the cluster the SA-run operator made")
        log = operator.log_tail(400)
        assert "Forbidden" not in log and " 403" not in log, log
        # Its power ends where the chart's role ends: no ConfigMaps, no Secrets.
        status, body = call(emulator, sa, "GET", "/api/v1/namespaces/team/secrets")
        assert status == 403 and "system:serviceaccount:dask-operator:dask-kubernetes-operator" in body["message"]
    finally:
        operator.stop()
