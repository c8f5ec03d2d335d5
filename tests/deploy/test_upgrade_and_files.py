"""UPGRADE.md's apply takes over CRDs another manager (Helm) set; LICENSE and NOTICE cover what is vendored."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from .test_install_docs import run_script, write_overlay

REPO = Path(__file__).resolve().parents[2]
UPGRADE = (REPO / "UPGRADE.md").read_text()
KUBECTL = Path(sys.executable).parent / "kubectl"
CRD = "daskclusters.kubernetes.dask.org"


def upgrade_steps() -> str:
    block = re.search(r"<!-- emulator-test: upgrade -->\n```sh\n(.*?)```", UPGRADE, re.DOTALL)
    assert block, "UPGRADE.md has no 'upgrade' block marked for this test"
    return block[1]


def test_upgrade_apply_takes_over_crds_helm_changed(emulator, tmp_path):
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}})
    write_overlay(tmp_path)
    # A Helm-installed operator of another version: its manager owns a CRD field with another value.
    patch = '{"spec": {"names": {"shortNames": ["dc-old"]}}}'
    subprocess.run([str(KUBECTL), "--kubeconfig", str(emulator.kubeconfig), "patch", "crd", CRD, "--type=merge",
                    "--field-manager=helm", "-p", patch], check=True, capture_output=True)
    run_script(upgrade_steps(), tmp_path, emulator.kubeconfig, "UPGRADE.md's upgrade steps")
    chart_crd = yaml.safe_load((REPO / "deploy" / "operator" / "crds" / "daskcluster.yaml").read_text())
    assert emulator.get("customresourcedefinitions", CRD)["spec"]["names"]["shortNames"] == chart_crd["spec"]["names"]["shortNames"]
    assert emulator.get("deployments", "dask-kubernetes-operator", "kubeflow") is not None


def test_upgrade_names_the_helm_crd_caveat_and_the_forced_apply():
    assert "Helm never upgrades CRDs" in UPGRADE
    assert "kubectl apply --server-side --force-conflicts -f -" in upgrade_steps()


def test_license_is_the_one_pyproject_declares():
    assert 'license = "BSD-3-Clause"' in (REPO / "pyproject.toml").read_text()
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "Neither the name of the copyright holder" in text


def test_notice_names_every_vendored_file_and_its_licence():
    notice = (REPO / "NOTICE").read_text()
    vendored = sorted(str(p.relative_to(REPO)) for p in (REPO / "reference").rglob("*.yaml"))
    missing = [p for p in vendored if p not in notice]
    assert not missing, f"NOTICE does not name these vendored files: {missing}"
    assert "deploy/operator/crds/*.yaml" in notice and "deploy/operator/dask-kubernetes-operator.yaml" in notice
    for licence in re.findall(r"\((LICENSES/[\w.-]+)\)", notice):
        assert (REPO / licence).is_file(), licence
    assert "Apache License" in (REPO / "LICENSES" / "Apache-2.0.txt").read_text()
