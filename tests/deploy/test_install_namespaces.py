"""Every namespace the rendered manifests name comes from the install's configuration, not constants.

For each overlay (and an admin's overlay moving the install elsewhere): build it, take the environment the
controller Deployment gets, let ``dask-kubeflow controller`` turn it into its settings (the Platform every
reconcile renders with) and ``dask-kubeflow render`` print the same namespace, then evaluate the NetworkPolicy
with the harness' spec evaluator against pods labelled as the overlay's own Deployments label them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.kube.names import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    ENV_INSTALL_NAMESPACE,
    ENV_METRICS_NAMESPACE,
    OPERATOR_CLUSTER_LABEL,
    OPERATOR_COMPONENT_LABEL,
    SCHEDULER_PORT,
    SCHEDULER_PORT_NAME,
)
from dask_kubeflow.policy import NamespaceFacts, load_policy, resolve
from dask_kubeflow.render import Platform, render_namespace
from tests.harness.netpol import ContainerPort, Network, Pod, policy_from_manifest, problems

from .test_kustomize import DEPLOY, REPO, build, custom_overlay, env_of, expanded_args, one

TEAM = "team-a"
CASES = {
    "kubeflow overlay": ("overlays/kubeflow", None),
    "standalone overlay": ("overlays/standalone", None),
    "kubeflow overlay into dask-system": ("overlays/kubeflow", {"INSTALL_NAMESPACE": "dask-system",
                                                                "OPERATOR_NAMESPACE": "dask-system",
                                                                "METRICS_NAMESPACE": "prometheus"}),
    "standalone overlay into kubeflow": ("overlays/standalone", {"INSTALL_NAMESPACE": "kubeflow",
                                                                 "OPERATOR_NAMESPACE": "kubeflow"}),
}


def objects_of(case: str, tmp_path: Path) -> list[dict]:
    base, changes = CASES[case]
    return build(f"deploy/{base}") if changes is None else custom_overlay(tmp_path, base, changes)


def controller_env(objects: list[dict]) -> dict[str, str]:
    """The controller container's environment as the kubelet sets it (fieldRef metadata.namespace resolved)."""
    namespace = one(objects, "Deployment", "dask-kubeflow-controller")["metadata"]["namespace"]
    return {k: (v if isinstance(v, str) else namespace) for k, v in env_of(objects, "dask-kubeflow-controller").items()}


def controller_settings(objects: list[dict], env: dict[str, str], monkeypatch):
    """What ``dask-kubeflow controller`` with the Deployment's args and env would run with."""
    from dask_kubeflow.cli import controller_cmd
    from dask_kubeflow.controller import runner

    seen: list = []
    monkeypatch.setattr(runner, "run", seen.append)
    monkeypatch.setattr(controller_cmd, "_check_credentials", lambda: None)  # no API server in this test
    # kopf.configure would add a root log handler on CliRunner's stderr, closed once invoke returns: later
    # log lines of this test process (the emulator's threads) would then fail with "I/O operation on closed file".
    import kopf

    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    for key in list(os.environ):
        if key.startswith("DASK_KUBEFLOW_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, expanded_args(objects, "dask-kubeflow-controller"))
    assert result.exit_code == 0, result.output
    [settings] = seen
    return settings


def pod_of(objects: list[dict], deployment: str, name: str) -> Pod:
    obj = one(objects, "Deployment", deployment)
    return Pod(obj["metadata"]["namespace"], name, f"10.9.0.{len(name)}", obj["spec"]["template"]["metadata"]["labels"])


def network(objects: list[dict], policy_object: dict, metrics_namespace: str | None) -> tuple[Network, dict[str, Pod]]:
    pods = {
        "scheduler": Pod(TEAM, "dask-cluster-scheduler", "10.9.1.1",
                         {OPERATOR_CLUSTER_LABEL: "dask-cluster", OPERATOR_COMPONENT_LABEL: "scheduler"},
                         (ContainerPort(SCHEDULER_PORT_NAME, SCHEDULER_PORT), ContainerPort(DASHBOARD_PORT_NAME, DASHBOARD_PORT))),
        "gateway": pod_of(objects, "dask-kubeflow-gateway", "gateway"),
        "operator": pod_of(objects, "dask-kubernetes-operator", "operator-pod"),
        "stranger": Pod("someone-else", "notebook-0", "10.9.2.1", {"notebook-name": "notebook"}),
    }
    if metrics_namespace:
        pods["prometheus"] = Pod(metrics_namespace, "prometheus-0", "10.9.3.1", {"app.kubernetes.io/name": "prometheus"})
    return Network(pods.values(), {}, [policy_from_manifest(policy_object)]), pods


def rendered_by_cli(env: dict[str, str]) -> list[dict]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DASK_KUBEFLOW_")}
    result = subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), "render", "--policy",
                             str(DEPLOY / "policy.example.yaml"), "--namespace", TEAM],
                            capture_output=True, text=True, env={**clean, **env})
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


