"""The controller as users meet it: a real ``dask-kubeflow controller`` process (kopf + kr8s over
HTTP) against the Kubernetes API emulator."""

from __future__ import annotations

import signal
from typing import Any

import kr8s
import pytest
import yaml

from dask_kubeflow.controller import read_namespace_status, read_namespace_status_async

from .conftest import (
    DaskAutoscaler,
    DaskCluster,
    MANAGED_PLURALS,
    Profile,
    converged,
    make_profile,
    managed,
    status_of,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)


def managed_writes(emulator: Any, namespace: str) -> int:
    return sum(emulator.write_count(resource=p, namespace=namespace) for p in MANAGED_PLURALS)


def reconciled_after(controller: Any, before: float) -> bool:
    return controller.metric("dask_kubeflow_controller_reconciles_total") > before


def events(emulator: Any, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in emulator.objects("events", namespace) if e.get("reason") == reason]


def install_policy(kube: kr8s.Api, policy: dict[str, Any]) -> kr8s.objects.ConfigMap:
    """The admin's policy ConfigMap, where the controller looks by default."""
    kr8s.objects.Namespace({"metadata": {"name": "dask-kubeflow"}}, api=kube).create()
    cm = kr8s.objects.ConfigMap({
        "metadata": {"name": "dask-kubeflow-policy", "namespace": "dask-kubeflow"},
        "data": {"policy.yaml": yaml.safe_dump(policy)},
    }, api=kube)
    cm.create()
    return cm


async def test_profile_gets_its_cluster_once_and_a_resync_writes_nothing(emulator, kube, start_controller):
    controller = start_controller()
    make_profile(kube, "alice")
    wait_for(lambda: converged(emulator, "alice"), "alice's objects and Ready status", controller=controller)

    assert managed(emulator, "alice") == {
        "daskclusters": ["dask-cluster"], "daskautoscalers": ["dask-cluster"],
        "poddefaults": ["access-dask-cluster"], "networkpolicies": [managed(emulator, "alice")["networkpolicies"][0]],
    }
    for plural in MANAGED_PLURALS:  # one write each, by our field manager, with our label
        assert emulator.write_count(resource=plural, namespace="alice") == 1, plural
        obj = emulator.objects(plural, "alice")[0]
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dask-kubeflow"
    cluster = emulator.get("daskclusters", "dask-cluster", "alice")
    assert cluster["metadata"]["labels"]["dask.kubeflow.org/tier"] == "default"

    status = await read_namespace_status_async("alice", api=await kr8s.asyncio.api(kubeconfig=str(emulator.kubeconfig)))
    assert status["phase"] == "Ready" and status["tier"] == "default" and status["managed"]
    assert "DaskCluster/dask-cluster" in status["objects"]
    wait_for(lambda: events(emulator, "alice", "Applied"), "an Applied event in alice")
    assert controller.alive()
    assert controller.metric("dask_kubeflow_controller_managed_namespaces") == 1
    assert controller.metric("dask_kubeflow_controller_reconcile_duration_seconds_count") >= 1

    # Anything that makes the controller look again, with nothing changed, writes nothing.
    writes = emulator.write_count()
    before = controller.metric("dask_kubeflow_controller_reconciles_total")
    ns = kr8s.objects.Namespace.get("alice", api=kube)
    ns.label({"unrelated": "yes"})
    wait_for(lambda: reconciled_after(controller, before), "a reconcile after the namespace changed")
    controller.stop()  # and so does a restart, which re-lists and re-reconciles everything
    restarted = start_controller()
    wait_for(lambda: restarted.metric("dask_kubeflow_controller_reconciles_total", outcome="unchanged") >= 1,
             "the restarted controller to reconcile alice", controller=restarted)
    assert emulator.write_count() == writes + 1  # only our own label edit above


