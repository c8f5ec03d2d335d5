"""Issue 11 item 7 — the controller could write anywhere (kube-system included).

deploy/base/controller/rbac.yaml grants the controller's writes cluster-wide (profile namespaces
come and go, and RBAC cannot select namespaces by label) and adds a ValidatingAdmissionPolicy that
refuses the controller ServiceAccount's writes outside namespaces labelled
``app.kubernetes.io/part-of: kubeflow-profile``. Here the objects of the kubeflow overlay are loaded
into the emulator, which authorizes with RBAC; the controller's own apply code (``kube.api``) runs
with the ServiceAccount's token. Got through: a write outside profile namespaces succeeded.

The emulator has RBAC and admission webhooks but neither ValidatingAdmissionPolicy nor CEL, so
``VapBridge`` evaluates the policy as the API server would: its ``matchConstraints`` become the
rules and namespaceSelector of a ValidatingWebhookConfiguration (the emulator matches those as the
API server does), and the webhook evaluates ``matchConditions`` and ``validations`` with ``Cel``,
an evaluator of the CEL subset the policy uses (string literals, ``request.*`` fields, ``==``, ``!=``,
``&&``, ``||``, ``!``, parentheses, ``startsWith``/``endsWith``); anything else is refused loudly, so
the policy cannot grow past what this test checks. Denials answer 403 with the API server's wording.
Before this change: every write to kube-system succeeded.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubeflow.kube.api import get_api, server_side_apply
from dask_kubeflow.kube.errors import KubeError
from dask_kubeflow.kube.sync import run
from tests.harness.emulator import Emulator
from tests.harness.emulator.certs import CertificateAuthority
from tests.harness.emulator.webhook_server import WebhookServer, allow, deny

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"
OVERLAY = REPO / "deploy" / "overlays" / "kubeflow"
PROFILE_LABEL = {"app.kubernetes.io/part-of": "kubeflow-profile"}
BRIDGE = "vap-bridge.webhooks"


# ----------------------------------------------------------------------------- the CEL subset

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>==|!=|&&|\|\||[!().,])|'
                    r'(?P<name>[A-Za-z_][A-Za-z0-9_]*))')


class Cel:
    """Parse once, evaluate against an activation (``{"request": ...}``). Raises ValueError on anything else."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise ValueError(f"CEL outside the supported subset at {text[pos:]!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.text = text

    def evaluate(self, activation: dict[str, Any]) -> Any:
        self.pos, self.activation = 0, activation
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r} in {self.text!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, got {token[1]!r} in {self.text!r}")
        self.pos += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = bool(value) or bool(right)
        return value

    def _and(self) -> Any:
        value = self._unary()
        while self._peek() == "&&":
            self._take()
            right = self._unary()
            value = bool(value) and bool(right)
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not self._unary()
        left = self._primary()
        if self._peek() in ("==", "!="):
            op = self._take()[1]
            right = self._primary()
            return (left == right) if op == "==" else (left != right)
        return left

    def _primary(self) -> Any:
        kind, value = self._take()
        if kind == "str":
            return bytes(value[1:-1], "utf-8").decode("unicode_escape")
        if value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind != "name":
            raise ValueError(f"unexpected {value!r} in {self.text!r}")
        if value in ("true", "false"):
            return value == "true"
        current: Any = self.activation[value]
        while self._peek() == ".":
            self._take()
            name = self._take()[1]
            if self._peek() == "(":
                self._take("(")
                argument = self._primary()
                self._take(")")
                methods = {"startsWith": str.startswith, "endsWith": str.endswith}
                if name not in methods:
                    raise ValueError(f"method {name} is outside the supported subset")
                current = methods[name](current, argument)
            else:
                current = (current or {}).get(name)
        return current


def test_the_cel_subset() -> None:
    request = {"userInfo": {"username": "system:serviceaccount:kf:dask-kubeflow-controller"}, "namespace": "a"}
    assert Cel('request.userInfo.username.startsWith("system:serviceaccount:") && '
               'request.userInfo.username.endsWith(":dask-kubeflow-controller")').evaluate({"request": request})
    assert not Cel('request.namespace == "b" || !(request.namespace != "b")').evaluate({"request": request})
    with pytest.raises(ValueError):
        Cel("request.object.spec.replicas > 3").evaluate({"request": request})


# ----------------------------------------------------------------------------- the bridge


def overlay_objects() -> list[dict[str, Any]]:
    result = subprocess.run([str(KUBECTL), "kustomize", str(OVERLAY)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


class VapBridge:
    """One ValidatingAdmissionPolicy (+ binding) enforced through a webhook the emulator calls."""

    def __init__(self, policy: dict[str, Any], binding: dict[str, Any]) -> None:
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
        assert binding["spec"]["validationActions"] == ["Deny"] and "paramRef" not in binding["spec"]
        self.policy, self.binding = policy, binding
        spec = policy["spec"]
        self.conditions = [Cel(c["expression"]) for c in spec.get("matchConditions") or ()]
        self.validations = [(Cel(v["expression"]), v.get("message", ""), v.get("reason", "Invalid"))
                            for v in spec["validations"]]

    def webhook_configuration(self, ca: CertificateAuthority) -> dict[str, Any]:
        constraints = self.policy["spec"]["matchConstraints"]
        rules = [{**rule, "scope": "Namespaced"} for rule in constraints["resourceRules"]]
        return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "vap-" + self.policy["metadata"]["name"]},
                "webhooks": [{
                    "name": "vap.bridge.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": self.policy["spec"].get("failurePolicy", "Fail"), "rules": rules,
                    "namespaceSelector": constraints.get("namespaceSelector", {}), "timeoutSeconds": 10,
                    "clientConfig": {"service": {"name": "vap-bridge", "namespace": "webhooks", "path": "/vap",
                                                 "port": 443}, "caBundle": ca.bundle}}]}

    def review(self, request: dict[str, Any]) -> dict[str, Any]:
        activation = {"request": request, "object": request.get("object"), "oldObject": request.get("oldObject")}
        if not all(c.evaluate(activation) for c in self.conditions):
            return allow()
        for cel, message, reason in self.validations:
            if not cel.evaluate(activation):
                resource, name = request["resource"]["resource"], request.get("name") or ""
                return deny(f'{resource} "{name}" is forbidden: ValidatingAdmissionPolicy '
                            f"'{self.policy['metadata']['name']}' with binding '{self.binding['metadata']['name']}' "
                            f"denied request: {message}", code=403, reason=reason)
        return allow()


@pytest.fixture
def installed(emulator: Emulator, certificate_authority: CertificateAuthority) -> Iterator[dict[str, Any]]:
    """The kubeflow overlay's RBAC and write-scope policy in the emulator; the controller's identity."""
    objects = overlay_objects()
    kinds = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    install_ns = next(o for o in objects if o["kind"] == "Deployment"
                      and o["metadata"]["name"] == "dask-kubeflow-controller")["metadata"]["namespace"]
    for ns, labels in (("kubeflow", {}), ("alice", PROFILE_LABEL), ("bob", PROFILE_LABEL), ("other-app", {})):
        if emulator.get("namespaces", ns) is None:
            emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
    for obj in objects:
        if obj["kind"] in kinds:
            emulator.create(obj)
    policies = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    bindings = {o["spec"]["policyName"]: o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"}
    with WebhookServer(certificate_authority.issue([f"{BRIDGE}.svc"], ips=["127.0.0.1"])) as server:
        emulator.webhook_route(f"{BRIDGE}:443", f"127.0.0.1:{server.port}")
        for policy in policies:  # none before issue 11: then only RBAC decides
            bridge = VapBridge(policy, bindings[policy["metadata"]["name"]])
            server.on("/vap", bridge.review)
            emulator.create(bridge.webhook_configuration(certificate_authority))
        identity = emulator.service_account(install_ns, "dask-kubeflow-controller")
        yield {"kubeconfig": str(identity.kubeconfig), "install_ns": install_ns, "server": server}


def configmap(namespace: str, name: str = "dask-kubeflow-status") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": {"x": "1"}}


def netpol(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "dask-cluster-ingress", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}


def poddefault(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1alpha1", "kind": "PodDefault",
            "metadata": {"name": "access-dask-cluster", "namespace": namespace},
            "spec": {"desc": "x", "selector": {"matchLabels": {"access-dask-cluster": "true"}}}}


def autoscaler(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler",
            "metadata": {"name": "dask-cluster", "namespace": namespace},
            "spec": {"cluster": "dask-cluster", "minimum": 0, "maximum": 1}}


def apply_as(kubeconfig: str, obj: dict[str, Any]) -> str | None:
    """The controller's own apply path; None when applied, else the refusal."""
    async def go() -> None:
        await server_side_apply(await get_api(kubeconfig), obj)
    try:
        run(go(), timeout=60)
        return None
    except KubeError as err:
        return str(err)


def as_controller(installed: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    """A raw request with the controller's token (for what kube.api does not apply, e.g. a merge patch)."""
    import json

    import httpx

    config = yaml.safe_load(Path(installed["kubeconfig"]).read_text())
    token, server = config["users"][0]["user"]["token"], config["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"}
    return httpx.request(method, server + path, headers=headers, timeout=60,
                         content=None if body is None else json.dumps(body))


def test_controller_writes_outside_profile_namespaces_are_refused(emulator: Emulator, installed: dict[str, Any],
                                                                  attack) -> None:
    kubeconfig = installed["kubeconfig"]
    makers = {"ConfigMap": configmap, "NetworkPolicy": netpol, "PodDefault": poddefault, "DaskAutoscaler": autoscaler}
    for kind, make in makers.items():  # control: the profile namespaces work as before
        assert apply_as(kubeconfig, make("alice")) is None, kind
    refusals = []
    for namespace in ("kube-system", "default", installed["install_ns"], "other-app", "kube-public"):
        for kind, make in makers.items():
            refused = apply_as(kubeconfig, make(namespace))
            attack.attempt(f"apply {kind} in {namespace}", refused is None)
            refusals.append(refused or "")
    attack.attempt("apply ConfigMap kube-system/coredns", apply_as(kubeconfig, configmap("kube-system", "coredns")) is None)
    attack.attempt("apply ConfigMap kubeflow/other", apply_as(kubeconfig, configmap("kubeflow", "ml-pipeline-config")) is None)
    # Hibernation may patch Deployments' replicas: never kube-system's DNS.
    emulator.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system"},
                     "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                              "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                                           "spec": {"containers": [{"name": "coredns", "image": "coredns"}]}}}})
    as_controller(installed, "PATCH", "/apis/apps/v1/namespaces/kube-system/deployments/coredns", {"spec": {"replicas": 0}})
    attack.attempt("scale kube-system/coredns to 0", emulator.get("deployments", "coredns", "kube-system")["spec"]["replicas"] == 0)
    attack.assert_none_got_through()
    assert all("forbidden" in r and "profile namespaces" in r for r in refusals), refusals[:2]


