"""The managed cluster, its autoscaler and worker groups: only the platform shapes or deletes them."""

from __future__ import annotations

import copy

import pytest

from dask_kubeflow.admission import Caller, validate

from .conftest import ADMIN, CONTROLLER, OPERATOR, TRUST, managed_objects, request, worker_group_of

GC = Caller("system:serviceaccount:kube-system:generic-garbage-collector")


def test_scale_deleting_the_autoscaler_is_refused_with_what_to_do(shape):
    """KubeCluster.from_name(...).scale(5) first deletes the DaskAutoscaler (dask-kubernetes 2026.3)."""
    autoscaler = managed_objects()["DaskAutoscaler"]
    verdict = validate(request("daskautoscalers", "DELETE", old=autoscaler), shape, TRUST)
    assert not verdict.allowed and verdict.code == 403
    assert "DaskAutoscaler 'dask-cluster' cannot be deleted (KubeCluster.scale() deletes it" in verdict.message
    assert "this cluster autoscales between 0 and 2 workers (tier 'small')" in verdict.message
    assert "use dask_kubeflow.connect(wait_for_workers=n) with n up to 2" in verdict.message
    assert "at most 2 per namespace" in verdict.message


def test_close_with_shutdown_on_close_cannot_delete_the_shared_cluster(shape):
    cluster = managed_objects()["DaskCluster"]
    verdict = validate(request("daskclusters", "DELETE", old=cluster), shape, TRUST)
    assert not verdict.allowed
    assert "DaskCluster 'dask-cluster' cannot be deleted: it is the namespace's shared cluster" in verdict.message
    assert "close only your client (KubeCluster.from_name('dask-cluster') never deletes it)" in verdict.message


def test_the_controller_the_cleanup_controllers_and_admins_may_delete(shape):
    cluster = managed_objects()["DaskCluster"]
    for caller in (Caller(CONTROLLER), GC, ADMIN):
        assert validate(request("daskclusters", "DELETE", old=cluster, caller=caller), shape, TRUST).allowed
    assert not validate(request("daskclusters", "DELETE", old=cluster, caller=Caller(OPERATOR)), shape,
                        TRUST).allowed


def test_adapt_and_spec_edits_of_the_managed_objects_are_refused(shape):
    autoscaler = managed_objects()["DaskAutoscaler"]
    adapted = copy.deepcopy(autoscaler)
    adapted["spec"]["maximum"] = 1
    verdict = validate(request("daskautoscalers", "UPDATE", adapted, autoscaler), shape, TRUST)
    assert not verdict.allowed and "cannot be changed" in verdict.message
    cluster = managed_objects()["DaskCluster"]
    unlabelled = copy.deepcopy(cluster)
    del unlabelled["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    assert not validate(request("daskclusters", "UPDATE", unlabelled, cluster), shape, TRUST).allowed
    scale = {"kind": "Scale", "metadata": {"name": "dask-cluster"}, "spec": {"replicas": 1}}
    assert "cannot be scaled by hand" in validate(request("daskclusters", "UPDATE", scale, scale, subresource="scale"),
                                                  shape, TRUST).message


def test_the_operators_metadata_writes_and_the_controllers_applies_pass(shape):
    cluster = managed_objects()["DaskCluster"]
    annotated = copy.deepcopy(cluster)
    annotated["metadata"]["annotations"]["kopf.zalando.org/last-handled-configuration"] = "{}"
    annotated["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    assert validate(request("daskclusters", "UPDATE", annotated, cluster, caller=Caller(OPERATOR)), shape,
                    TRUST).allowed
    for obj in managed_objects().values():
        resource = obj["kind"].lower() + "s"
        if resource.startswith("dask"):
            assert validate(request(resource, "CREATE", obj, caller=Caller(CONTROLLER)), shape, TRUST).allowed


def test_a_user_cannot_claim_the_managed_name(shape):
    cluster = managed_objects()["DaskCluster"]
    verdict = validate(request("daskclusters", "CREATE", cluster), shape, TRUST)
    assert not verdict.allowed and "is the platform's name" in verdict.message


def test_operator_scales_the_managed_worker_group_within_the_maximum(shape):
    group = worker_group_of(managed_objects()["DaskCluster"], replicas=0)
    operator = Caller(OPERATOR)
    assert validate(request("daskworkergroups", "CREATE", group, caller=operator), shape, TRUST).allowed
    for replicas in (1, 2, 0):
        new = worker_group_of(managed_objects()["DaskCluster"], replicas=replicas)
        assert validate(request("daskworkergroups", "UPDATE", new, group, caller=operator), shape, TRUST).allowed
    over = worker_group_of(managed_objects()["DaskCluster"], replicas=3)
    verdict = validate(request("daskworkergroups", "UPDATE", over, group, caller=operator), shape, TRUST)
    assert not verdict.allowed and "spec.worker.replicas is 3, more than tier 'small' allows (2" in verdict.message


@pytest.mark.parametrize("replicas, allowed", [(2, True), (5, False)])
def test_users_scaling_the_managed_worker_group(shape, replicas, allowed):
    """scale(n) patches the worker group after deleting the autoscaler; within the maximum it is allowed."""
    group = worker_group_of(managed_objects()["DaskCluster"], replicas=0)
    new = worker_group_of(managed_objects()["DaskCluster"], replicas=replicas)
    assert validate(request("daskworkergroups", "UPDATE", new, group), shape, TRUST).allowed is allowed


def test_users_cannot_reshape_add_or_delete_the_managed_worker_groups(shape):
    group = worker_group_of(managed_objects()["DaskCluster"], replicas=0)
    reshaped = copy.deepcopy(group)
    reshaped["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1"
    assert "workers cannot be re-shaped" in validate(request("daskworkergroups", "UPDATE", reshaped, group),
                                                     shape, TRUST).message
    extra = copy.deepcopy(group)
    extra["metadata"]["name"] = "dask-cluster-more"
    assert "cannot get another worker group" in validate(request("daskworkergroups", "CREATE", extra), shape,
                                                         TRUST).message
    assert not validate(request("daskworkergroups", "DELETE", old=group), shape, TRUST).allowed
    assert validate(request("daskworkergroups", "DELETE", old=group, caller=GC), shape, TRUST).allowed


def test_a_second_autoscaler_for_the_shared_cluster_is_refused(shape):
    autoscaler = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler", "metadata": {"name": "x"},
                  "spec": {"cluster": "dask-cluster", "minimum": 0, "maximum": 1}}
    assert not validate(request("daskautoscalers", "CREATE", autoscaler), shape, TRUST).allowed
