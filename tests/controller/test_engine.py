"""The controller in-process, with the API writes replaced by recorders: the typed reconcile results
and errors, and Profiles arriving through the same informer as everything else."""

from __future__ import annotations

from typing import Any

import pytest

from dask_kubeflow.controller import apply, report
from dask_kubeflow.controller.engine import Controller
from dask_kubeflow.controller.informer import Informer
from dask_kubeflow.controller.livestate import LiveState
from dask_kubeflow.controller.reconcile import reconcile, safe_plan
from dask_kubeflow.controller.results import DONE, RETRY, Changes, PermanentError, Result, TemporaryError
from dask_kubeflow.controller.settings import ControllerSettings
from dask_kubeflow.controller.watched import MANAGED_SOURCES, NAMESPACES, PROFILES
from dask_kubeflow.kube.errors import KubeError
from dask_kubeflow.kube.resources import ref_of
from dask_kubeflow.policy import Policy

from .test_pure import inputs


class FakeApi:
    """Records writes; ``fail`` maps a kind to the error its create raises."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, Exception] = {}
        self.existing: dict[str, dict[str, Any]] = {}
        self.rv = 0

    def _stored(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}

    async def create(self, _: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", str(ref_of(obj))))
        if obj["kind"] in self.fail:
            raise self.fail[obj["kind"]]
        return self._stored(obj)

    async def server_side_apply(self, _: Any, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply", str(ref_of(obj))))
        return self._stored(obj)

    async def delete(self, _: Any, ref: Any) -> None:
        self.calls.append(("delete", str(ref)))

    async def get(self, _: Any, ref: Any) -> dict[str, Any] | None:
        self.calls.append(("get", str(ref)))
        return self.existing.get(str(ref))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi()
    for name in ("create", "server_side_apply", "delete", "get"):
        monkeypatch.setattr(apply, name, getattr(api, name))

    async def no_event(*_: Any, **__: Any) -> None:
        api.calls.append(("event", ""))

    monkeypatch.setattr(report, "post_event", no_event)
    return api


async def test_reconcile_returns_what_it_changed(fake: FakeApi) -> None:
    wanted = safe_plan(inputs(), Policy.builtin())
    changes = await reconcile(None, LiveState(), inputs(), wanted, {})  # type: ignore[arg-type]
    assert isinstance(changes, Changes) and changes.changed and not changes.updated
    assert set(changes.created) == {str(ref_of(o)) for o in wanted.desired}
    assert "created" in changes.summary()


async def test_an_api_error_worth_retrying_is_a_temporary_error_with_the_changes_made(fake: FakeApi) -> None:
    fake.fail["DaskCluster"] = KubeError("create DaskCluster/dask-cluster failed (HTTP 500): boom", status=500)
    wanted = safe_plan(inputs(), Policy.builtin())
    with pytest.raises(TemporaryError, match="HTTP 500") as caught:
        await reconcile(None, LiveState(), inputs(), wanted, {})  # type: ignore[arg-type]
    assert "PodDefault/access-dask-cluster" in caught.value.changes.created  # the rest was still applied


async def test_a_users_object_in_the_way_is_a_permanent_error(fake: FakeApi) -> None:
    fake.fail["DaskCluster"] = apply.AlreadyExists("exists", status=409)
    fake.existing["DaskCluster/dask-cluster"] = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
                                                 "metadata": {"name": "dask-cluster", "namespace": "alice"}}
    wanted = safe_plan(inputs(), Policy.builtin())
    with pytest.raises(PermanentError, match="not made by dask-kubeflow"):
        await reconcile(None, LiveState(), inputs(), wanted, {})  # type: ignore[arg-type]


async def test_an_invalid_namespace_name_is_a_permanent_error() -> None:
    wanted = safe_plan(inputs("Not_A_Name"), Policy.builtin())
    assert wanted.phase == "Error"
    with pytest.raises(PermanentError, match="not a valid namespace name"):
        await reconcile(None, LiveState(), inputs("Not_A_Name"), wanted, {})  # type: ignore[arg-type]


def _controller() -> Controller:
    controller = Controller(ControllerSettings(metrics_port=0, liveness=None))
    controller.attach(object())  # type: ignore[arg-type]  (nothing here reaches the API: writes are faked)
    assert controller.policy is not None
    controller.policy.state.policy = Policy.builtin()
    return controller


def _event(informer: Informer, source: Any, kind: str, obj: dict[str, Any]) -> None:
    informer._apply(source, kind, obj)  # what a watch event does


PROFILE = {"apiVersion": "kubeflow.org/v1", "kind": "Profile",
           "metadata": {"name": "alice", "uid": "u1"}, "spec": {"owner": {"kind": "User", "name": "a@example.com"}}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alice", "labels": {}}}


async def test_process_returns_a_typed_result(fake: FakeApi) -> None:
    controller = _controller()
    assert controller.informer is not None
    _event(controller.informer, NAMESPACES, "ADDED", NAMESPACE)
    _event(controller.informer, PROFILES, "ADDED", PROFILE)
    assert await controller.process("alice") == DONE
    fake.fail["DaskAutoscaler"] = KubeError("no answer", status=None)
    controller.live_state = LiveState()  # forget the writes: everything is to be created again
    assert controller.reporter is not None
    controller.reporter.live_state = controller.live_state
    assert await controller.process("alice") == Result(requeue=True) == RETRY
    assert await controller.process("nobody") == DONE  # no Profile, nothing of ours: nothing to do


async def test_profile_created_after_start_arrives_through_the_informer_and_is_reconciled(fake: FakeApi) -> None:
    controller = _controller()
    assert controller.informer is not None
    _event(controller.informer, NAMESPACES, "ADDED", NAMESPACE)
    assert "alice" not in controller.known_namespaces()
    _event(controller.informer, PROFILES, "ADDED", PROFILE)
    assert controller.known_namespaces() == {"alice"} and len(controller.queue) == 1
    assert await controller.queue.get() == "alice"
    assert await controller.process("alice") == DONE
    assert {verb for verb, _ in fake.calls} == {"create", "event"}
    assert controller.inputs("alice").profile is not None and controller.inputs("alice").profile.owner == "a@example.com"


async def test_profile_deleted_prunes_its_namespace_from_the_cache_without_asking_the_api(fake: FakeApi) -> None:
    controller = _controller()
    informer = controller.informer
    assert informer is not None
    _event(informer, NAMESPACES, "ADDED", NAMESPACE)
    _event(informer, PROFILES, "ADDED", PROFILE)
    wanted = safe_plan(controller.inputs("alice"), Policy.builtin())
    by_kind = {source.cls.kind: source for source in MANAGED_SOURCES}
    for rv, obj in enumerate(wanted.desired, start=1):  # what the watches show once they were created
        body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}
        _event(informer, by_kind[obj["kind"]], "ADDED", body)
    assert len(controller.live("alice")) == len(wanted.desired)

    _event(informer, PROFILES, "DELETED", PROFILE)
    assert controller.inputs("alice").profile is None and len(controller.queue) == 1
    assert await controller.process("alice") == DONE
    deleted = sorted(ref for verb, ref in fake.calls if verb == "delete")
    assert deleted == sorted(str(ref_of(o)) for o in wanted.desired)
    assert not [call for call in fake.calls if call[0] == "get"]  # decided from the synced cache alone



async def _drain(controller: Controller) -> None:
    while len(controller.queue):
        controller.queue.done(await controller.queue.get())


async def test_the_webhooks_count_comes_from_the_cache_and_only_users_objects_reconcile() -> None:
    from dask_kubeflow.admission import Counted, user_workers
    from dask_kubeflow.controller.watched import COUNTED_SOURCES

    controller = _controller()
    informer = controller.informer
    assert informer is not None
    _event(informer, NAMESPACES, "ADDED", NAMESPACE)
    _event(informer, PROFILES, "ADDED", PROFILE)
    await _drain(controller)
    assert controller.usage("alice") is None  # not listed yet: the webhook must not count from it
    informer.synced.set()
    ours = {"metadata": {"name": "dask-cluster", "namespace": "alice",
                         "labels": {"app.kubernetes.io/managed-by": "dask-kubeflow"}},
            "spec": {"worker": {"replicas": 0, "spec": {"containers": [{"name": "w", "image": "i"}]}}}}
    _event(informer, COUNTED_SOURCES["daskclusters"], "ADDED", ours)
    assert len(controller.queue) == 0  # our own cluster's echo: no reason to look again
    mine = {"metadata": {"name": "mine", "namespace": "alice", "uid": "x", "annotations": {"big": "x" * 1000}},
            "spec": {"worker": {"replicas": 3, "spec": {"containers": [{"name": "w", "image": "i"}]}}}}
    _event(informer, COUNTED_SOURCES["daskclusters"], "ADDED", mine)
    _event(informer, COUNTED_SOURCES["daskautoscalers"], "ADDED",
           {"metadata": {"name": "mine", "namespace": "alice"}, "spec": {"cluster": "mine", "maximum": 5}})
    assert len(controller.queue) == 1  # a user's cluster: is the namespace still within its tier?
    await _drain(controller)
    _event(informer, COUNTED_SOURCES["daskclusters"], "MODIFIED", {**mine, "status": {"phase": "Running"}})
    assert len(controller.queue) == 0  # its phase changed, nothing that is counted
    usage = controller.usage("alice")
    assert usage is not None and Counted("alice", "mine", "mine", 3) in usage.clusters
    assert user_workers(usage, "dask-cluster") == {"mine": 5}
    _event(informer, COUNTED_SOURCES["daskclusters"], "DELETED", mine)
    assert [c.name for c in controller.usage("alice").clusters] == ["dask-cluster"]
    assert len(controller.queue) == 1


async def test_a_namespace_update_that_changes_nothing_read_is_no_reconcile() -> None:
    controller = _controller()
    informer = controller.informer
    assert informer is not None
    _event(informer, PROFILES, "ADDED", PROFILE)
    _event(informer, NAMESPACES, "ADDED", NAMESPACE)
    await _drain(controller)
    _event(informer, NAMESPACES, "MODIFIED", {**NAMESPACE, "status": {"phase": "Active"}})
    assert len(controller.queue) == 0
    _event(informer, NAMESPACES, "MODIFIED", {**NAMESPACE, "metadata": {"name": "alice", "labels": {"team": "x"}}})
    assert len(controller.queue) == 1


async def test_a_user_cluster_above_a_lowered_tier_is_in_the_status_record(fake: FakeApi,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from dask_kubeflow.controller.watched import COUNTED_SOURCES
    from dask_kubeflow.kube.namespace_status import exceeded_lines, from_configmap
    from dask_kubeflow.policy import parse_policy

    written: list[dict[str, Any]] = []

    async def create(api: Any, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] == "ConfigMap":
            written.append(obj)
        return await FakeApi.create(fake, api, obj)

    monkeypatch.setattr(apply, "create", create)
    controller = _controller()
    informer = controller.informer
    assert informer is not None and controller.policy is not None
    controller.policy.state.policy = parse_policy({"defaults": {"scaling": {"maximum": 2}}})
    informer.synced.set()
    _event(informer, NAMESPACES, "ADDED", NAMESPACE)
    _event(informer, PROFILES, "ADDED", PROFILE)
    wide = {"metadata": {"name": "wide", "namespace": "alice"},
            "spec": {"worker": {"replicas": 5, "spec": {"containers": [{"name": "w", "image": "i"}]}}}}
    _event(informer, COUNTED_SOURCES["daskclusters"], "ADDED", wide)
    assert await controller.process("alice") == DONE
    record = from_configmap("alice", written[-1])
    assert record["phase"] == "Ready"  # the shared cluster is fine; the user's is listed
    assert {(e["cluster"], e["limit"]) for e in record["exceeded"]} >= {("wide", "scaling.maximum")}
    assert any("spec.worker.replicas is 5" in line and "allows 2" in line for line in exceeded_lines(record))
