"""docs/install-kubeflow.md: the overlay it tells admins to write builds, and its install, verify and
uninstall steps run, in order, against the API emulator (kubectl and python exactly as written)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import kr8s
import pytest
import yaml

from dask_kubeflow.controller.dashboard_link import DASK_MENU_ITEM

from ..controller.conftest import controller_starter, make_profile, wait_for

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "install-kubeflow.md").read_text()
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"
DASHBOARD_CONFIG = REPO / "reference" / "kubeflow" / "examples" / "centraldashboard-config-kserve.yaml"
POLICY = "defaults:\n  scaling: {maximum: 7}\n"


def doc_file(name: str) -> str:
    """A code block of the doc whose first line is ``# my-overlay/<name>``."""
    block = re.search(rf"```(?:yaml|sh)\n(# my-overlay/{re.escape(name)}\n.*?)```", DOC, re.DOTALL)
    assert block, f"the doc's my-overlay/{name} example is missing"
    return block[1]


def doc_steps(step: str) -> str:
    block = re.search(rf"<!-- emulator-test: {step} -->\n```sh\n(.*?)```", DOC, re.DOTALL)
    assert block, f"the doc has no '{step}' block marked for this test"
    return block[1]


def write_overlay(tmp_path: Path) -> Path:
    overlay = tmp_path / "my-overlay"
    overlay.mkdir()
    deploy = os.path.relpath(REPO / "deploy", overlay)  # kustomize wants relative paths
    (overlay / "kustomization.yaml").write_text(doc_file("kustomization.yaml").replace("../deploy", deploy))
    (overlay / "params.env").write_text(doc_file("params.env"))
    (overlay / "my-policy.yaml").write_text(POLICY)
    return overlay


def run_steps(step: str, cwd: Path, kubeconfig: Path) -> str:
    return run_script(doc_steps(step), cwd, kubeconfig, f"the doc's {step} steps")


