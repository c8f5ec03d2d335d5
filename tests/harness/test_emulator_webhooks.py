"""The emulator calls admission webhooks as an API server does (issue 12, part 3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.emulator import Emulator, Identity
from tests.harness.emulator.certs import CertificateAuthority
from tests.harness.emulator.webhook_server import HANG, WebhookServer, allow, deny

DASK = "kubernetes.dask.org"
SVC = "hook.webhooks"
PROFILE_LABEL = {"app.kubernetes.io/part-of": "kubeflow-profile"}


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority("webhook-test-ca")


@pytest.fixture(scope="module")
def server(ca: CertificateAuthority) -> Iterator[WebhookServer]:
    with WebhookServer(ca.issue([f"{SVC}.svc"], ips=["127.0.0.1"])) as srv:
        yield srv


@pytest.fixture
def hooks(emulator: Emulator, server: WebhookServer) -> WebhookServer:
    emulator.webhook_route(f"{SVC}:443", f"127.0.0.1:{server.port}")
    server.clear()
    for path in ("/mutate", "/mutate-2", "/validate", "/other"):
        server.on(path, lambda request: allow())
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": PROFILE_LABEL}})
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
    return server


def webhook(name: str, path: str, ca: CertificateAuthority, resources: tuple[str, ...] = ("daskclusters",),
            **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "timeoutSeconds": 5,
        "clientConfig": {"service": {"name": "hook", "namespace": "webhooks", "path": path, "port": 443},
                         "caBundle": ca.bundle},
        "rules": [{"operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": [DASK], "apiVersions": ["v1"],
                   "resources": list(resources), "scope": "Namespaced"}],
        "namespaceSelector": {"matchLabels": PROFILE_LABEL},
    }
    spec.update(extra)
    return spec


def configure(emulator: Emulator, kind: str, name: str, *hooks: dict[str, Any]) -> None:
    emulator.create({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                     "webhooks": list(hooks)})


def call(emulator: Emulator, method: str, path: str, body: Any = None, who: Identity | None = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if who is not None:
        headers["Authorization"] = f"Bearer {who.token}"
    resp = httpx.request(method, emulator.url + path, headers=headers,
                         content=None if body is None else json.dumps(body), timeout=60)
    return resp.status_code, resp.json()


def cluster(name: str, replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": f"{DASK}/v1", "kind": "DaskCluster", "metadata": {"name": name, "labels": {"app": "dask"}},
            "spec": {"worker": {"replicas": replicas, "spec": {"containers": [{"name": "w", "image": "x"}]}},
                     "scheduler": {"spec": {"containers": [{"name": "s", "image": "x"}]},
                                   "service": {"ports": [{"name": "comm", "port": 8786}]}}}}


def clusters(ns: str) -> str:
    return f"/apis/{DASK}/v1/namespaces/{ns}/daskclusters"


# ----------------------------------------------------------------------------------------- validating

def test_denial_carries_the_webhook_message_and_code(emulator: Emulator, hooks: WebhookServer,
                                                     ca: CertificateAuthority) -> None:
    configure(emulator, "ValidatingWebhookConfiguration", "tiers", webhook("tiers.dask.kubeflow.org", "/validate", ca))
    hooks.on("/validate", lambda r: deny("spec.worker.replicas: 50 is more than tier small allows (4)", code=403))
    alice = emulator.identity("alice@example.com", groups=["kubeflow-users"])
    status, body = call(emulator, "POST", clusters("team"), cluster("big", 50), who=None)
    assert status == 403
    assert body["message"] == ('admission webhook "tiers.dask.kubeflow.org" denied the request: '
                               "spec.worker.replicas: 50 is more than tier small allows (4)")
    assert emulator.get("daskclusters", "big", "team") is None
    hooks.on("/validate", lambda r: deny("no"))  # no status.code: the API server answers 400
    emulator.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": "alice-admin"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "all"},
                     "subjects": [{"kind": "User", "name": "alice@example.com"}]})
    emulator.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "all"},
                     "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
    status, body = call(emulator, "POST", clusters("team"), cluster("big", 50), who=alice)
    assert (status, body["message"]) == (400, 'admission webhook "tiers.dask.kubeflow.org" denied the request: no')
    request = hooks.reviews("/validate")[-1]
    assert request["operation"] == "CREATE" and request["namespace"] == "team" and request["name"] == "big"
    assert request["userInfo"] == {"username": "alice@example.com",
                                   "groups": ["kubeflow-users", "system:authenticated"]}
    assert request["kind"] == {"group": DASK, "version": "v1", "kind": "DaskCluster"}
    assert request["resource"] == {"group": DASK, "version": "v1", "resource": "daskclusters"}
    assert request["object"]["spec"]["worker"]["replicas"] == 50 and request["oldObject"] is None
    assert request["options"]["kind"] == "CreateOptions" and request["dryRun"] is False


def test_namespace_and_object_selectors(emulator: Emulator, hooks: WebhookServer, ca: CertificateAuthority) -> None:
    configure(emulator, "ValidatingWebhookConfiguration", "tiers",
              webhook("ns.example.com", "/validate", ca),
              webhook("obj.example.com", "/other", ca, namespaceSelector={},
                      objectSelector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["dask"]}]}))
    hooks.on("/validate", lambda r: deny("profile namespaces only"))
    assert call(emulator, "POST", clusters("plain"), cluster("a"))[0] == 201   # not a profile namespace
    assert not hooks.reviews("/validate")
    assert len(hooks.reviews("/other")) == 1                                    # labelled app=dask
    unlabelled = cluster("b")
    unlabelled["metadata"]["labels"] = {}
    assert call(emulator, "POST", clusters("plain"), unlabelled)[0] == 201
    assert len(hooks.reviews("/other")) == 1
    assert call(emulator, "POST", clusters("team"), cluster("c"))[0] == 400     # profile namespace: refused


def test_update_and_delete_send_the_old_object(emulator: Emulator, hooks: WebhookServer,
                                               ca: CertificateAuthority) -> None:
    emulator.create({**cluster("x"), "metadata": {"name": "x", "namespace": "team"}})
    configure(emulator, "ValidatingWebhookConfiguration", "tiers", webhook("v.example.com", "/validate", ca))
    status, _ = call(emulator, "PATCH", f"{clusters('team')}/x", {"spec": {"worker": {"replicas": 3}}},
                     content_type="application/merge-patch+json")
    assert status == 200
    update = hooks.reviews("/validate")[-1]
    assert update["operation"] == "UPDATE" and update["options"]["kind"] == "PatchOptions"
    assert (update["oldObject"]["spec"]["worker"]["replicas"], update["object"]["spec"]["worker"]["replicas"]) == (1, 3)
    hooks.on("/validate", lambda r: deny("the managed cluster cannot be deleted", code=403)
             if r["operation"] == "DELETE" else allow())
    status, body = call(emulator, "DELETE", f"{clusters('team')}/x")
    assert status == 403 and body["message"].endswith("denied the request: the managed cluster cannot be deleted")
    delete = hooks.reviews("/validate")[-1]
    assert delete["operation"] == "DELETE" and delete["object"] is None
    assert delete["oldObject"]["metadata"]["name"] == "x" and delete["options"]["kind"] == "DeleteOptions"
    assert emulator.get("daskclusters", "x", "team") is not None


def test_scale_subresource_only_when_listed(emulator: Emulator, hooks: WebhookServer,
                                            ca: CertificateAuthority) -> None:
    emulator.create({**cluster("x"), "metadata": {"name": "x", "namespace": "team"}})
    configure(emulator, "ValidatingWebhookConfiguration", "main-only", webhook("main.example.com", "/other", ca))
    hooks.on("/other", lambda r: deny("main resource only"))
    scale = {"spec": {"replicas": 5}}
    assert call(emulator, "PATCH", f"{clusters('team')}/x/scale", scale,
                content_type="application/merge-patch+json")[0] == 200   # "daskclusters" does not cover /scale
    configure(emulator, "ValidatingWebhookConfiguration", "scale",
              webhook("scale.example.com", "/validate", ca, resources=("daskclusters/scale",)))
    hooks.on("/validate", lambda r: deny(f"at most 2 workers, not {r['object']['spec']['replicas']}", code=403))
    status, body = call(emulator, "PATCH", f"{clusters('team')}/x/scale", {"spec": {"replicas": 9}},
                        content_type="application/merge-patch+json")
    assert status == 403 and body["message"].endswith("denied the request: at most 2 workers, not 9")
    request = hooks.reviews("/validate")[-1]
    assert request["subResource"] == "scale" and request["kind"] == {"group": "autoscaling", "version": "v1",
                                                                    "kind": "Scale"}
    assert request["oldObject"]["spec"]["replicas"] == 5
    assert emulator.get("daskclusters", "x", "team")["spec"]["worker"]["replicas"] == 5


# ----------------------------------------------------------------------------------------- mutating

def test_mutating_in_order_then_schema_then_validating(emulator: Emulator, hooks: WebhookServer,
                                                       ca: CertificateAuthority) -> None:
    configure(emulator, "MutatingWebhookConfiguration", "b-second", webhook("second.example.com", "/mutate-2", ca))
    configure(emulator, "MutatingWebhookConfiguration", "a-first", webhook("first.example.com", "/mutate", ca))
    configure(emulator, "ValidatingWebhookConfiguration", "check", webhook("check.example.com", "/validate", ca))
    hooks.on("/mutate", lambda r: allow([{"op": "add", "path": "/metadata/labels/tier", "value": "small"}]))
    hooks.on("/mutate-2", lambda r: allow([{"op": "replace", "path": "/spec/worker/replicas",
                                           "value": 2 if r["object"]["metadata"]["labels"].get("tier") else 99}],
                                          warnings=["replicas capped at 2"]))
    resp = httpx.post(emulator.url + clusters("team"), json=cluster("m", 50), timeout=60)
    assert resp.status_code == 201 and "replicas capped at 2" in resp.headers.get("Warning", "")
    stored = emulator.get("daskclusters", "m", "team")
    assert stored["metadata"]["labels"]["tier"] == "small" and stored["spec"]["worker"]["replicas"] == 2
    seen = hooks.reviews("/validate")[-1]["object"]
    assert seen["spec"]["worker"]["replicas"] == 2 and seen["metadata"]["uid"] == stored["metadata"]["uid"]
    # A patch that breaks the schema is refused by schema validation, after mutation.
    hooks.on("/mutate-2", lambda r: allow([{"op": "replace", "path": "/spec/worker/replicas", "value": "many"}]))
    status, body = call(emulator, "POST", clusters("team"), cluster("n"))
    assert status == 422 and "spec.worker.replicas" in body["message"]


# ----------------------------------------------------------------------------------------- failures

def test_failure_policy_and_timeout(emulator: Emulator, hooks: WebhookServer, ca: CertificateAuthority) -> None:
    configure(emulator, "ValidatingWebhookConfiguration", "strict",
              webhook("hung.example.com", "/validate", ca, timeoutSeconds=1))
    hooks.on("/validate", lambda r: HANG)
    status, body = call(emulator, "POST", clusters("team"), cluster("a"))
    assert status == 500 and body["reason"] == "InternalError"
    assert body["message"] == ('Internal error occurred: failed calling webhook "hung.example.com": failed to call '
                               f'webhook: Post "https://{SVC}.svc:443/validate?timeout=1s": context deadline exceeded')
    assert emulator.get("daskclusters", "a", "team") is None
    configure(emulator, "ValidatingWebhookConfiguration", "lenient",
              webhook("down.example.com", "/validate", ca, failurePolicy="Ignore",
                      clientConfig={"url": "https://127.0.0.1:9/validate", "caBundle": ca.bundle}))
    hooks.on("/validate", lambda r: allow())
    assert call(emulator, "POST", clusters("team"), cluster("b"))[0] == 201   # refused connection, Ignore: passes
    hooks.on("/validate", lambda r: 500)
    status, body = call(emulator, "POST", clusters("team"), cluster("c"))
    assert status == 500 and 'failed calling webhook "hung.example.com"' in body["message"]


def test_unrouted_service_and_wrong_ca_fail_closed(emulator: Emulator, hooks: WebhookServer,
                                                   ca: CertificateAuthority) -> None:
    other = CertificateAuthority("someone-else")
    configure(emulator, "ValidatingWebhookConfiguration", "wrong-ca",
              webhook("tls.example.com", "/validate", ca, clientConfig={
                  "service": {"name": "hook", "namespace": "webhooks", "path": "/validate"},
                  "caBundle": other.bundle}))
    status, body = call(emulator, "POST", clusters("team"), cluster("a"))
    assert status == 500 and "CERTIFICATE_VERIFY_FAILED" in body["message"]
    configure(emulator, "ValidatingWebhookConfiguration", "nowhere",
              webhook("nowhere.example.com", "/validate", ca, clientConfig={
                  "service": {"name": "missing", "namespace": "webhooks", "path": "/validate"},
                  "caBundle": ca.bundle}))
    status, body = call(emulator, "POST", clusters("team"), cluster("a"))
    assert status == 500 and 'Emulator.webhook_route("missing.webhooks:443"' in body["message"]


def test_ca_bundle_rotation_is_picked_up(emulator: Emulator, hooks: WebhookServer, ca: CertificateAuthority) -> None:
    configure(emulator, "ValidatingWebhookConfiguration", "rotating", webhook("rotate.example.com", "/validate", ca))
    assert call(emulator, "POST", clusters("team"), cluster("before"))[0] == 201
    rotated = CertificateAuthority("rotated-ca")
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/rotating"

    def bundle(value: str) -> None:
        config = emulator.get("validatingwebhookconfigurations", "rotating")
        config["webhooks"][0]["clientConfig"]["caBundle"] = value
        assert call(emulator, "PUT", path, config)[0] == 200

    try:
        hooks.use(rotated.issue([f"{SVC}.svc"]))
        status, body = call(emulator, "POST", clusters("team"), cluster("stale"))
        assert status == 500 and "CERTIFICATE_VERIFY_FAILED" in body["message"]   # old caBundle, new certificate
        hooks.use(ca.issue([f"{SVC}.svc"]))
        # Rollover without dropping requests: both CAs in the bundle, then the new certificate, then the new CA.
        import base64
        bundle(base64.b64encode(ca.pem + rotated.pem).decode())
        assert call(emulator, "POST", clusters("team"), cluster("old-cert"))[0] == 201
        hooks.use(rotated.issue([f"{SVC}.svc"]))
        assert call(emulator, "POST", clusters("team"), cluster("new-cert"))[0] == 201
        bundle(rotated.bundle)
        assert call(emulator, "POST", clusters("team"), cluster("new-ca"))[0] == 201
    finally:
        hooks.use(ca.issue([f"{SVC}.svc"], ips=["127.0.0.1"]))


# ----------------------------------------------------------------------------------------- dry run, matchPolicy

def test_dry_run_and_side_effects(emulator: Emulator, hooks: WebhookServer, ca: CertificateAuthority) -> None:
    configure(emulator, "ValidatingWebhookConfiguration", "pure", webhook("pure.example.com", "/validate", ca))
    assert call(emulator, "POST", clusters("team") + "?dryRun=All", cluster("d"))[0] == 201
    assert hooks.reviews("/validate")[-1]["dryRun"] is True and emulator.get("daskclusters", "d", "team") is None
    configure(emulator, "ValidatingWebhookConfiguration", "impure",
              webhook("impure.example.com", "/other", ca, sideEffects="Some"))
    status, body = call(emulator, "POST", clusters("team") + "?dryRun=All", cluster("d"))
    assert (status, body["message"]) == (400, 'admission webhook "impure.example.com" does not support dry run')


def test_match_policy_equivalent_converts_exact_skips(emulator: Emulator, hooks: WebhookServer,
                                                      ca: CertificateAuthority) -> None:
    rules = [{"operations": ["CREATE"], "apiGroups": ["kubeflow.org"], "apiVersions": ["v1beta1"],
              "resources": ["profiles"]}]
    configure(emulator, "ValidatingWebhookConfiguration", "profiles",
              webhook("equivalent.example.com", "/validate", ca, rules=rules, namespaceSelector={}),
              webhook("exact.example.com", "/other", ca, rules=rules, namespaceSelector={}, matchPolicy="Exact"))
    profile = {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": "alice"},
               "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}}
    assert call(emulator, "POST", "/apis/kubeflow.org/v1/profiles", profile)[0] == 201
    request = hooks.reviews("/validate")[-1]
    assert request["kind"]["version"] == "v1beta1" and request["requestKind"]["version"] == "v1"
    assert request["object"]["apiVersion"] == "kubeflow.org/v1beta1"
    assert not hooks.reviews("/other")


def test_no_webhook_configuration_costs_no_call(emulator: Emulator, hooks: WebhookServer) -> None:
    before = emulator.webhook_calls
    for i in range(5):
        assert call(emulator, "POST", clusters("team"), cluster(f"c{i}"))[0] == 201
    assert emulator.webhook_calls == before


# ----------------------------------------------------------------------------------------- kopf's webhook server

KOPF_OPERATOR = '''
import os
import kopf

@kopf.on.startup()
def configure(settings, **_):
    settings.admission.server = kopf.WebhookServer(
        addr="127.0.0.1", port=int(os.environ["HOOK_PORT"]), host="127.0.0.1",
        certfile=os.environ["HOOK_CERT"], pkeyfile=os.environ["HOOK_KEY"], cafile=os.environ["HOOK_CA"])
    settings.admission.managed = "kopf-test.example.com"

@kopf.on.validate("kubernetes.dask.org", "v1", "daskclusters", id="replicas")
def replicas(spec, **_):
    if spec.get("worker", {}).get("replicas", 0) > 4:
        raise kopf.AdmissionError("spec.worker.replicas: at most 4 workers", code=403)

@kopf.on.mutate("kubernetes.dask.org", "v1", "daskclusters", id="label")
def label(patch, **_):
    patch.metadata["labels"] = {"mutated-by": "kopf"}
'''


@pytest.mark.timeout(240)
def test_kopf_admission_server_end_to_end(emulator: Emulator, ca: CertificateAuthority, tmp_path: Any) -> None:
    """kopf manages its own webhook configurations (url + caBundle) and serves them; the emulator calls it."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from tests.harness.stack import wait_for

    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": PROFILE_LABEL}})
    cert_path, key_path = ca.issue(["localhost"], ips=["127.0.0.1"]).write(tmp_path / "tls")
    (tmp_path / "ca.crt").write_bytes(ca.pem)
    (tmp_path / "operator.py").write_text(KOPF_OPERATOR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KUBECONFIG": str(emulator.kubeconfig), "HOOK_PORT": str(port), "HOOK_CERT": str(cert_path),
           "HOOK_KEY": str(key_path), "HOOK_CA": str(tmp_path / "ca.crt")}
    log = (tmp_path / "kopf.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(tmp_path / "operator.py")],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: emulator.get("validatingwebhookconfigurations", "kopf-test.example.com")
                 and emulator.get("mutatingwebhookconfigurations", "kopf-test.example.com"),
                 timeout=120, what="kopf's managed webhook configurations")
        deadline = time.monotonic() + 120
        while True:  # the configuration may be written before kopf's server listens
            status, body = call(emulator, "POST", clusters("team"), cluster("big", 10))
            if status != 500 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == 403, (body, (tmp_path / "kopf.log").read_text()[-3000:])
        assert "denied the request: spec.worker.replicas: at most 4 workers" in body["message"]
        status, body = call(emulator, "POST", clusters("team"), cluster("small", 2))
        assert status == 201 and body["metadata"]["labels"]["mutated-by"] == "kopf"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()


# ----------------------------------------------------------------------------------------- the write path

def test_dependent_written_after_its_owner_is_gone_is_collected(emulator: Emulator) -> None:
    """The garbage collector deletes an object whose owners are all absent (the upstream operator can create a
    worker Deployment just after its DaskWorkerGroup was deleted)."""
    from tests.harness.stack import wait_for

    owner = emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner",
                                                                                   "namespace": "default"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    assert call(emulator, "DELETE", "/api/v1/namespaces/default/configmaps/owner")[0] == 200
    status, _ = call(emulator, "POST", "/api/v1/namespaces/default/configmaps",
                     {"metadata": {"name": "late", "ownerReferences": [ref]}})
    assert status == 201
    wait_for(lambda: emulator.get("configmaps", "late", "default") is None, timeout=30,
             what="the ownerless dependent to be collected")
    kept = {"metadata": {"name": "kept", "ownerReferences": [
        ref, {**ref, "name": "alive", "uid": emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "alive", "namespace": "default"}})["metadata"]["uid"]}]}}
    assert call(emulator, "POST", "/api/v1/namespaces/default/configmaps", kept)[0] == 201
    assert emulator.get("configmaps", "kept", "default") is not None  # one live owner is enough
