"""Policy fields for real workloads (policy/workload.py, policy/affinity.py): they validate with the
file, the field path and the fix, render into the DaskCluster where the operator takes them to the
pods, and the result validates against the DaskCluster CRD schema."""

from __future__ import annotations

import pytest

from dask_kubeflow.admission.objects import PodSpecAt
from dask_kubeflow.admission.podsecurity import pod_security_problems
from dask_kubeflow.policy import NamespaceFacts, PolicyError, parse_policy, resolve
from dask_kubeflow.render import render_namespace

from .conftest import by_kind
from .validation import validate

FACTS = NamespaceFacts("team-a", {"data": "shared"}, "alice@example.com")
WORKLOAD = {
    "pod": {
        "volumes": [
            {"name": "shared", "persistentVolumeClaim": {"claimName": "team-shared-rwx"}},
            {"name": "settings", "configMap": {"name": "dask-settings", "items": [{"key": "a", "path": "a.yaml"}]}},
            {"name": "creds", "secret": {"secretName": "s3-credentials", "defaultMode": 0o440}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "fast", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        ],
        "envFrom": [{"secretRef": {"name": "s3-credentials"}, "prefix": "S3_"},
                    {"configMapRef": {"name": "dask-settings", "optional": True}}],
        "imagePullSecrets": ["regcred"],
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                       "values": ["m5.xlarge"]}]}]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50, "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"dask.org/component": "worker"}}}}]},
        },
        "priorityClassName": "batch-low",
        "labels": {"kueue.x-k8s.io/queue-name": "dask", "cost-centre": "ml-42"},
        "annotations": {"example.com/owner": "Team ML, room 4"},
    },
    "worker": {"volumeMounts": [{"name": "shared", "mountPath": "/shared"}, {"name": "scratch", "mountPath": "/scratch"},
                                {"name": "creds", "mountPath": "/var/run/creds", "readOnly": True}],
               "serviceAccountName": "s3-reader"},
    "scheduler": {"volumeMounts": [{"name": "settings", "mountPath": "/etc/dask", "readOnly": True}]},
    "allowedServiceAccounts": ["default", "s3-reader"],
}


def cluster_of(policy_doc: dict) -> dict:
    policy = parse_policy(policy_doc, "policy.yaml")
    return by_kind(render_namespace(FACTS, resolve(policy, FACTS)))["DaskCluster"]


def problems(doc: dict) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, "policy.yaml")
    return [str(p) for p in info.value.problems]


