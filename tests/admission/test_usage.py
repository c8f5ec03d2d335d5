"""userClusters: how many clusters of their own, and how many workers across them."""

from __future__ import annotations

import copy

from dask_kubeflow.admission import Caller, Usage, user_workers, validate

from .conftest import OPERATOR, TRUST, managed_objects, request, user_cluster, worker_group_of


def usage(*clusters, groups=(), autoscalers=()):
    return Usage(tuple(clusters), tuple(groups), tuple(autoscalers))


def test_workers_count_replicas_or_the_autoscaler_maximum():
    a, b = user_cluster("a", replicas=1), user_cluster("b", replicas=2)
    auto = {"metadata": {"name": "a"}, "spec": {"cluster": "a", "minimum": 0, "maximum": 2}}
    now = usage(managed_objects()["DaskCluster"], a, b, groups=(worker_group_of(a, 0),), autoscalers=(auto,))
    assert user_workers(now, "dask-cluster") == {"a": 2, "b": 2}


def test_a_third_cluster_is_refused_naming_the_limit(shape):
    now = usage(managed_objects()["DaskCluster"], user_cluster("a"), user_cluster("b"))
    verdict = validate(request("daskclusters", "CREATE", user_cluster("c")), shape, TRUST, now)
    assert not verdict.allowed
    assert ("namespace 'alice' already runs 2 cluster(s) of its own (a, b) and tier 'small' allows 2 "
            "(userClusters.maximum)") in verdict.message
    assert "delete one first" in verdict.message
    # A DaskJob makes a cluster too.
    job = {"metadata": {"name": "j"}, "spec": {"job": {"spec": {"containers": []}},
                                               "cluster": {"spec": user_cluster("j")["spec"]}}}
    assert "userClusters.maximum" in validate(request("daskjobs", "CREATE", job), shape, TRUST, now).message


def test_total_workers_across_user_clusters(shape):
    roomy = shape.settings.user_clusters.model_copy(update={"maximum": 5})
    shape = shape.__class__(shape.tier, shape.settings.model_copy(update={"user_clusters": roomy}))
    now = usage(user_cluster("a", replicas=2), user_cluster("b", replicas=2), user_cluster("c", replicas=2))
    verdict = validate(request("daskclusters", "CREATE", user_cluster("d", replicas=1)), shape, TRUST, now)
    assert not verdict.allowed
    assert ("DaskCluster 'd' would bring the workers of this namespace's own clusters to 7, and tier 'small' "
            "allows 6 in total (userClusters.totalWorkers; 6 in use, 0 left)") in verdict.message
    assert validate(request("daskclusters", "CREATE", user_cluster("d", replicas=0)), shape, TRUST, now).allowed


def test_total_workers_default_to_the_tier_maximum():
    from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
    shape = resolve(parse_policy({"defaults": {"scaling": {"maximum": 3}}}), NamespaceFacts("alice"))
    now = usage(user_cluster("a", replicas=2))
    verdict = validate(request("daskclusters", "CREATE", user_cluster("b", replicas=2)), shape, TRUST, now)
    assert not verdict.allowed
    assert ("would bring the workers of this namespace's own clusters to 4, and tier 'default' allows 3 in total "
            "(userClusters.totalWorkers; 2 in use, 1 left); ask for 1 or fewer") in verdict.message
    assert validate(request("daskclusters", "CREATE", user_cluster("b", replicas=1)), shape, TRUST, now).allowed


def test_scale_downs_and_the_operator_within_the_autoscaler_always_pass(shape):
    a = user_cluster("a", replicas=2)
    group = worker_group_of(a, 2)
    auto = {"metadata": {"name": "a"}, "spec": {"cluster": "a", "minimum": 0, "maximum": 2}}
    crowded = usage(a, user_cluster("b", replicas=2), user_cluster("c", replicas=2), groups=(group,),
                    autoscalers=(auto,))  # over the total already (made before the webhook)
    down = worker_group_of(a, 1)
    assert validate(request("daskworkergroups", "UPDATE", down, group), shape, TRUST, crowded).allowed
    up = worker_group_of(a, 2)
    assert validate(request("daskworkergroups", "UPDATE", up, down, caller=Caller(OPERATOR)), shape, TRUST,
                    crowded).allowed


def test_scale_subresource_of_a_user_cluster_counts(shape):
    a = user_cluster("a", replicas=2)
    now = usage(a, user_cluster("b", replicas=2), user_cluster("x", replicas=2))
    scale = {"kind": "Scale", "metadata": {"name": "a"}, "spec": {"replicas": 2}}
    assert validate(request("daskclusters", "UPDATE", scale, {**scale, "spec": {"replicas": 2}}, subresource="scale"),
                    shape, TRUST, now).allowed
    bigger = copy.deepcopy(now)
    assert validate(request("daskclusters", "UPDATE", {**scale, "spec": {"replicas": 1}}, scale, subresource="scale"),
                    shape, TRUST, bigger).allowed


def test_updates_that_add_no_workers_need_no_listing(shape):
    from dask_kubeflow.admission import needs_usage
    a = user_cluster("a", replicas=2)
    down, up = worker_group_of(a, 1), worker_group_of(a, 3)
    assert not needs_usage(request("daskworkergroups", "UPDATE", down, worker_group_of(a, 2)), shape)
    assert needs_usage(request("daskworkergroups", "UPDATE", up, worker_group_of(a, 2)), shape)
    assert needs_usage(request("daskclusters", "CREATE", a), shape)
    assert not needs_usage(request("daskclusters", "DELETE", old=a), shape)