def run_script(script: str, cwd: Path, kubeconfig: Path, what: str) -> str:
    """Run a shell block with bash, stopping at the first failing command. Each run gets a new
    kubectl discovery cache, as an admin's next session would: a stale one hides a resource type the
    cluster no longer has (after the CRDs are deleted) and lets a command pass that would fail."""
    cache = tempfile.mkdtemp(prefix="kube-cache-", dir=cwd)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "KUBECACHEDIR": cache}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{what} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_documented_overlay_builds_with_the_admins_settings_and_policy(tmp_path):
    overlay = write_overlay(tmp_path)
    result = subprocess.run([str(KUBECTL), "kustomize", str(overlay)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    [configmap] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "dask-kubeflow-policy"]
    assert configmap["data"] == {"policy.yaml": POLICY} and configmap["metadata"]["namespace"] == "kubeflow"
    images = {c["image"] for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("dask-kubeflow")
              for c in o["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.com/dask-kubeflow:0.1.0"}
    assert not [o for o in objects if o["metadata"]["name"] == "dask-kubeflow-params"]  # build-time only


def test_every_params_key_the_doc_lists_is_in_params_env():
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", DOC, re.MULTILINE))
    for overlay in ("kubeflow", "standalone"):
        text = (REPO / "deploy" / "overlays" / overlay / "params.env").read_text()
        assert documented == {line.split("=", 1)[0] for line in text.splitlines() if line}, overlay


def test_every_repository_path_the_doc_names_exists():
    paths = set(re.findall(r"\b((?:deploy|src|docs)/[\w./-]+\w)", DOC))
    assert paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"docs/install-kubeflow.md names files that do not exist: {missing}"


def test_no_helm_and_no_in_repository_edits():
    assert "helm install" not in DOC and "kustomize edit" not in DOC
    assert "kubectl kustomize my-overlay | kubectl apply --server-side -f -" in doc_steps("install")


def _links(emulator) -> list[dict]:
    return json.loads(emulator.get("configmaps", "centraldashboard-config", "kubeflow")["data"]["links"])["menuLinks"]


def _installed_controller_command(emulator) -> tuple[list[str], dict[str, str]]:
    """The controller's args and env as the installed Deployment gives them to its container."""
    deployment = emulator.get("deployments", "dask-kubeflow-controller", "kubeflow")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", deployment["metadata"]["namespace"]) for e in container["env"]}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in container["args"]]
    assert args[0] == "controller"
    # Ports: the test's own free ones instead of 8080/8081 (other tests share this machine).
    return [a for a in args[1:] if not a.startswith(("--metrics-port=", "--liveness="))], env


def _start_with_free_ports(start, args: list[str]):
    """controller_starter picks ports free on 127.0.0.1, the controller binds 0.0.0.0: a port another
    test's pod holds on a 127.N address collides. Take new ports then (at most three tries)."""
    for attempt in range(3):
        try:
            return start(*args)
        except AssertionError as err:
            if "address already in use" not in str(err) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _act_as_cert_manager(emulator, tmp_path: Path, ca, env: dict[str, str]) -> None:
    """What cert-manager does on Kubeflow: the webhooks' certificate (here from the test CA, in a
    directory instead of the Secret the Deployment mounts) and its CA injected into both webhook
    configurations; the emulator reaches the webhook Service at the controller's port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    namespace = emulator.get("deployments", "dask-kubeflow-controller", "kubeflow")["metadata"]["namespace"]
    ca.issue([f"dask-kubeflow-webhook.{namespace}.svc"]).write(tmp_path / "webhook-cert")
    env.update(DASK_KUBEFLOW_WEBHOOK_CERT_DIR=str(tmp_path / "webhook-cert"), DASK_KUBEFLOW_WEBHOOK_PORT=str(port),
               DASK_KUBEFLOW_WEBHOOK_ADDRESS="127.0.0.1")
    for plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        config = emulator.get(plural, "dask-kubeflow")
        for hook in config["webhooks"]:
            hook["clientConfig"]["caBundle"] = ca.bundle
        url = f"{emulator.url}/apis/admissionregistration.k8s.io/v1/{plural}/dask-kubeflow"
        assert httpx.put(url, json=config, timeout=30).status_code == 200
    emulator.webhook_route(f"dask-kubeflow-webhook.{namespace}:443", f"127.0.0.1:{port}")


@pytest.mark.timeout(300)
def test_install_verify_run_and_uninstall_steps_succeed_in_order(emulator, tmp_path, monkeypatch,
                                                                   certificate_authority):
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}})  # Kubeflow's
    dashboard = yaml.safe_load(DASHBOARD_CONFIG.read_text())
    dashboard["metadata"] = {"name": "centraldashboard-config", "namespace": "kubeflow"}
    emulator.create(dashboard)
    kubeflow_links = _links(emulator)
    write_overlay(tmp_path)

    run_steps("install", tmp_path, emulator.kubeconfig)
    assert "dask-kubernetes-operator" in run_steps("verify", tmp_path, emulator.kubeconfig)

    # The controller, started with the installed Deployment's args and env, gives a profile its cluster.
    args, env = _installed_controller_command(emulator)
    _act_as_cert_manager(emulator, tmp_path, certificate_authority, env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    starter = controller_starter(Path(emulator.kubeconfig), tmp_path)
    start = next(starter)
    try:
        controller = _start_with_free_ports(start, args)
        make_profile(kr8s.api(kubeconfig=str(emulator.kubeconfig)), "alice")
        wait_for(lambda: emulator.get("daskclusters", "dask-cluster", "alice"), "alice's DaskCluster",
                 controller=controller)
        autoscaler = wait_for(lambda: emulator.get("daskautoscalers", "dask-cluster", "alice"),
                              "alice's DaskAutoscaler", controller=controller)
        assert autoscaler["spec"]["maximum"] == 7  # the admin's policy, from the installed ConfigMap
    finally:
        next(starter, None)  # stops the controller
    # What the controller does at start-up (dashboard_link.ensure_dashboard_link), run by hand here.
    subprocess.run([sys.executable, "-m", "dask_kubeflow.controller.dashboard_link"], check=True,
                   env={**os.environ, "KUBECONFIG": str(emulator.kubeconfig)}, capture_output=True)
    assert _links(emulator) == [*kubeflow_links, DASK_MENU_ITEM]

    run_steps("uninstall", tmp_path, emulator.kubeconfig)
    run_steps("uninstall", tmp_path, emulator.kubeconfig)  # again: nothing left to remove is no failure

    assert _links(emulator) == kubeflow_links  # the KServe item stays, ours is gone
    assert emulator.get("namespaces", "kubeflow") is not None  # never ours to delete
    for plural in ("deployments", "serviceaccounts", "configmaps", "services", "roles", "rolebindings",
                   "virtualservices", "authorizationpolicies"):
        assert not emulator.objects(plural, label_selector="app.kubernetes.io/part-of=dask-kubeflow"), plural
    for plural in ("clusterroles", "clusterrolebindings"):
        assert not emulator.objects(plural, label_selector="app.kubernetes.io/part-of=dask-kubeflow"), plural
    assert not [c for c in emulator.objects("customresourcedefinitions") if c["spec"]["group"] == "kubernetes.dask.org"]
    for plural in ("poddefaults", "networkpolicies", "configmaps"):
        assert not emulator.objects(plural, "alice", "app.kubernetes.io/managed-by=dask-kubeflow"), plural


def test_the_documented_overlay_works_over_the_standalone_overlay_too(tmp_path):
    """What the doc says to change for standalone: the overlay path and the policy's namespace."""
    overlay = write_overlay(tmp_path)
    text = (overlay / "kustomization.yaml").read_text()
    assert "overlays/kubeflow" in text and "    namespace: kubeflow\n" in text
    (overlay / "kustomization.yaml").write_text(
        text.replace("overlays/kubeflow", "overlays/standalone").replace("    namespace: kubeflow\n",
                                                                         "    namespace: dask-system\n"))
    result = subprocess.run([str(KUBECTL), "kustomize", str(overlay)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    [configmap] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "dask-kubeflow-policy"]
    assert configmap["data"] == {"policy.yaml": POLICY} and configmap["metadata"]["namespace"] == "dask-system"
