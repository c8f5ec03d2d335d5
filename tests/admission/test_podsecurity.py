"""No way out of the pod sandbox; ServiceAccounts and images per tier."""

from __future__ import annotations

import pytest

from dask_kubeflow.admission import validate
from dask_kubeflow.policy import NamespaceFacts, resolve

from .conftest import POLICY, TRUST, request, user_cluster


@pytest.mark.parametrize("change, expected", [
    (lambda p: p["containers"][0].setdefault("securityContext", {}).update(privileged=True),
     "spec.worker.spec.containers[0].securityContext.privileged: true is not allowed"),
    (lambda p: p.update(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
     "spec.worker.spec.volumes[0].hostPath (/) mounts the node's files"),
    (lambda p: p.update(hostNetwork=True), "spec.worker.spec.hostNetwork: true would give the pod the node's network"),
    (lambda p: p.update(hostPID=True), "spec.worker.spec.hostPID: true"),
    (lambda p: p.update(hostIPC=True), "spec.worker.spec.hostIPC: true"),
    (lambda p: p["containers"][0].setdefault("securityContext", {}).update(capabilities={"add": ["NET_ADMIN"]}),
     "capabilities.add ['NET_ADMIN'] is not allowed"),
    (lambda p: p.update(initContainers=[{"name": "i", "image": "x", "securityContext": {"privileged": True}}]),
     "spec.worker.spec.initContainers[0].securityContext.privileged"),
    (lambda p: p.update(serviceAccountName="default-editor"),
     "spec.worker.spec.serviceAccountName 'default-editor' is not one tier 'small' allows (default)"),
])
def test_escapes_are_refused(shape, change, expected):
    cluster = user_cluster()
    change(cluster["spec"]["worker"]["spec"])
    verdict = validate(request("daskclusters", "CREATE", cluster), shape, TRUST)
    assert not verdict.allowed and expected in verdict.message


def test_dropping_capabilities_is_fine(shape):
    cluster = user_cluster()
    cluster["spec"]["worker"]["spec"]["containers"][0]["securityContext"] = {"capabilities": {"drop": ["ALL"]}}
    assert validate(request("daskclusters", "CREATE", cluster), shape, TRUST).allowed


def test_images_and_service_accounts_of_a_curated_tier():
    shape = resolve(POLICY, NamespaceFacts("curated"))
    cluster = user_cluster()
    cluster["metadata"]["namespace"] = "curated"
    cluster["spec"]["worker"]["spec"]["serviceAccountName"] = "dask-runner"
    assert validate(request("daskclusters", "CREATE", cluster), shape, TRUST).allowed
    cluster["spec"]["worker"]["spec"]["containers"][0]["image"] = "docker.io/evil/miner:latest"
    message = validate(request("daskclusters", "CREATE", cluster), shape, TRUST).message
    assert ("spec.worker.spec.containers[0].image 'docker.io/evil/miner:latest' is not among the images tier "
            "'curated' allows (ghcr.io/dask/*)") in message


def test_policy_refuses_a_tier_whose_own_image_is_not_allowed():
    from dask_kubeflow.policy import PolicyError, parse_policy
    with pytest.raises(PolicyError, match="matches none of allowedImages"):
        parse_policy({"defaults": {"allowedImages": ["registry.example.com/*"]}})
