"""Requests, limits, replicas and autoscaler maxima against the tier; filling what is missing."""

from __future__ import annotations

import copy

from dask_kubeflow.admission import mutate, validate

from .conftest import OPERATOR, TRUST, Caller, request, user_cluster, worker_group_of


def test_a_user_cluster_within_the_tier_passes(shape):
    assert validate(request("daskclusters", "CREATE", user_cluster(replicas=2)), shape, TRUST).allowed


def test_fifty_replicas_are_refused_naming_field_tier_limit_and_fix(shape):
    verdict = validate(request("daskclusters", "CREATE", user_cluster("big", replicas=50)), shape, TRUST)
    assert not verdict.allowed and verdict.code == 403
    assert "spec.worker.replicas is 50, more than tier 'small' allows (2 workers per cluster)" in verdict.message
    assert "set it to 2 or less" in verdict.message
    assert verdict.message.startswith("DaskCluster 'big' in namespace 'alice' is outside tier 'small'")


def test_64_cpu_per_worker_in_a_worker_group_is_refused(shape):
    group = worker_group_of(user_cluster())
    patched = copy.deepcopy(group)
    patched["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "64"
    verdict = validate(request("daskworkergroups", "UPDATE", patched, group), shape, TRUST)
    assert not verdict.allowed
    assert ("spec.worker.spec.containers[0].resources.limits.cpu is 64, more than tier 'small' allows (2); "
            "set it to 2 or less") in verdict.message


def test_scheduler_and_gpu_limits(shape):
    cluster = user_cluster()
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": "8Gi"}}
    cluster["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "1"
    message = validate(request("daskclusters", "CREATE", cluster), shape, TRUST).message
    assert "spec.scheduler.spec.containers[0].resources.requests.memory is 8Gi, more than tier 'small' allows (2Gi)" \
        in message
    assert "resources.limits.nvidia.com/gpu is 1, but tier 'small' allows none; remove it" in message


def test_not_a_quantity(shape):
    cluster = user_cluster()
    cluster["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "lots"
    assert "is 'lots', which is not a Kubernetes quantity" in validate(
        request("daskclusters", "CREATE", cluster), shape, TRUST).message


def test_autoscaler_maximum_and_scale_subresource(shape):
    autoscaler = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler",
                  "metadata": {"name": "mine"}, "spec": {"cluster": "mine", "minimum": 0, "maximum": 100}}
    verdict = validate(request("daskautoscalers", "CREATE", autoscaler), shape, TRUST)
    assert "spec.maximum is 100, more than tier 'small' allows (2 workers at most)" in verdict.message
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "mine"}, "spec": {"replicas": 9}}
    old = {**scale, "spec": {"replicas": 1}}
    verdict = validate(request("daskclusters", "UPDATE", scale, old, subresource="scale"), shape, TRUST)
    assert "spec.replicas is 9, more than tier 'small' allows (2" in verdict.message


def test_daskjob_cluster_and_runner_are_held_to_the_tier(shape):
    cluster = user_cluster("job", replicas=5)
    job = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskJob", "metadata": {"name": "job"},
           "spec": {"job": {"spec": {"containers": [{"name": "job", "image": "x", "securityContext":
                                                     {"privileged": True}}]}},
                    "cluster": {"spec": cluster["spec"]}}}
    message = validate(request("daskjobs", "CREATE", job), shape, TRUST).message
    assert "spec.cluster.spec.worker.replicas is 5" in message
    assert "spec.job.spec.containers[0].securityContext.privileged: true is not allowed" in message


def test_metadata_only_updates_pass_even_when_the_old_object_is_over(shape):
    """The operator's finalizers and annotations on objects made before the webhook existed."""
    old = user_cluster("legacy", replicas=50)
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    assert validate(request("daskclusters", "UPDATE", new, old, caller=Caller(OPERATOR)), shape, TRUST).allowed


def test_mutation_fills_missing_requests_and_limits_from_the_tier(shape):
    cluster = user_cluster()
    cluster["spec"]["worker"]["spec"]["containers"][0].pop("resources")
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "100m"}}
    verdict = mutate(request("daskclusters", "CREATE", cluster), shape)
    assert verdict.allowed and verdict.patched is not None and verdict.warnings
    worker = verdict.patched["spec"]["worker"]["spec"]["containers"][0]["resources"]
    assert worker == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    scheduler = verdict.patched["spec"]["scheduler"]["spec"]["containers"][0]["resources"]
    # the own limit stays, and the request takes it (a request above the limit is invalid)
    assert scheduler == {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"cpu": "100m", "memory": "2Gi"}}
    assert validate(request("daskclusters", "CREATE", verdict.patched), shape, TRUST).allowed


def test_mutation_leaves_complete_objects_alone(shape):
    patched = mutate(request("daskclusters", "CREATE", user_cluster()), shape).patched
    assert patched is not None and patched["spec"] == user_cluster()["spec"]  # only the owner is recorded
    assert set(patched["metadata"]["annotations"]) == {"dask.kubeflow.org/owner"}
    old = user_cluster()
    new = copy.deepcopy(old)
    new["spec"]["worker"]["spec"]["containers"][0].pop("resources")
    new["metadata"]["labels"] = {"x": "y"}
    assert mutate(request("daskclusters", "UPDATE", old, old), shape).patched is None  # spec unchanged
    assert mutate(request("daskclusters", "UPDATE", new, old), shape).patched is not None
