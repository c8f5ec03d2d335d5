"""The Kubernetes API emulator, exercised through unmodified clients: kubectl, kr8s and raw kr8s calls."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kr8s
import kr8s.asyncio
import pytest
from kr8s.objects import ConfigMap, Deployment, Namespace, Pod, ReplicaSet, new_class

from tests.harness.emulator import Emulator

KUBECTL = str(Path(".venv/bin/kubectl").resolve())
DaskCluster = new_class("DaskCluster", "kubernetes.dask.org/v1", namespaced=True, scalable=True,
                        scalable_spec="worker.replicas")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], input=stdin, text=True,
                            capture_output=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def api(emulator: Emulator) -> kr8s.Api:
    return kr8s.api(kubeconfig=str(emulator.kubeconfig))


@pytest.fixture
def ns(api: kr8s.Api) -> str:
    Namespace({"metadata": {"name": "team-a"}}, api=api).create()
    return "team-a"


@pytest.fixture
async def aapi(emulator: Emulator) -> Any:
    """An async kr8s Api (cached per event loop by kr8s) for raw calls: status codes, content types."""
    api = await kr8s.asyncio.api(kubeconfig=str(emulator.kubeconfig))
    yield api
    if api._session is not None:
        await api._session.aclose()


def cluster_spec(name: str = "demo") -> dict[str, Any]:
    from dask_kubernetes.operator import make_cluster_spec

    return make_cluster_spec(name=name, n_workers=1)


# ----------------------------------------------------------------------------------------- kubectl

def test_kubectl_get_apply_delete(kubeconfig: Path, emulator: Emulator) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "default", "labels": {"tier": "a"}},
                "data": {"k": "1"}}
    assert "created" in kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest)).stdout
    manifest["data"] = {"k": "2"}
    assert "configured" in kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest)).stdout
    got = json.loads(kubectl(kubeconfig, "get", "configmap", "settings", "-o", "json").stdout)
    assert got["data"] == {"k": "2"}
    assert "settings" in kubectl(kubeconfig, "get", "cm", "-l", "tier=a").stdout
    assert "settings" not in kubectl(kubeconfig, "get", "cm", "-l", "tier=b", "-o", "name").stdout
    kubectl(kubeconfig, "delete", "configmap", "settings")
    assert emulator.get("configmaps", "settings", "default") is None
    missing = kubectl(kubeconfig, "get", "configmap", "settings", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_kubectl_applies_daskcluster_and_rejects_invalid_one(kubeconfig: Path, emulator: Emulator) -> None:
    spec = cluster_spec("kc")
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(spec))
    assert emulator.get("daskclusters", "kc", "default") is not None
    header, row = kubectl(kubeconfig, "get", "daskclusters").stdout.splitlines()
    assert header.split() == ["NAME", "WORKERS", "STATUS", "AGE"] and row.split()[:2] == ["kc", "1"]
    spec["spec"]["worker"]["replicas"] = "many"
    spec["metadata"]["name"] = "bad"
    result = kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(spec), check=False)
    assert result.returncode != 0
    assert "spec.worker.replicas" in result.stderr and "must be of type integer" in result.stderr


def test_kubectl_server_side_apply(kubeconfig: Path, emulator: Emulator) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": "default"},
                "data": {"a": "1", "b": "2"}}
    kubectl(kubeconfig, "apply", "--server-side", "--field-manager=tool", "-f", "-", stdin=json.dumps(manifest))
    del manifest["data"]["b"]
    kubectl(kubeconfig, "apply", "--server-side", "--field-manager=tool", "-f", "-", stdin=json.dumps(manifest))
    stored = emulator.get("configmaps", "ssa", "default")
    assert stored is not None and stored["data"] == {"a": "1"}  # a field the manager stopped applying is removed
    assert [f["manager"] for f in stored["metadata"]["managedFields"]] == ["tool"]


# ----------------------------------------------------------------------------------------- kr8s CRUD

def test_create_fills_server_metadata_and_get_list(api: kr8s.Api, ns: str) -> None:
    cm = ConfigMap({"metadata": {"generateName": "cfg-", "namespace": ns}, "data": {"a": "b"}}, api=api)
    cm.create()
    meta = cm.raw["metadata"]
    assert meta["name"].startswith("cfg-") and len(meta["name"]) == len("cfg-") + 5
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert ConfigMap.get(meta["name"], namespace=ns, api=api).raw["metadata"]["uid"] == meta["uid"]
    assert [c.name for c in api.get("configmaps", namespace=ns)] == [meta["name"]]

    dep = Deployment({"metadata": {"name": "web", "namespace": ns}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        api=api)
    dep.create()
    assert dep.raw["metadata"]["generation"] == 1 and dep.raw["spec"]["replicas"] == 1
    dep.patch({"metadata": {"labels": {"x": "y"}}})
    assert dep.raw["metadata"]["generation"] == 1  # metadata changes do not bump generation
    dep.patch({"spec": {"replicas": 3}})
    assert dep.raw["metadata"]["generation"] == 2


def test_namespaced_create_needs_the_namespace(api: kr8s.Api) -> None:
    with pytest.raises(kr8s.ServerError, match='namespaces "nowhere" not found') as err:
        ConfigMap({"metadata": {"name": "x", "namespace": "nowhere"}}, api=api).create()
    assert err.value.response.status_code == 404


def test_invalid_name_is_422_naming_metadata_name(api: kr8s.Api) -> None:
    with pytest.raises(kr8s.ServerError) as err:
        ConfigMap({"metadata": {"name": "Not_Valid", "namespace": "default"}}, api=api).create()
    assert err.value.response.status_code == 422
    assert "metadata.name" in str(err.value)


async def test_status_codes_conflicts_and_patch_types(aapi: Any, emulator: Emulator) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw"}, "data": {"a": "1"}}
    async with aapi.call_api("POST", url="configmaps", namespace="default", json=body) as resp:
        assert resp.status_code == 201
        created = resp.json()
    async with aapi.call_api("POST", url="configmaps", namespace="default", json=body,
                             raise_for_status=False) as resp:
        assert resp.status_code == 409 and resp.json()["reason"] == "AlreadyExists"

    # PUT with the current resourceVersion succeeds; with a stale one it is a 409 Conflict.
    created["data"] = {"a": "2"}
    async with aapi.call_api("PUT", url="configmaps/raw", namespace="default", json=created) as resp:
        updated = resp.json()
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    async with aapi.call_api("PUT", url="configmaps/raw", namespace="default", json=created,
                             raise_for_status=False) as resp:
        assert resp.status_code == 409 and resp.json()["reason"] == "Conflict"

    # JSON patch whose test fails is 422; merge patch with null deletes a key.
    ops = [{"op": "test", "path": "/data/a", "value": "nope"}, {"op": "replace", "path": "/data/a", "value": "3"}]
    async with aapi.call_api("PATCH", url="configmaps/raw", namespace="default", content=json.dumps(ops),
                             headers={"Content-Type": "application/json-patch+json"}, raise_for_status=False) as resp:
        assert resp.status_code == 422
    async with aapi.call_api("PATCH", url="configmaps/raw", namespace="default",
                             content=json.dumps({"data": {"a": None, "b": "x"}}),
                             headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.json()["data"] == {"b": "x"}

    # A write that changes nothing keeps the resourceVersion and is not counted as a change.
    before = emulator.change_count("configmaps", "default", "raw")
    async with aapi.call_api("PATCH", url="configmaps/raw", namespace="default",
                             content=json.dumps({"data": {"b": "x"}}),
                             headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status_code == 200
    assert emulator.change_count("configmaps", "default", "raw") == before
    assert emulator.write_count("configmaps", "default", "raw") == 7
    assert emulator.request_count("create", "configmaps") == 2


async def test_dry_run_validates_without_storing(aapi: Any, emulator: Emulator) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}}
    async with aapi.call_api("POST", url="configmaps", namespace="default", json=body,
                             params={"dryRun": "All"}) as resp:
        assert resp.status_code == 201 and resp.json()["metadata"]["uid"]
    assert emulator.get("configmaps", "dry", "default") is None


def test_finished_requests_are_not_kept(tmp_path: Path) -> None:
    """kmock keeps every request for assertions; the emulator drops them once answered (else it slows down)."""
    with Emulator(crds=[], kubeconfig=tmp_path / "kubeconfig") as emu:
        api = kr8s.api(kubeconfig=str(emu.kubeconfig))
        for i in range(20):
            ConfigMap({"metadata": {"name": f"c{i}", "namespace": "default"}}, api=api).create()
        assert emu.request_count("create", "configmaps") == 20
        assert emu.handler is not None and list(emu.handler._requests) == []


async def test_unserved_subresources_fall_through_to_kmock_reactions(aapi: Any, emulator: Emulator) -> None:
    import kmock

    emulator.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    async with aapi.call_api("GET", url="pods/p/log", namespace="default", raise_for_status=False) as resp:
        assert resp.status_code == 404
    assert emulator.handler is not None
    emulator.handler["get", kmock.subresource("log")] << b"scheduler started\n"
    async with aapi.call_api("GET", url="pods/p/log", namespace="default") as resp:
        assert resp.text == "scheduler started\n"
    emulator.reset()  # drops reactions tests added
    emulator.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    async with aapi.call_api("GET", url="pods/p/log", namespace="default", raise_for_status=False) as resp:
        assert resp.status_code == 404


async def test_async_context_manager_serves_without_blocking_the_test_loop(tmp_path: Path) -> None:
    async with Emulator(crds=[], kubeconfig=tmp_path / "kubeconfig") as emu:
        api = await kr8s.asyncio.api(kubeconfig=str(emu.kubeconfig))
        namespaces = [ns.name async for ns in api.async_get("namespaces")]
        assert "default" in namespaces
        await api._session.aclose()


async def test_strategic_merge_patch_merges_containers_by_name(aapi: Any, emulator: Emulator) -> None:
    emulator.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "smp", "namespace": "default"},
                     "spec": {"selector": {"matchLabels": {"app": "smp"}}, "template": {
                         "metadata": {"labels": {"app": "smp"}}, "spec": {"containers": [
                             {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}
    async with aapi.call_api("PATCH", version="apps/v1", base="/apis", url="deployments/smp", namespace="default",
                             content=json.dumps(patch),
                             headers={"Content-Type": "application/strategic-merge-patch+json"}) as resp:
        containers = resp.json()["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("a", "a:1"), ("b", "b:2")]


def test_status_subresource_is_isolated(api: kr8s.Api, ns: str) -> None:
    pod = Pod({"metadata": {"name": "p", "namespace": ns}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
              api=api)
    pod.create()
    assert pod.raw["status"]["phase"] == "Pending"
    pod.patch({"status": {"phase": "Running"}, "metadata": {"labels": {"a": "b"}}})
    assert pod.raw["status"]["phase"] == "Pending" and pod.raw["metadata"]["labels"] == {"a": "b"}
    pod.patch({"status": {"phase": "Running"}, "spec": {"nodeName": "elsewhere"}}, subresource="status")
    assert pod.raw["status"]["phase"] == "Running" and "nodeName" not in pod.raw["spec"]


def test_scale_subresource_of_daskcluster(api: kr8s.Api) -> None:
    cluster = DaskCluster(cluster_spec("sc"), namespace="default", api=api)
    cluster.create()
    cluster.scale(4)
    cluster.refresh()
    assert cluster.raw["spec"]["worker"]["replicas"] == 4


# ----------------------------------------------------------------------------------------- schema

def test_schema_invalid_daskcluster_is_422_naming_the_field(api: kr8s.Api, emulator: Emulator) -> None:
    spec = cluster_spec("bad")
    spec["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(kr8s.ServerError) as err:
        DaskCluster(spec, namespace="default", api=api).create()
    assert err.value.response.status_code == 422
    causes = err.value.response.json()["details"]["causes"]
    assert causes == [{"reason": "FieldValueTypeInvalid", "field": "spec.worker.replicas",
                       "message": 'Invalid value: "string": spec.worker.replicas in body must be of type '
                                  'integer: "string"'}]
    del spec["spec"]["scheduler"]
    spec["spec"]["worker"]["replicas"] = 1
    with pytest.raises(kr8s.ServerError, match=r"spec\.scheduler: Required value"):
        DaskCluster(spec, namespace="default", api=api).create()
    assert emulator.objects("daskclusters") == []


def test_schema_is_enforced_on_patch_and_defaults_and_prunes(api: kr8s.Api) -> None:
    spec = cluster_spec("ok")
    spec["spec"]["worker"]["unknownField"] = 1
    cluster = DaskCluster(spec, namespace="default", api=api)
    cluster.create()
    assert "unknownField" not in cluster.raw["spec"]["worker"]  # pruned, as a structural schema does
    port = cluster.raw["spec"]["scheduler"]["spec"]["containers"][0]["ports"][0]
    assert port["protocol"] == "TCP"  # CRD default applied
    with pytest.raises(kr8s.ServerError, match=r"spec\.worker\.replicas"):
        cluster.patch({"spec": {"worker": {"replicas": -1.5}}})


def test_kubeflow_profile_crd_is_served_cluster_scoped(api: kr8s.Api) -> None:
    Profile = new_class("Profile", "kubeflow.org/v1", namespaced=False)
    profile = Profile({"metadata": {"name": "alice"}, "spec": {"owner": {"kind": "User", "name": "alice@x.org"}}},
                      api=api)
    profile.create()
    assert Profile.get("alice", api=api).raw["spec"]["owner"]["name"] == "alice@x.org"


def test_crd_applied_through_the_api_is_served_and_validated(kubeconfig: Path, api: kr8s.Api) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
                                                                  "properties": {"size": {"type": "integer"}}}}}}}]}}
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(crd))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"},
              "spec": {"size": 3}}
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(widget))
    assert json.loads(kubectl(kubeconfig, "get", "widgets", "w", "-o", "json").stdout)["spec"] == {"size": 3}
    widget["spec"] = {}
    refused = kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(widget), check=False)
    assert refused.returncode != 0 and "spec.size: Required value" in refused.stderr
    kubectl(kubeconfig, "delete", "crd", "widgets.example.com")
    assert kubectl(kubeconfig, "get", "widgets", check=False).returncode != 0


# ----------------------------------------------------------------------------------------- selectors & watch

def test_label_and_field_selectors_on_list(api: kr8s.Api, ns: str) -> None:
    for name, labels in (("a", {"app": "x", "tier": "1"}), ("b", {"app": "x"}), ("c", {"app": "y"})):
        ConfigMap({"metadata": {"name": name, "namespace": ns, "labels": labels}}, api=api).create()
    names = lambda **kw: sorted(o.name for o in api.get("configmaps", namespace=ns, **kw))  # noqa: E731
    assert names(label_selector="app=x") == ["a", "b"]
    assert names(label_selector="app in (x,y),!tier") == ["b", "c"]
    assert names(label_selector="app!=x") == ["c"]
    assert names(field_selector="metadata.name!=a") == ["b", "c"]
    assert names(label_selector="app=x", field_selector="metadata.name=b") == ["b"]
    with pytest.raises(kr8s.ServerError, match="unable to parse requirement") as err:
        names(label_selector="app in (x")
    assert err.value.response.status_code == 400


async def test_watch_with_selector_and_timeout(aapi: Any, emulator: Emulator) -> None:
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "w", "namespace": "default", "labels": {"watched": "yes"}}})
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "default"}})
    events = []
    async with aapi.call_api("GET", url="configmaps", namespace="default", stream=True,
                             params={"watch": "true", "labelSelector": "watched=yes", "timeoutSeconds": "1"}) as resp:
        async for line in resp.aiter_lines():
            event = json.loads(line)
            events.append((event["type"], event["object"]["metadata"]["name"]))
    assert events == [("ADDED", "w")]  # the stream then ended by itself after timeoutSeconds


async def test_watch_from_a_compacted_resource_version_gets_410(aapi: Any, emulator: Emulator) -> None:
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "default"}})
    emulator.reset()  # empties the event log, like an etcd compaction
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "default"}})
    async with aapi.call_api("GET", url="configmaps", namespace="default", stream=True,
                             params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": "5"}) as resp:
        lines = [json.loads(line) async for line in resp.aiter_lines()]
    assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in lines] == [("ERROR", 410, "Expired")]


def test_watch_sees_changes_and_selector_transitions(api: kr8s.Api, emulator: Emulator) -> None:
    cm = ConfigMap({"metadata": {"name": "t", "namespace": "default", "labels": {"on": "1"}}}, api=api)
    cm.create()
    since = cm.raw["metadata"]["resourceVersion"]
    cm.patch({"data": {"x": "1"}})
    cm.patch({"metadata": {"labels": {"on": "0"}}})
    cm.patch({"metadata": {"labels": {"on": "1"}}})
    cm.delete()
    seen = []
    for etype, obj in api.watch("configmaps", namespace="default", label_selector="on=1", since=since):
        seen.append(etype)
        if etype == "DELETED" and len(seen) == 4:
            break
    assert seen == ["MODIFIED", "DELETED", "ADDED", "DELETED"]


# ----------------------------------------------------------------------------------------- deletion

def _owned(obj: Any) -> list[dict[str, Any]]:
    return [{"apiVersion": obj.raw["apiVersion"], "kind": obj.kind, "name": obj.name,
             "uid": obj.raw["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]


def test_owner_references_cascade_in_background(api: kr8s.Api, ns: str, emulator: Emulator) -> None:
    dep = Deployment({"metadata": {"name": "d", "namespace": ns}, "spec": {"selector": {}, "template": {}}}, api=api)
    dep.create()
    rs = ReplicaSet({"metadata": {"name": "d-1", "namespace": ns, "ownerReferences": _owned(dep)},
                     "spec": {"selector": {}, "template": {}}}, api=api)
    rs.create()
    Pod({"metadata": {"name": "d-1-p", "namespace": ns, "ownerReferences": _owned(rs)}, "spec": {}}, api=api).create()
    keep = ConfigMap({"metadata": {"name": "keep", "namespace": ns, "ownerReferences": _owned(dep)}}, api=api)
    keep.create()
    keep.delete()  # deleting a dependent leaves the owner alone
    assert emulator.get("deployments", "d", ns) is not None
    dep.delete()
    assert emulator.objects("replicasets", ns) == [] and emulator.objects("pods", ns) == []


def test_orphan_deletion_keeps_dependents(api: kr8s.Api, ns: str, emulator: Emulator) -> None:
    owner = ConfigMap({"metadata": {"name": "owner", "namespace": ns}}, api=api)
    owner.create()
    ConfigMap({"metadata": {"name": "dep", "namespace": ns, "ownerReferences": _owned(owner)}}, api=api).create()
    owner.delete(propagation_policy="Orphan")
    dependent = emulator.get("configmaps", "dep", ns)
    assert dependent is not None and "ownerReferences" not in dependent["metadata"]


def test_foreground_deletion_waits_for_dependents(api: kr8s.Api, ns: str, emulator: Emulator) -> None:
    owner = ConfigMap({"metadata": {"name": "fg", "namespace": ns}}, api=api)
    owner.create()
    ConfigMap({"metadata": {"name": "fg-dep", "namespace": ns, "ownerReferences": _owned(owner),
                            "finalizers": ["example.com/slow"]}}, api=api).create()
    owner.delete(propagation_policy="Foreground")
    waiting = emulator.get("configmaps", "fg", ns)
    assert waiting is not None and waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    ConfigMap.get("fg-dep", namespace=ns, api=api).patch({"metadata": {"finalizers": []}})
    assert emulator.get("configmaps", "fg-dep", ns) is None and emulator.get("configmaps", "fg", ns) is None


def test_finalizers_hold_deletion_until_removed(api: kr8s.Api, ns: str, emulator: Emulator) -> None:
    cm = ConfigMap({"metadata": {"name": "f", "namespace": ns, "finalizers": ["example.com/hold"]}}, api=api)
    cm.create()
    cm.delete()
    held = emulator.get("configmaps", "f", ns)
    assert held is not None and held["metadata"]["deletionTimestamp"]
    with pytest.raises(kr8s.ServerError, match="no new finalizers"):
        cm.patch({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}})
    cm.patch({"metadata": {"finalizers": []}})
    assert emulator.get("configmaps", "f", ns) is None


def test_namespace_deletion_removes_its_objects(api: kr8s.Api, emulator: Emulator) -> None:
    namespace = Namespace({"metadata": {"name": "going", "finalizers": ["example.com/hold"]}}, api=api)
    namespace.create()
    ConfigMap({"metadata": {"name": "inside", "namespace": "going"}}, api=api).create()
    namespace.delete()
    assert emulator.get("namespaces", "going")["status"]["phase"] == "Terminating"  # type: ignore[index]
    with pytest.raises(kr8s.ServerError, match="being terminated"):
        ConfigMap({"metadata": {"name": "late", "namespace": "going"}}, api=api).create()
    _wait_for(lambda: emulator.objects("configmaps", "going") == [], "the namespace's contents to be deleted")
    assert emulator.get("namespaces", "going") is not None  # held by its finalizer
    namespace.patch({"metadata": {"finalizers": []}})
    assert emulator.get("namespaces", "going") is None


# ----------------------------------------------------------------------------------------- server-side apply

async def test_server_side_apply_create_noop_conflict_force(aapi: Any, emulator: Emulator) -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": "default"},
           "data": {"owner": "ctl", "extra": "1"}}

    async def apply(body: dict[str, Any], manager: str, force: bool = False) -> Any:
        params = {"fieldManager": manager, **({"force": "true"} if force else {})}
        async with aapi.call_api("PATCH", url="configmaps/ssa", namespace="default", content=json.dumps(body),
                                 headers={"Content-Type": "application/apply-patch+yaml"}, params=params,
                                 raise_for_status=False) as resp:
            return resp.status_code, resp.json()

    status, first = await apply(doc, "ctl")
    assert status == 201
    status, again = await apply(doc, "ctl")
    assert status == 200 and again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    status, conflict = await apply({**doc, "data": {"owner": "other"}}, "other")
    assert status == 409 and 'conflict with "ctl"' in conflict["message"] and ".data.owner" in conflict["message"]
    status, forced = await apply({**doc, "data": {"owner": "other"}}, "other", force=True)
    assert status == 200 and forced["data"] == {"owner": "other", "extra": "1"}
    status, shrunk = await apply({**doc, "data": {}}, "ctl")  # ctl stops applying "extra"; "owner" is other's
    assert status == 200 and shrunk["data"] == {"owner": "other"}


# ----------------------------------------------------------------------------------------- SAR & faults

async def test_subject_access_review_from_rule_table(aapi: Any, emulator: Emulator) -> None:
    emulator.allow("alice@example.com", namespace="team-a", verb="get", resource="services/proxy")
    emulator.allow("group:admins")

    async def review(user: str, namespace: str, groups: list[str] | None = None) -> dict[str, Any]:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": groups or [], "resourceAttributes": {
                    "namespace": namespace, "verb": "get", "resource": "services", "subresource": "proxy"}}}
        async with aapi.call_api("POST", version="authorization.k8s.io/v1", base="/apis",
                                 url="subjectaccessreviews", json=body) as resp:
            assert resp.status_code == 201
            return resp.json()["status"]

    assert (await review("alice@example.com", "team-a"))["allowed"] is True
    denied = await review("alice@example.com", "team-b")
    assert denied["allowed"] is False and "alice@example.com" in denied["reason"] and "team-b" in denied["reason"]
    assert (await review("bob", "team-b", groups=["admins"]))["allowed"] is True


def test_faults_answer_409_500_for_n_requests(api: kr8s.Api, emulator: Emulator) -> None:
    emulator.fault("create", "configmaps", status=409, count=1)
    emulator.fault("get", "configmaps", status=500, count=2, namespace="default")
    cm = ConfigMap({"metadata": {"name": "flaky", "namespace": "default"}}, api=api)
    with pytest.raises(kr8s.ServerError, match="injected fault"):
        cm.create()
    cm.create()  # the fault was for one request only
    for _ in range(2):
        with pytest.raises(kr8s.ServerError, match="500"):
            cm.refresh()
    cm.refresh()
    assert emulator.request_count("get", "configmaps", "default", "flaky") == 3


async def test_fault_hang_until_client_gives_up(aapi: Any, emulator: Emulator) -> None:
    import httpx

    fault = emulator.fault("list", "pods", status="hang", count=1)
    with pytest.raises((httpx.TimeoutException, kr8s.APITimeoutError)):
        async with aapi.call_api("GET", url="pods", namespace="default", timeout=0.5):
            pass
    assert fault.remaining == 0
    async with aapi.call_api("GET", url="pods", namespace="default") as resp:
        assert resp.json()["items"] == []


def test_unknown_fault_resource_is_refused_early(emulator: Emulator) -> None:
    with pytest.raises(KeyError, match="known resources"):
        emulator.fault("get", "podz", status=500)


# ----------------------------------------------------------------------------------------- command line

def test_python_m_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import sys
    import time

    config = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "tests.harness.emulator", "--kubeconfig", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not config.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert config.exists(), proc.stderr.read() if proc.poll() is not None else "no kubeconfig written"
        assert "default" in kubectl(config, "get", "namespaces", "-o", "name").stdout
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------------------- real kopf operator

def _wait_for(condition: Any, what: str, timeout: float = 120, log: Path | None = None) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tail = "\n".join(log.read_text().splitlines()[-40:]) if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def test_upstream_dask_operator_reconciles_and_cascades(api: kr8s.Api, emulator: Emulator, tmp_path: Path) -> None:
    """The unmodified dask-kubernetes operator (kopf) runs against the emulator: discovery, watches,
    JSON/merge patches, its finalizer, and ownerReference garbage collection when the DaskCluster goes."""
    import os
    import sys

    log_path = tmp_path / "operator.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "-m", "dask_kubernetes.operator.controller", "--all-namespaces",
         "--standalone"],
        env={**os.environ, "KUBECONFIG": str(emulator.kubeconfig)}, stdout=log, stderr=subprocess.STDOUT)
    try:
        DaskCluster(cluster_spec("op"), namespace="default", api=api).create()

        def wait(condition: Any, what: str) -> Any:
            return _wait_for(condition, what, log=log_path)

        def group() -> dict[str, Any]:
            return emulator.get("daskworkergroups", "op-default", "default") or {}

        wait(lambda: emulator.get("deployments", "op-scheduler", "default"), "the scheduler Deployment")
        wait(lambda: emulator.get("services", "op-scheduler", "default"), "the scheduler Service")
        wait(lambda: group().get("metadata", {}).get("ownerReferences"), "the worker group owned by the DaskCluster")
        wait(lambda: len(emulator.objects("deployments", "default", "dask.org/workergroup-name=op-default")) == 1,
             "one worker Deployment")
        wait(lambda: (emulator.get("daskclusters", "op", "default") or {}).get("status", {}).get("phase"),
             "a status phase on the DaskCluster")
        DaskCluster.get("op", namespace="default", api=api).delete()
        wait(lambda: not emulator.objects("deployments", "default") and not emulator.objects("services", "default")
             and not emulator.objects("daskworkergroups", "default") and not emulator.objects("daskclusters"),
             "the DaskCluster and everything it owns to be deleted")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