async def test_profile_deleted_removes_only_its_managed_objects(emulator, kube, start_controller):
    controller = start_controller()
    make_profile(kube, "alice")
    make_profile(kube, "bob")
    own = DaskCluster({"metadata": {"name": "my-own", "namespace": "alice"},
                       "spec": {"worker": {"replicas": 1, "spec": {"containers": []}},
                                "scheduler": {"spec": {"containers": []}, "service": {}}}}, api=kube)
    own.create()
    wait_for(lambda: converged(emulator, "alice") and converged(emulator, "bob"), "both namespaces Ready",
             controller=controller)
    bob_before = {p: [o["metadata"]["resourceVersion"] for o in emulator.objects(p, "bob")] for p in MANAGED_PLURALS}

    Profile.get("alice", api=kube).delete()
    wait_for(lambda: managed(emulator, "alice") == {"daskclusters": ["my-own"], "daskautoscalers": [],
                                                      "poddefaults": [], "networkpolicies": []}
             and not status_of(emulator, "alice"), "alice's managed objects and status removed",
             controller=controller)
    assert emulator.get("namespaces", "alice") is not None  # the namespace is not ours to delete
    assert {p: [o["metadata"]["resourceVersion"] for o in emulator.objects(p, "bob")]
            for p in MANAGED_PLURALS} == bob_before


async def test_profile_deleted_is_pruned_from_the_synced_cache_without_a_live_read(emulator, kube, start_controller):
    controller = start_controller()
    make_profile(kube, "rita")
    wait_for(lambda: converged(emulator, "rita"), "rita Ready", controller=controller)
    profile = Profile.get("rita", api=kube)
    reads = emulator.request_count(verb="get", resource="profiles")
    profile.delete()
    wait_for(lambda: not any(managed(emulator, "rita").values()) and not status_of(emulator, "rita"),
             "rita's objects removed", controller=controller)
    assert emulator.request_count(verb="get", resource="profiles") == reads  # Profiles come from the informer


async def test_profile_deleted_while_the_controller_was_down_is_cleaned_up_after_restart(
        emulator, kube, start_controller):
    first = start_controller()
    make_profile(kube, "olga")
    make_profile(kube, "pete")
    wait_for(lambda: converged(emulator, "olga") and converged(emulator, "pete"), "both Ready", controller=first)
    first.stop()
    Profile.get("olga", api=kube).delete()
    second = start_controller()
    wait_for(lambda: not any(managed(emulator, "olga").values()) and not status_of(emulator, "olga"),
             "olga's objects removed by the restarted controller", controller=second)
    assert converged(emulator, "pete") and managed_writes(emulator, "pete") == len(MANAGED_PLURALS)


async def test_user_made_cluster_of_the_same_name_is_left_alone(emulator, kube, start_controller):
    kr8s.objects.Namespace({"metadata": {"name": "carol"}}, api=kube).create()
    mine = DaskCluster({"metadata": {"name": "dask-cluster", "namespace": "carol"},
                        "spec": {"worker": {"replicas": 3, "spec": {"containers": []}},
                                 "scheduler": {"spec": {"containers": []}, "service": {}}}}, api=kube)
    mine.create()
    before = emulator.get("daskclusters", "dask-cluster", "carol")
    controller = start_controller()
    Profile({"metadata": {"name": "carol"}, "spec": {"owner": {"kind": "User", "name": "carol@example.com"}}},
            api=kube).create()
    wait_for(lambda: status_of(emulator, "carol").get("phase") == "Error", "carol's status to report the conflict",
             controller=controller)
    assert "not made by dask-kubeflow" in status_of(emulator, "carol")["lastError"]
    assert emulator.get("daskclusters", "dask-cluster", "carol") == before
    # The Event is posted after the status is written: wait for it too.
    wait_for(lambda: events(emulator, "carol", "ReconcileFailed"), "a ReconcileFailed event in carol",
             controller=controller)
    assert managed(emulator, "carol")["poddefaults"] == ["access-dask-cluster"]  # the rest is still applied


