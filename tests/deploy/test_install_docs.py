"""docs/install-kubeflow.md: the commands and the overlay it tells admins to write really work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "install-kubeflow.md").read_text()
KUBECTL = Path(sys.executable).parent / "kubectl"


def test_pins_the_operator_version_this_package_is_built_against():
    pinned = re.search(r"--version (\S+) --namespace dask-operator", DOC)
    assert pinned, "the helm install command with --version must be in the doc"
    assert pinned[1] == version("dask-kubernetes") == "2026.3.0"


def test_the_documented_custom_overlay_builds_with_the_admins_policy(tmp_path):
    block = re.search(r"```yaml\n(# my-overlay/kustomization.yaml.*?)```", DOC, re.DOTALL)
    assert block, "the my-overlay example is missing from the doc"
    overlay = tmp_path / "my-overlay"
    overlay.mkdir()
    target = os.path.relpath(REPO / "deploy" / "overlays" / "kubeflow", overlay)  # kustomize wants relative
    text = block[1].replace("../deploy/overlays/kubeflow", target)
    (overlay / "kustomization.yaml").write_text(text)
    policy = "defaults:\n  scaling: {maximum: 7}\n"
    (overlay / "my-policy.yaml").write_text(policy)
    result = subprocess.run([str(KUBECTL), "kustomize", str(overlay)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    [configmap] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "dask-kubeflow-policy"]
    assert configmap["data"] == {"policy.yaml": policy}
    images = {c["image"] for o in objects if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.com/dask-kubeflow:0.1.0"}


def test_every_repository_path_the_doc_names_exists():
    paths = set(re.findall(r"\b((?:deploy|src|docs)/[\w./-]+\w)", DOC))
    assert paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"docs/install-kubeflow.md names files that do not exist: {missing}"