def test_controller_deletes_outside_profile_namespaces_are_refused(emulator: Emulator, installed: dict[str, Any],
                                                                   attack) -> None:
    import httpx

    token = yaml.safe_load(Path(installed["kubeconfig"]).read_text())["users"][0]["user"]["token"]
    for ns in ("kube-system", "alice"):
        emulator.create(configmap(ns, "victim"))
    headers = {"Authorization": f"Bearer {token}"}
    own = httpx.delete(f"{emulator.url}/api/v1/namespaces/alice/configmaps/victim", headers=headers, timeout=60)
    assert own.status_code == 200, own.text
    for path in ("/api/v1/namespaces/kube-system/configmaps/victim",
                 "/api/v1/namespaces/kube-system/configmaps"):
        response = httpx.delete(emulator.url + path, headers=headers, timeout=60)
        attack.attempt(f"DELETE {path}", response.status_code < 300)
    attack.assert_none_got_through()
    assert emulator.get("configmaps", "victim", "kube-system") is not None


def test_the_dashboard_link_configmap_stays_writable(emulator: Emulator, installed: dict[str, Any]) -> None:
    """The one write outside profile namespaces the controller needs (RBAC: get/patch by name)."""
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "centraldashboard-config", "namespace": "kubeflow"},
                     "data": {"links": "{}"}})
    assert apply_as(installed["kubeconfig"], configmap("kubeflow", "centraldashboard-config")) is None


