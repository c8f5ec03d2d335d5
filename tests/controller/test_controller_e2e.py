"""End to end: a Profile appears, the controller applies its cluster, the real upstream operator
starts it as local Dask processes, and a notebook-style client computes on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import kr8s
import pytest
from distributed import Client

from tests.harness.stack import K8sStack

from .conftest import ControllerProcess, Profile, controller_starter, wait_for

pytestmark = pytest.mark.timeout(600)
STARTUP = 180.0


@pytest.fixture(scope="module")
def e2e_controller(k8s: K8sStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    # An empty cluster (the session's emulator is shared: Profiles left by other modules would each
    # get a running cluster), then the admin's policy: one warm worker, so no wait for a scale-up.
    k8s.emulator.reset()
    api = k8s.api()
    kr8s.objects.Namespace({"metadata": {"name": "dask-kubeflow"}}, api=api).create()
    kr8s.objects.ConfigMap({"metadata": {"name": "dask-kubeflow-policy", "namespace": "dask-kubeflow"},
                            "data": {"policy.yaml": "defaults:\n  scaling:\n    minimum: 1\n"}}, api=api).create()
    starter: Iterator[Callable[..., ControllerProcess]] = controller_starter(
        k8s.kubeconfig, tmp_path_factory.mktemp("controller"))
    start = next(starter)
    yield start()
    next(starter, None)  # stops the controller


def test_profile_gets_a_running_cluster_that_computes(k8s: K8sStack, e2e_controller: ControllerProcess) -> None:
    namespace = k8s.namespace("alice")
    Profile({"metadata": {"name": namespace}, "spec": {"owner": {"kind": "User", "name": "alice@example.com"}}},
            api=k8s.api()).create()
    wait_for(lambda: k8s.cluster_pids(namespace, "dask-cluster", "scheduler"), "the scheduler process",
             timeout=STARTUP, controller=e2e_controller)
    # Connect by the scheduler Service's cluster DNS name, as a notebook in the namespace does.
    # (Not KubeCluster.from_name: it waits for DaskCluster status.phase Running, which the upstream
    # operator can leave at Pending when its Service-status handler races its create handler.)
    client = Client(f"tcp://dask-cluster-scheduler.{namespace}:8786", timeout=STARTUP)
    try:
        future = client.submit(sum, range(101))
        assert future.result(timeout=STARTUP) == 5050
        assert k8s.cluster_pids(namespace, "dask-cluster", "worker")  # a real worker process computed it
    finally:
        client.close()
