"""Issue 11 item 8 — rendered Dask pods ran as whatever the image says (root, in ghcr.io/dask/dask).

Every scheduler and worker pod render produces is checked against the Kubernetes "restricted" Pod
Security Standard by ``tests/render/pss.py`` (a pure checker of the spec's controls); a tier with
``security.profile: baseline`` must still meet "baseline". Attempts to weaken it through the
policy (root under restricted, privileged keys, env overrides) must be refused. On the code before
this change every rendered pod failed restricted (no securityContext at all).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dask_kubeflow.kube.names import ENV_BOKEH_WEBSOCKET_ORIGINS, GATEWAY_WEBSOCKET_ORIGIN_HOST
from dask_kubeflow.policy import NamespaceFacts, PolicyError, load_policy, parse_policy, resolve
from dask_kubeflow.render import render_namespace
from tests.render.pss import violations
from tests.render.validation import validate

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.yaml"
BASELINE_TIER = {"tiers": [{"name": "apt", "match": {"namespaces": ["apt-*"]},
                            "security": {"profile": "baseline", "runAsUser": None, "runAsGroup": None}}]}


def dask_pod_specs(document_or_policy, namespace: str) -> dict[str, dict]:
    policy = document_or_policy if not isinstance(document_or_policy, dict) else parse_policy(document_or_policy)
    facts = NamespaceFacts(namespace, {"dask.kubeflow.org/gpu": "true"} if namespace == "vision" else {},
                           "x@example.com")
    [cluster] = [o for o in render_namespace(facts, resolve(policy, facts)) if o["kind"] == "DaskCluster"]
    validate(cluster)  # the fields exist in the DaskCluster CRD's pod spec schema
    return {role: cluster["spec"][role]["spec"] for role in ("scheduler", "worker")}


@pytest.mark.parametrize("namespace", ["kubeflow-user-example-com", "vision", "team-42"])
def test_every_rendered_dask_pod_meets_restricted(namespace: str) -> None:
    for role, spec in dask_pod_specs(load_policy(EXAMPLE), namespace).items():
        assert violations(spec, "restricted") == [], f"{namespace} {role}"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000  # the Dask image's own user is root


def test_a_baseline_tier_meets_baseline_and_runs_as_the_image_user() -> None:
    for role, spec in dask_pod_specs(BASELINE_TIER, "apt-team").items():
        assert violations(spec, "baseline") == [], role
        assert "runAsNonRoot" not in spec["securityContext"] and "runAsUser" not in spec["securityContext"]
        assert spec["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False}
    # Namespaces the tier does not match keep restricted.
    assert all(violations(s) == [] for s in dask_pod_specs(BASELINE_TIER, "other").values())


def test_the_policy_cannot_weaken_restricted(attack) -> None:
    attempts = {
        "root under restricted": {"defaults": {"security": {"runAsUser": 0}}},
        "privileged flag": {"defaults": {"security": {"privileged": True}}},
        "raw securityContext": {"defaults": {"securityContext": {"runAsUser": 0}}},
        "host network": {"defaults": {"hostNetwork": True}},
        "capabilities": {"defaults": {"security": {"capabilities": {"add": ["SYS_ADMIN"]}}}},
        "unknown profile": {"defaults": {"security": {"profile": "privileged"}}},
        "tier root under restricted": {"tiers": [{"name": "t", "match": {"namespaces": ["*"]},
                                                  "security": {"runAsUser": 0}}]},
    }
    for label, document in attempts.items():
        try:
            parse_policy(document, "policy.yaml")
        except PolicyError as err:
            assert all(p.path and p.message for p in err.problems)
            attack.attempt(label, False)
        else:
            attack.attempt(label, True)
    # The dashboard's websocket origin is render's own setting: a policy env entry cannot reopen it.
    specs = dask_pod_specs({"defaults": {"env": {ENV_BOKEH_WEBSOCKET_ORIGINS: '["*"]'}}}, "team-42")
    env = {e["name"]: e["value"] for e in specs["scheduler"]["containers"][0]["env"]}
    attack.attempt("env override of allow_websocket_origin", json.loads(env[ENV_BOKEH_WEBSOCKET_ORIGINS]) != [
        GATEWAY_WEBSOCKET_ORIGIN_HOST])
    attack.assert_none_got_through()


def test_the_checker_refuses_what_the_old_rendering_produced() -> None:
    """The pod spec render produced before (no securityContext) fails restricted on each control."""
    old = {"automountServiceAccountToken": False, "containers": [{"name": "worker", "image": "ghcr.io/dask/dask"}]}
    found = violations(old, "restricted")
    assert [v.split(":")[0] for v in found] == [
        "allowPrivilegeEscalation != false", "runAsNonRoot != true", "seccompProfile", "unrestricted capabilities"]
    assert violations(old, "baseline") == []
    worse = {"hostNetwork": True, "securityContext": {"runAsUser": 0},
             "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
             "containers": [{"name": "c", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                             "ports": [{"containerPort": 80, "hostPort": 80}]}]}
    assert {v.split(":")[0] for v in violations(worse, "baseline")} == {
        "host namespaces", "hostPath volumes", "privileged", "capabilities", "hostPorts"}