async def test_tier_follows_namespace_labels_and_opt_out_removes_the_cluster(emulator, kube, start_controller):
    install_policy(kube, {"tiers": [{"name": "big", "match": {"labels": {"team": "big"}},
                                     "scaling": {"maximum": 20}}]})
    controller = start_controller()
    make_profile(kube, "dave")
    wait_for(lambda: converged(emulator, "dave"), "dave Ready on the default tier", controller=controller)
    ns = kr8s.objects.Namespace.get("dave", api=kube)

    ns.label({"team": "big"})
    wait_for(lambda: converged(emulator, "dave", tier="big"), "dave moved to tier big", controller=controller)
    assert emulator.get("daskautoscalers", "dask-cluster", "dave")["spec"]["maximum"] == 20
    assert emulator.get("daskclusters", "dask-cluster", "dave")["metadata"]["labels"]["dask.kubeflow.org/tier"] == "big"

    ns.label({"dask.kubeflow.org/opt-out": "true"})
    wait_for(lambda: not any(managed(emulator, "dave").values()) and status_of(emulator, "dave").get("phase") == "OptedOut",
             "dave's managed objects removed after opting out", controller=controller)

    ns.patch([{"op": "remove", "path": "/metadata/labels/dask.kubeflow.org~1opt-out"}], type="json")
    wait_for(lambda: converged(emulator, "dave", tier="big"), "dave's cluster back after opting in again",
             controller=controller)


async def test_drift_is_restored_but_replicas_are_not_fought_over(emulator, kube, start_controller):
    controller = start_controller()
    make_profile(kube, "erin")
    wait_for(lambda: converged(emulator, "erin"), "erin Ready", controller=controller)

    DaskCluster.get("dask-cluster", namespace="erin", api=kube).delete()
    wait_for(lambda: emulator.get("daskclusters", "dask-cluster", "erin"), "the deleted dask-cluster to come back",
             controller=controller)

    autoscaler = DaskAutoscaler.get("dask-cluster", namespace="erin", api=kube)
    maximum = autoscaler.spec["maximum"]
    autoscaler.patch({"spec": {"maximum": maximum + 50}})
    wait_for(lambda: emulator.get("daskautoscalers", "dask-cluster", "erin")["spec"]["maximum"] == maximum,
             "the edited autoscaler maximum to be restored", controller=controller)

    cluster = DaskCluster.get("dask-cluster", namespace="erin", api=kube)
    before = controller.metric("dask_kubeflow_controller_reconciles_total")
    cluster.patch({"spec": {"worker": {"replicas": 3}}})  # what scaling does; not ours to undo
    wait_for(lambda: reconciled_after(controller, before), "a reconcile after the replica change")
    assert emulator.get("daskclusters", "dask-cluster", "erin")["spec"]["worker"]["replicas"] == 3


async def test_policy_reload_good_then_refused(emulator, kube, start_controller):
    cm = install_policy(kube, {"defaults": {"scaling": {"maximum": 3}}})
    controller = start_controller()
    make_profile(kube, "fay")
    wait_for(lambda: converged(emulator, "fay"), "fay Ready", controller=controller)
    assert emulator.get("daskautoscalers", "dask-cluster", "fay")["spec"]["maximum"] == 3

    cm.patch({"data": {"policy.yaml": yaml.safe_dump({"defaults": {"scaling": {"maximum": 7}}})}})
    wait_for(lambda: emulator.get("daskautoscalers", "dask-cluster", "fay")["spec"]["maximum"] == 7,
             "the new policy applied without a restart", controller=controller)

    writes = managed_writes(emulator, "fay")
    cm.patch({"data": {"policy.yaml": yaml.safe_dump({"defaults": {"scaling": {"maximum": "lots"}}})}})
    wait_for(lambda: controller.metric("dask_kubeflow_controller_policy_valid") == 0 and
             events(emulator, "dask-kubeflow", "PolicyRefused"), "the bad policy to be refused",
             controller=controller)
    refused = events(emulator, "dask-kubeflow", "PolicyRefused")[0]["message"]
    assert "defaults.scaling.maximum" in refused and "last good policy stays" in refused
    assert controller.metric("dask_kubeflow_controller_policy_refused_info") == 1
    assert "defaults.scaling.maximum" in controller.metrics()
    assert "policy refused" in controller.logs()
    assert managed_writes(emulator, "fay") == writes  # nothing was re-rendered
    assert emulator.get("daskautoscalers", "dask-cluster", "fay")["spec"]["maximum"] == 7


