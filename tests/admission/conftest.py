"""Shapes, callers and objects shared by the admission decision tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from dask_kubernetes.operator import make_cluster_spec

from dask_kubeflow.admission import Caller, Request, Trust
from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.render import render_namespace

CONTROLLER = "system:serviceaccount:dask-kubeflow:dask-kubeflow-controller"
OPERATOR = "system:serviceaccount:dask-operator:dask-kubernetes-operator"
TRUST = Trust(controller=frozenset({CONTROLLER}), operator=frozenset({OPERATOR}))
ALICE = Caller("alice@example.com", ("kubeflow-users", "system:authenticated"))
ADMIN = Caller("kubernetes-admin", ("system:masters", "system:authenticated"))
NAMESPACE = "alice"
POLICY = parse_policy({
    "defaults": {"scaling": {"maximum": 4}, "userClusters": {"maximum": 2, "totalWorkers": 6}},
    "tiers": [{"name": "small", "match": {"namespaces": ["alice"]},
               "scaling": {"maximum": 2},
               "worker": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                        "limits": {"cpu": "2", "memory": "4Gi"}}}},
              {"name": "curated", "match": {"namespaces": ["curated"]},
               "allowedImages": ["ghcr.io/dask/*"], "allowedServiceAccounts": ["default", "dask-runner"]}],
})
FACTS = NamespaceFacts(NAMESPACE, {}, "alice@example.com")


@pytest.fixture
def shape():
    return resolve(POLICY, FACTS)


def managed_objects() -> dict[str, dict[str, Any]]:
    """What the controller renders for alice: {kind: object}, with namespace set."""
    return {o["kind"]: o for o in render_namespace(FACTS, resolve(POLICY, FACTS))}


def user_cluster(name: str = "mine", replicas: int = 1, **spec_overrides: Any) -> dict[str, Any]:
    """A DaskCluster as KubeCluster(name=...) writes it."""
    spec = make_cluster_spec(name, n_workers=replicas, resources={"limits": {"cpu": "1", "memory": "2Gi"},
                                                                   "requests": {"cpu": "1", "memory": "2Gi"}})
    spec["metadata"]["namespace"] = NAMESPACE
    spec["spec"].update(spec_overrides)
    return spec


def request(resource: str, operation: str, obj: Any = None, old: Any = None, caller: Caller = ALICE,
            subresource: str = "", name: str | None = None) -> Request:
    name = name or ((obj or old or {}).get("metadata") or {}).get("name", "")
    return Request(resource=resource, operation=operation, namespace=NAMESPACE, name=name, caller=caller,
                   obj=copy.deepcopy(obj), old=copy.deepcopy(old), subresource=subresource)


def worker_group_of(cluster: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
    """The DaskWorkerGroup the upstream operator makes from a DaskCluster (copies labels and spec)."""
    name = cluster["metadata"]["name"]
    worker = copy.deepcopy(cluster["spec"]["worker"])
    if replicas is not None:
        worker["replicas"] = replicas
    return {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskWorkerGroup",
            "metadata": {"name": f"{name}-default", "namespace": NAMESPACE,
                         "labels": {**cluster["metadata"].get("labels", {}), "dask.org/cluster-name": name,
                                    "dask.org/component": "workergroup"}},
            "spec": {"cluster": name, "worker": worker}}