def test_workload_fields_render_into_both_pod_specs_and_validate():
    cluster = cluster_of({"defaults": WORKLOAD})
    validate(cluster)
    scheduler, worker = cluster["spec"]["scheduler"], cluster["spec"]["worker"]
    for component in (scheduler, worker):
        pod = component["spec"]
        assert [v["name"] for v in pod["volumes"]] == ["shared", "settings", "creds", "scratch", "fast"]
        assert pod["volumes"][0] == {"name": "shared", "persistentVolumeClaim": {"claimName": "team-shared-rwx"}}
        assert pod["volumes"][3] == {"name": "scratch", "emptyDir": {}}
        assert pod["volumes"][4] == {"name": "fast", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        assert pod["priorityClassName"] == "batch-low"
        assert pod["affinity"] == WORKLOAD["pod"]["affinity"]
        assert pod["automountServiceAccountToken"] is False  # a ServiceAccount for identity, still no API token
        assert pod["containers"][0]["envFrom"] == WORKLOAD["pod"]["envFrom"]
        # The operator copies spec.<component>.metadata onto its Deployments and pods.
        assert component["metadata"] == {"labels": WORKLOAD["pod"]["labels"],
                                         "annotations": WORKLOAD["pod"]["annotations"]}
    assert worker["spec"]["serviceAccountName"] == "s3-reader"
    assert "serviceAccountName" not in scheduler["spec"]
    assert worker["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "shared", "mountPath": "/shared"}, {"name": "scratch", "mountPath": "/scratch"},
        {"name": "creds", "mountPath": "/var/run/creds", "readOnly": True}]
    assert scheduler["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "settings", "mountPath": "/etc/dask", "readOnly": True}]


def test_nothing_new_is_rendered_when_the_fields_are_unset():
    cluster = cluster_of({})
    for component in (cluster["spec"]["scheduler"], cluster["spec"]["worker"]):
        assert "metadata" not in component
        assert not {"volumes", "imagePullSecrets", "affinity", "priorityClassName", "serviceAccountName"} & set(
            component["spec"])
        assert not {"volumeMounts", "envFrom"} & set(component["spec"]["containers"][0])


def test_admission_accepts_what_render_produces_for_the_tier():
    policy = parse_policy({"defaults": WORKLOAD})
    shape = resolve(policy, FACTS)
    cluster = by_kind(render_namespace(FACTS, shape))["DaskCluster"]
    for component in ("scheduler", "worker"):
        at = PodSpecAt(("spec", component, "spec"), component)
        assert pod_security_problems(cluster, at, shape) == []


def test_a_tier_mounts_a_volume_the_defaults_declare():
    doc = {"defaults": {"pod": {"volumes": [{"name": "shared", "persistentVolumeClaim": {"claimName": "rwx"}}]}},
           "tiers": [{"name": "data", "match": {"labels": {"data": "shared"}},
                      "worker": {"volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}}]}
    worker = cluster_of(doc)["spec"]["worker"]["spec"]
    assert worker["containers"][0]["volumeMounts"] == [{"name": "shared", "mountPath": "/shared"}]
    assert worker["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "rwx"}}]


@pytest.mark.parametrize("doc, where, fix", [
    ({"worker": {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}},
     "defaults: worker.volumeMounts[0] names volume 'data'", "add it to pod.volumes or fix the name"),
    ({"scheduler": {"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
      "pod": {"volumes": [{"name": "other", "emptyDir": {}}]}},
     "defaults: scheduler.volumeMounts[0] names volume 'data', which pod.volumes does not declare (other)", "add it"),
    ({"worker": {"serviceAccountName": "s3-reader"}},
     "defaults: worker.serviceAccountName 's3-reader' is not in allowedServiceAccounts ['default']", "add it there"),
    ({"allowedServiceAccounts": ["s3-reader"]},
     "worker.serviceAccountName 'default' is not in allowedServiceAccounts", "add it there"),
    ({"pod": {"volumes": [{"name": "node", "hostPath": {"path": "/"}}]}},
     "defaults.pod.volumes[0]: volume source hostPath is not allowed", "use persistentVolumeClaim"),
    ({"pod": {"volumes": [{"name": "x"}]}}, "defaults.pod.volumes[0]: give exactly one of", "persistentVolumeClaim"),
    ({"pod": {"volumes": [{"name": "x", "emptyDir": {}}, {"name": "x", "emptyDir": {}}]}},
     "defaults.pod: volumes: 'x' is declared twice", "its own name"),
    ({"pod": {"volumes": [{"name": "Data", "emptyDir": {}}]}}, "defaults.pod.volumes[0].name", "e.g. shared-data"),
    ({"pod": {"volumes": [{"name": "x", "emptyDir": {"sizeLimit": "lots"}}]}},
     "defaults.pod.volumes[0].emptyDir.sizeLimit", "e.g. 10Gi"),
    ({"pod": {"volumes": [{"name": "x", "configMap": {"name": "c", "items": [{"key": "k", "path": "../etc"}]}}]}},
     "defaults.pod.volumes[0].configMap.items[0].path", "relative path without '..'"),
    ({"pod": {"volumes": [{"name": "x", "emptyDir": {}}]}, "worker": {"volumeMounts": [{"name": "x", "mountPath": "data"}]}},
     "defaults.worker.volumeMounts[0].mountPath", "absolute directory"),
    ({"pod": {"volumes": [{"name": "x", "emptyDir": {}}]},
      "worker": {"volumeMounts": [{"name": "x", "mountPath": "/d"}, {"name": "x", "mountPath": "/d/"}]}},
     "worker.volumeMounts mounts two volumes at '/d'", "its own mountPath"),
    ({"pod": {"envFrom": [{"prefix": "S3_"}]}}, "defaults.pod.envFrom[0]: give exactly one of secretRef or configMapRef",
     "with a name"),
    ({"pod": {"envFrom": [{"secretRef": {"name": "s"}, "prefix": "3x"}]}}, "defaults.pod.envFrom[0]: prefix '3x'", "S3_"),
    ({"pod": {"imagePullSecrets": ["Reg Cred"]}}, "defaults.pod.imagePullSecrets", "lowercase letters"),
    ({"pod": {"priorityClassName": "High!"}}, "defaults.pod.priorityClassName", "lowercase letters"),
    ({"pod": {"labels": {"dask.org/component": "worker"}}}, "defaults.pod.labels: 'dask.org/component' is set by",
     "remove it from pod.labels"),
    ({"pod": {"labels": {"dask.kubeflow.org/tier": "gpu"}}}, "defaults.pod.labels", "remove it"),
    ({"pod": {"labels": {"app.kubernetes.io/managed-by": "me"}}}, "defaults.pod.labels", "remove it"),
    ({"pod": {"annotations": {"sidecar.istio.io/inject": "true"}}}, "defaults.pod.annotations", "remove it"),
    ({"pod": {"labels": {"team": "not a value"}}}, "defaults.pod.labels: team='not a value'", "at most 63"),
    ({"pod": {"annotations": {"team": {"a": 1}}}}, "defaults.pod.annotations", "one piece of text"),
    ({"pod": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}}}},
     "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]", "at least one entry"),
    ({"pod": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": []}}}}}, "nodeSelectorTerms is empty", "give at least one term"),
    ({"pod": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"a": "b"}}}]}}}},
     "podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "required key is missing"),
    ({"pod": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 500, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}}}},
     "preferredDuringSchedulingIgnoredDuringExecution[0].weight", "100"),
    ({"pod": {"affinity": {"nodeAfinity": {}}}}, "defaults.pod.affinity.nodeAfinity", "check its spelling"),
])
def test_bad_workload_fields_name_the_file_the_field_and_the_fix(doc, where, fix):
    found = problems({"defaults": doc})
    assert any(p.startswith("policy.yaml: ") and where in p and fix in p for p in found), found


def test_a_tier_problem_names_the_tier():
    found = problems({"tiers": [{"name": "data", "match": {"namespaces": ["team-*"]},
                                 "worker": {"volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}}]})
    assert found == ["policy.yaml: tiers[0] (data): worker.volumeMounts[0] names volume 'shared', which pod.volumes "
                     "does not declare (none declared); add it to pod.volumes or fix the name"]