async def test_a_lowered_tier_flags_the_user_cluster_above_it_until_it_is_gone(emulator, kube, start_controller):
    from dask_kubernetes.operator import make_cluster_spec

    from dask_kubeflow.kube.namespace_status import from_configmap

    cm = install_policy(kube, {"defaults": {"scaling": {"maximum": 8}}})
    controller = start_controller()
    make_profile(kube, "gil")
    wait_for(lambda: converged(emulator, "gil"), "gil Ready", controller=controller)
    wide = make_cluster_spec("wide", n_workers=5)  # a user's own cluster, within the tier of that moment
    wide["metadata"]["namespace"] = "gil"
    DaskCluster(wide, api=kube).create()

    def exceeded() -> list[dict[str, str]]:
        return from_configmap("gil", emulator.get("configmaps", "dask-kubeflow-status", "gil"))["exceeded"]

    cm.patch({"data": {"policy.yaml": yaml.safe_dump({"defaults": {"scaling": {"maximum": 2}}})}})
    wait_for(lambda: any(e["cluster"] == "wide" and e["limit"] == "scaling.maximum" for e in exceeded()),
             "the status record to flag the user cluster above the lowered tier", controller=controller)
    assert status_of(emulator, "gil")["phase"] == "Ready"  # the shared cluster itself follows the new tier
    assert emulator.get("daskautoscalers", "dask-cluster", "gil")["spec"]["maximum"] == 2
    assert "spec.worker.replicas is 5" in exceeded()[0]["message"]

    DaskCluster.get("wide", namespace="gil", api=kube).delete()
    wait_for(lambda: not exceeded(), "the record to clear once the cluster is gone", controller=controller)


async def test_broken_policy_at_start_reconciles_nothing_until_fixed(emulator, kube, start_controller):
    cm = install_policy(kube, {"defaults": {"worker": {"threads": 0}}})
    make_profile(kube, "quinn")
    controller = start_controller(wait_ready=False)
    wait_for(lambda: controller.metric("dask_kubeflow_controller_policy_valid") == 0 and
             events(emulator, "dask-kubeflow", "PolicyRefused"), "the broken policy to be refused",
             controller=controller)
    assert not controller.ready()
    assert "defaults.worker.threads" in controller.logs()
    assert not any(managed(emulator, "quinn").values())  # no built-in defaults rolled out instead
    cm.patch({"data": {"policy.yaml": yaml.safe_dump({"defaults": {"worker": {"threads": 2}}})}})
    wait_for(lambda: converged(emulator, "quinn"), "quinn Ready once the policy is fixed", controller=controller)
    wait_for(controller.ready, "the controller to report ready", controller=controller)


async def test_contributor_is_recorded(emulator, kube, start_controller):
    controller = start_controller()
    make_profile(kube, "gus")
    wait_for(lambda: converged(emulator, "gus"), "gus Ready", controller=controller)
    kr8s.objects.RoleBinding({
        "metadata": {"name": "user-hal-example-com-clusterrole-edit", "namespace": "gus",
                     "annotations": {"user": "hal@example.com", "role": "edit"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "hal@example.com"}],
    }, api=kube).create()
    wait_for(lambda: status_of(emulator, "gus").get("contributors") == "hal@example.com",
             "the contributor in gus's status", controller=controller)
    assert read_namespace_status("gus")["contributors"] == ["hal@example.com"]  # what `dask-kubeflow status` shows
    unmanaged = read_namespace_status("default")
    assert unmanaged["phase"] == "NotManaged" and not unmanaged["managed"] and "no Kubeflow Profile" in unmanaged["message"]