@pytest.mark.timeout(300)
def test_the_controller_as_its_service_account_serves_profiles_and_cannot_write_kube_system(
    emulator: Emulator, installed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attack
) -> None:
    """The real controller process, authenticated as its ServiceAccount under the overlay's RBAC and the
    write-scope policy: a profile namespace gets its cluster; a Profile named after kube-system (a
    Profile's name is its namespace) makes it try to write there, and every write is refused."""
    import kr8s

    from tests.controller.conftest import controller_starter, converged, make_profile, wait_for

    install_ns = installed["install_ns"]
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "dask-kubeflow-policy", "namespace": install_ns},
                     "data": {"policy.yaml": "defaults: {scaling: {maximum: 2}}\n"}})
    admin = kr8s.api(kubeconfig=str(emulator.kubeconfig))
    make_profile(admin, "carol")
    monkeypatch.setenv("DASK_KUBEFLOW_INSTALL_NAMESPACE", install_ns)
    starter = controller_starter(Path(installed["kubeconfig"]), tmp_path)
    start = next(starter)
    try:
        controller = start("--policy-configmap", f"{install_ns}/dask-kubeflow-policy")
        wait_for(lambda: converged(emulator, "carol"), "carol's cluster, applied by the ServiceAccount",
                 controller=controller)
        from tests.controller.conftest import Profile
        Profile({"metadata": {"name": "kube-system"}, "spec": {"owner": {"kind": "User", "name": "m@example.com"}}},
                api=admin).create()
        wait_for(lambda: "kube-system" in controller.logs() and "forbidden" in controller.logs(),
                 "the controller's refused writes to kube-system", controller=controller)
        for plural in ("daskclusters", "daskautoscalers", "poddefaults", "networkpolicies", "configmaps"):
            ours = [o for o in emulator.objects(plural, "kube-system")
                    if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "dask-kubeflow"
                    or o["metadata"]["name"] == "dask-kubeflow-status"]
            attack.attempt(f"controller wrote {plural} in kube-system", bool(ours))
        attack.assert_none_got_through()
    finally:
        next(starter, None)  # the starter's teardown: stops every controller it started
