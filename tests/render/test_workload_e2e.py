"""End to end: a tier's volumes, envFrom and pod labels reach the Dask pods the upstream operator creates.

Rendered objects applied to the harness (API emulator + local pod runner + the real operator): the
workers and the scheduler see the ConfigMap mounted at its mountPath, share one claim's files (a
ReadWriteMany volume), get the Secret's keys as environment with the prefix, and their pods carry the
tier's labels and annotations (through spec.<component>.metadata). The pod runner has no mount
namespaces, so mountPaths are inside its work directory (tests/harness/podrunner/volumes.py).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from dask_kubernetes.operator import KubeCluster
from distributed import Client

from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import render_namespace
from tests.harness.stack import K8sStack, wait_for

pytestmark = pytest.mark.timeout(600)
STARTUP = 180  # generous: the machine is small and shared
WORKERS = {"dask.org/cluster-name": "dask-cluster", "dask.org/component": "worker"}
SCHEDULER = {"dask.org/cluster-name": "dask-cluster", "dask.org/component": "scheduler"}


def policy(mounts: Path) -> dict:
    return {"defaults": {
        "worker": {"threads": 1, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                               "limits": {"cpu": "1", "memory": "1Gi"}},
                   "volumeMounts": [{"name": "settings", "mountPath": str(mounts / "settings"), "readOnly": True},
                                    {"name": "shared", "mountPath": str(mounts / "shared")}]},
        "scheduler": {"volumeMounts": [{"name": "shared", "mountPath": str(mounts / "shared")}]},
        "scaling": {"minimum": 2, "maximum": 2, "idleAfter": "1h"},
        "pod": {
            "volumes": [{"name": "settings", "configMap": {"name": "team-settings"}},
                        {"name": "shared", "persistentVolumeClaim": {"claimName": "team-shared-rwx"}}],
            "envFrom": [{"secretRef": {"name": "s3-credentials"}, "prefix": "S3_"}],
            "labels": {"kueue.x-k8s.io/queue-name": "dask", "cost-centre": "ml-42"},
            "annotations": {"example.com/owner": "team ml"},
        },
    }}


@pytest.fixture(scope="module")
def namespace(k8s: K8sStack) -> str:
    ns = k8s.namespace("workload")
    k8s.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-settings"},
                "data": {"dataset.txt": "s3://team-bucket/corpus\n"}}, ns)
    k8s.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-credentials"}, "type": "Opaque",
                "data": {"ACCESS_KEY_ID": base64.b64encode(b"AKIAEXAMPLE").decode()}}, ns)
    facts = NamespaceFacts(ns, {}, "user@example.com")
    mounts = k8s.runner.workdir / "mnt" / ns
    for manifest in render_namespace(facts, resolve(parse_policy(policy(mounts)), facts)):
        k8s.create(manifest, ns)
    wait_for(lambda: len(k8s.runner.processes(ns, WORKERS)) == 2, timeout=STARTUP,
             what=f"two worker pods in {ns}" + "\n" + k8s.describe())
    return ns


def test_workers_see_the_mounted_configmap_the_shared_claim_and_the_secret_env(k8s: K8sStack, namespace: str) -> None:
    mounts = k8s.runner.workdir / "mnt" / namespace

    def look(dask_worker) -> tuple[str, str | None, str]:  # runs on each worker
        name = dask_worker.name
        (Path(mounts) / "shared" / f"{name}.txt").write_text(name)  # written through the claim
        return ((Path(mounts) / "settings" / "dataset.txt").read_text(), os.environ.get("S3_ACCESS_KEY_ID"), name)

    with KubeCluster.from_name("dask-cluster", namespace=namespace) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=STARTUP)
        seen = client.run(look)
        assert {(text, key) for text, key, _ in seen.values()} == {("s3://team-bucket/corpus\n", "AKIAEXAMPLE")}
        names = sorted(name for _, _, name in seen.values())
        # Each worker pod's file is visible to the scheduler pod: one ReadWriteMany claim.
        on_scheduler = client.run_on_scheduler(lambda: sorted(p.name for p in (Path(mounts) / "shared").iterdir()))
        assert on_scheduler == [f"{name}.txt" for name in names]


def test_the_pods_carry_the_tiers_labels_and_annotations(k8s: K8sStack, namespace: str) -> None:
    for labels in (WORKERS, SCHEDULER):
        pods = list(k8s.api().get("pods", namespace=namespace, label_selector=labels))
        assert pods
        for pod in pods:
            assert {"kueue.x-k8s.io/queue-name": "dask", "cost-centre": "ml-42"}.items() <= pod.labels.items()
            assert pod.annotations.get("example.com/owner") == "team ml"
            container = pod.raw["spec"]["containers"][0]
            assert container["envFrom"] == [{"secretRef": {"name": "s3-credentials"}, "prefix": "S3_"}]