async def test_api_faults_are_retried_and_delay_no_other_namespace(emulator, kube, start_controller):
    emulator.fault("create", "daskclusters", status=500, count=3, namespace="ivy")
    emulator.fault("patch", "configmaps", status=409, count=1, namespace="ivy")
    controller = start_controller()
    make_profile(kube, "ivy")
    make_profile(kube, "jay")
    wait_for(lambda: converged(emulator, "jay"), "jay Ready while ivy fails", controller=controller)
    wait_for(lambda: converged(emulator, "ivy"), "ivy Ready after retries", controller=controller)
    assert controller.metric("dask_kubeflow_controller_reconcile_errors_total") >= 1
    wait_for(lambda: events(emulator, "ivy", "ReconcileFailed"), "a ReconcileFailed event in ivy")
    assert "HTTP 500" in status_of(emulator, "ivy")["lastError"]
    assert len(emulator.objects("daskclusters", "ivy")) == 1


async def test_quota_too_small_is_reported_on_that_namespace_only(emulator, kube, start_controller):
    controller = start_controller()
    make_profile(kube, "mia")
    quota = kr8s.objects.ResourceQuota({"metadata": {"name": "kf-resource-quota", "namespace": "mia"},
                                        "spec": {"hard": {"limits.memory": "1Gi"}}}, api=kube)
    quota.create()
    make_profile(kube, "ned")
    wait_for(lambda: status_of(emulator, "mia").get("phase") == "Error" and converged(emulator, "ned"),
             "mia's quota problem reported while ned is Ready", controller=controller)
    assert "kf-resource-quota allows limits.memory=1Gi" in status_of(emulator, "mia")["lastError"]
    wait_for(lambda: events(emulator, "mia", "ReconcileFailed"), "a ReconcileFailed event in mia")
    quota.patch({"spec": {"hard": {"limits.memory": "64Gi"}}})
    wait_for(lambda: converged(emulator, "mia"), "mia Ready once the quota is raised", controller=controller)


async def test_api_call_that_never_answers_times_out_and_is_retried(emulator, kube, start_controller):
    emulator.fault("create", "daskautoscalers", status="hang", count=1, namespace="lou")
    controller = start_controller("--request-timeout", "2")
    make_profile(kube, "lou")
    wait_for(lambda: converged(emulator, "lou"), "lou Ready after the hung call timed out", controller=controller)
    assert "did not answer in time" in status_of(emulator, "lou")["lastError"]
    assert len(emulator.objects("daskautoscalers", "lou")) == 1


async def test_restart_in_the_middle_of_a_reconcile_converges_without_duplicates(emulator, kube, start_controller):
    emulator.fault("create", "poddefaults", status="hang", count=1, namespace="kim")
    first = start_controller()
    make_profile(kube, "kim")
    wait_for(lambda: emulator.objects("networkpolicies", "kim"), "the first object of kim", controller=first)
    first.stop(signal.SIGKILL)
    second = start_controller()
    wait_for(lambda: converged(emulator, "kim"), "kim Ready after the restart", controller=second)
    assert {k: len(v) for k, v in managed(emulator, "kim").items()} == {p: 1 for p in MANAGED_PLURALS}
    assert emulator.write_count(resource="networkpolicies", namespace="kim") == 1  # not re-applied


async def test_fifty_namespaces_at_once(emulator, kube, start_controller):
    controller = start_controller()
    names = [f"team-{i:02d}" for i in range(50)]
    for name in names:
        make_profile(kube, name)
    wait_for(lambda: all(converged(emulator, n) for n in names), "50 namespaces Ready", timeout=120,
             controller=controller)
    for name in names:
        assert managed_writes(emulator, name) == len(MANAGED_PLURALS), name
    assert controller.metric("dask_kubeflow_controller_managed_namespaces") == 50