@pytest.mark.parametrize("case", list(CASES))
def test_the_network_policy_admits_the_installed_gateway_operator_and_prometheus(case, tmp_path, monkeypatch):
    objects = objects_of(case, tmp_path)
    env = controller_env(objects)
    settings = controller_settings(objects, env, monkeypatch)
    assert settings.policy_namespace == env[ENV_INSTALL_NAMESPACE]  # the policy ConfigMap of this install
    kubeflow = CASES[case][0] == "overlays/kubeflow"  # Kubeflow's menu lives in namespace kubeflow, wherever we are
    assert settings.dashboard_link == ("kubeflow/centraldashboard-config" if kubeflow else None)
    facts = NamespaceFacts(TEAM)
    controller_objects = render_namespace(facts, resolve(load_policy(DEPLOY / "policy.example.yaml"), facts),
                                          settings.platform)
    assert rendered_by_cli(env) == controller_objects  # render reads the same environment as the controller
    [policy_object] = [o for o in controller_objects if o["kind"] == "NetworkPolicy"]
    assert problems(policy_object) == []
    net, pods = network(objects, policy_object, env.get(ENV_METRICS_NAMESPACE))

    scheduler = pods["scheduler"]
    assert net.check(pods["gateway"], scheduler, DASHBOARD_PORT), net.check(pods["gateway"], scheduler, DASHBOARD_PORT).reason
    for port in (SCHEDULER_PORT, DASHBOARD_PORT):  # the operator's comm and its /api/v1/adaptive_target
        assert net.check(pods["operator"], scheduler, port), net.check(pods["operator"], scheduler, port).reason
    if "prometheus" in pods:
        assert net.check(pods["prometheus"], scheduler, DASHBOARD_PORT)
        assert not net.check(pods["prometheus"], scheduler, SCHEDULER_PORT)
    assert not net.check(pods["gateway"], scheduler, SCHEDULER_PORT)
    assert not net.check(pods["stranger"], scheduler, DASHBOARD_PORT)


def test_the_default_platform_would_lock_out_a_kubeflow_install(tmp_path):
    """What the controller rendered before it passed its Platform on: deploy/base's default namespaces,
    which shut the gateway and the operator out of every scheduler once installed into kubeflow."""
    objects = build("deploy/overlays/kubeflow")
    facts = NamespaceFacts(TEAM)
    [policy_object] = [o for o in render_namespace(facts, resolve(load_policy(DEPLOY / "policy.example.yaml"), facts),
                                                   Platform()) if o["kind"] == "NetworkPolicy"]
    net, pods = network(objects, policy_object, None)
    assert not net.check(pods["gateway"], pods["scheduler"], DASHBOARD_PORT)
    assert not net.check(pods["operator"], pods["scheduler"], SCHEDULER_PORT)


# Program and package names that happen to equal the default install namespace (not namespaces).
NOT_NAMESPACES = {("__init__.py", "dask-kubeflow"), ("cli/app.py", "dask-kubeflow")}


def test_no_namespace_name_is_a_constant_in_src_outside_kube_names():
    src = REPO / "src" / "dask_kubeflow"
    found = []
    for path in sorted(src.rglob("*.py")):
        relative = path.relative_to(src).as_posix()
        if relative == "kube/names.py":
            continue  # the defaults, each overridden by DASK_KUBEFLOW_*_NAMESPACE or a flag
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ("dask-operator", "dask-kubeflow", "kubeflow"):
                if (relative, node.value) not in NOT_NAMESPACES:
                    found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert not found, f"namespace names written as constants outside kube/names.py: {found}"
