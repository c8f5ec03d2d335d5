"""``dask-kubeflow render``: the YAML stream an admin reviews or commits, and clear input errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.policy import NamespaceFacts

from .conftest import EXAMPLE_POLICY, REPO, render

GOLDEN = REPO / "tests" / "golden" / "render-kubeflow-user-example-com.yaml"
GOLDEN_ARGS = ["render", "--policy", "deploy/policy.example.yaml", "--namespace", "kubeflow-user-example-com",
               "--owner", "user@example.com"]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_prints_the_rendered_objects_as_a_yaml_stream(example_policy):
    result = invoke("render", "--policy", str(EXAMPLE_POLICY), "--namespace", "vision",
                    "--owner", "a.b@example.org", "--label", "dask.kubeflow.org/gpu=true", "--label", "team=cv")
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    facts = NamespaceFacts("vision", {"dask.kubeflow.org/gpu": "true", "team": "cv"}, "a.b@example.org")
    assert documents == render(example_policy, facts)
    assert documents[2]["metadata"]["labels"]["dask.kubeflow.org/tier"] == "gpu"


def test_owner_and_contributor_reach_the_policy(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("tiers:\n- name: corp\n  match: {owners: ['@corp.example']}\n  scaling: {maximum: 9}\n")
    result = invoke("render", "--policy", str(policy), "-n", "alice", "--owner", "alice@corp.example",
                    "--contributor", "bob@corp.example")
    assert result.exit_code == 0, result.output
    autoscaler = list(yaml.safe_load_all(result.stdout))[3]
    assert autoscaler["spec"]["maximum"] == 9


def test_disabled_tier_prints_nothing_and_says_why():
    result = invoke("render", "--policy", str(EXAMPLE_POLICY), "--namespace", "sandbox-bob")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "tier 'disabled', which is disabled" in result.stderr


def test_a_bad_label_is_refused_with_the_expected_form():
    result = invoke("render", "--policy", str(EXAMPLE_POLICY), "--namespace", "ns", "--label", "team")
    assert result.exit_code == 1
    assert "--label 'team' is not of the form key=value, e.g. --label team=ml" in result.stderr
    result = invoke("render", "--policy", str(EXAMPLE_POLICY), "--namespace", "ns", "--label", "team=m l")
    assert result.exit_code == 1
    assert "'m l' is not a valid label value" in result.stderr
    result = invoke("render", "--policy", str(EXAMPLE_POLICY), "--namespace", "ns", "--label", "bad key=x")
    assert "'bad key' is not a valid label key" in result.stderr


def test_a_bad_namespace_or_policy_is_refused_clearly(tmp_path):
    result = invoke("render", "--policy", str(EXAMPLE_POLICY), "--namespace", "Team_A")
    assert result.exit_code == 1 and "'Team_A' is not a valid namespace name" in result.stderr
    policy = tmp_path / "p.yaml"
    policy.write_text("defaults: {scaling: {maximum: 0}}\n")
    result = invoke("render", "--policy", str(policy), "--namespace", "ns")
    assert result.exit_code == 1
    assert "defaults.scaling.maximum" in result.stderr and "policy check" in result.stderr
    result = invoke("render", "--policy", str(tmp_path / "missing.yaml"), "--namespace", "ns")
    assert result.exit_code == 1 and "cannot read the file" in result.stderr


def _run_cli(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), *GOLDEN_ARGS], cwd=REPO, env=env,
                          check=True, capture_output=True, text=True).stdout


def test_golden_file_for_a_typical_namespace():
    """Reviewed output: a change to it must show up in the diff. Regenerate with UPDATE_GOLDEN=1."""
    result = invoke(*GOLDEN_ARGS)
    assert result.exit_code == 0, result.output
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(result.stdout)
    assert result.stdout == GOLDEN.read_text(), (
        f"render output changed; review `git diff {GOLDEN.relative_to(REPO)}` after UPDATE_GOLDEN=1")


def test_output_is_identical_across_processes_and_hash_seeds():
    assert _run_cli("1") == _run_cli("2") == GOLDEN.read_text()
