"""The policy file: valid documents, every class of bad input, and tier matching order."""

import textwrap

import pytest

from dask_kubeflow.policy import (
    DEFAULT_CLUSTER_NAME,
    NamespaceFacts,
    Policy,
    PolicyError,
    load_policy,
    parse_policy,
    policy_from_env,
    resolve,
)

TIERED = {
    "defaults": {"worker": {"threads": 2}, "scaling": {"maximum": 3}},
    "tiers": [
        {"name": "gpu", "match": {"namespaces": ["ml-*"], "labels": {"gpu": "yes"}}, "worker": {"gpus": 1}},
        {"name": "research", "match": {"namespaces": ["ml-*", "lab-?"]}, "scaling": {"maximum": 10}},
        {"name": "partners", "match": {"owners": ["@partner.example", "carol@example.com"]},
         "worker": {"resources": {"limits": {"memory": "16Gi"}}}},
    ],
}


def problems_of(document) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, "policy.yaml")
    return [str(p) for p in caught.value.problems]


def test_builtin_defaults_follow_the_seed():
    shape = Policy.builtin().default_shape()
    assert shape.tier == "default"
    assert shape.settings.cluster_name == DEFAULT_CLUSTER_NAME == "dask-cluster"
    assert shape.settings.worker.threads == 4  # "4 by default in our setup"
    assert shape.settings.worker.processes == 1
    assert shape.settings.scaling.minimum == 0  # scale to zero when idle


def test_first_matching_tier_wins_and_overrides_only_what_it_sets():
    policy = parse_policy(TIERED)
    gpu = resolve(policy, NamespaceFacts("ml-vision", labels={"gpu": "yes"}))
    assert gpu.tier == "gpu"
    assert gpu.settings.worker.gpus == 1
    assert gpu.settings.worker.threads == 2  # from defaults
    assert gpu.settings.scaling.maximum == 3  # gpu tier did not set it, research's 10 does not leak in

    research = resolve(policy, NamespaceFacts("ml-nlp"))  # no gpu label: falls through to research
    assert (research.tier, research.settings.scaling.maximum, research.settings.worker.gpus) == ("research", 10, 0)
    assert resolve(policy, NamespaceFacts("lab-1")).tier == "research"
    assert resolve(policy, NamespaceFacts("lab-12")).tier == "default"  # ? is one character


def test_owner_matches_email_or_domain_case_insensitively():
    policy = parse_policy(TIERED)
    assert resolve(policy, NamespaceFacts("x", owner="Dave@Partner.Example")).tier == "partners"
    assert resolve(policy, NamespaceFacts("x", owner="carol@example.com")).tier == "partners"
    assert resolve(policy, NamespaceFacts("x", owner="eve@example.com")).tier == "default"
    assert resolve(policy, NamespaceFacts("x", owner=None)).tier == "default"
    partners = resolve(policy, NamespaceFacts("x", owner="carol@example.com"))
    # Overriding one limit keeps the other fields of the same mapping from defaults.
    assert partners.settings.worker.resources.limits.memory == "16Gi"
    assert partners.settings.worker.resources.requests.memory == "2Gi"


def test_match_kinds_combine_with_and():
    policy = parse_policy({"tiers": [{"name": "t", "match": {"namespaces": ["a-*"], "owners": ["@x.org"]}}]})
    assert resolve(policy, NamespaceFacts("a-1", owner="u@x.org")).tier == "t"
    assert resolve(policy, NamespaceFacts("a-1", owner="u@y.org")).tier == "default"
    assert resolve(policy, NamespaceFacts("b-1", owner="u@x.org")).tier == "default"


def test_derived_sizes():
    policy = parse_policy({"defaults": {"worker": {"processes": 2, "resources": {"limits": {"cpu": "3", "memory": "8Gi"}}}}})
    shape = policy.default_shape()
    assert shape.worker_memory_limit_per_process == 4 * 2**30
    assert shape.worker_cores == 3.0
    assert parse_policy({"defaults": {"scaling": {"idleAfter": "1h2m3s"}}}).default_shape().settings.scaling.idle_seconds == 3723


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"defaults": {"worker": {"thread": 2}}}, "policy.yaml: defaults.worker.thread: unknown key"),
        ({"defualts": {}}, "policy.yaml: defualts: unknown key; a policy has only defaults and tiers"),
        ({"defaults": {"worker": {"threads": 0}}}, "defaults.worker.threads: Input should be greater than or equal to 1"),
        ({"defaults": {"worker": {"resources": {"limits": {"memory": "4Gb"}}}}},
         "defaults.worker.resources.limits.memory: '4Gb' is not a Kubernetes quantity"),
        ({"defaults": {"scheduler": {"resources": {"requests": {"cpu": "-1"}}}}},
         "defaults.scheduler.resources.requests.cpu: '-1' is not a Kubernetes quantity"),
        ({"defaults": {"worker": {"resources": {"requests": {"cpu": "lots"}}}}}, "'lots' is not a Kubernetes quantity"),
        ({"defaults": {"worker": {"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}}}},
         "defaults.worker.resources: limits.memory (4Gi) is below requests.memory (8Gi); raise the limit or lower the request"),
        ({"defaults": {"scaling": {"minimum": 5, "maximum": 2}}},
         "defaults.scaling: minimum (5) is above maximum (2); lower minimum or raise maximum"),
        ({"defaults": {"scaling": {"idleAfter": "soon"}}}, "defaults.scaling.idleAfter: 'soon' is not a duration; use e.g. 90s"),
        ({"defaults": {"clusterName": "Dask_Cluster"}}, "defaults.clusterName: 'Dask_Cluster' is not a valid cluster name"),
        ({"defaults": {"dashboard": {"urlTemplate": "https://kf/{ns}/{cluster}"}}}, "unknown placeholder(s) {ns}"),
        ({"defaults": {"env": {"1BAD": "x"}}}, "defaults.env: '1BAD' is not a valid environment variable name"),
        ({"defaults": {"tolerations": [{"key": "gpu", "effect": "Sometimes"}]}}, "defaults.tolerations[0].effect"),
        ({"tiers": [{"name": "t", "match": {}}]}, "policy.yaml: tiers[0] (t).match: matches no namespace"),
        ({"tiers": [{"name": "t", "match": {"namespaces": ["Team_*"]}}]}, "'Team_*' can never match a namespace"),
        ({"tiers": [{"name": "t", "match": {"owners": ["bob"]}}]}, "'bob' is neither an email"),
        ({"tiers": [{"name": "t", "match": {"labels": {"bad key!": "x"}}}]}, "is not a valid Kubernetes label"),
        ({"tiers": [{"name": "t"}]}, "tiers[0] (t).match: required key is missing"),
        ({"tiers": [{"name": "Big", "match": {"namespaces": ["a"]}}]}, "'Big' is not a usable tier name"),
        ({"tiers": [{"name": "t", "match": {"namespaces": ["a"]}}, {"name": "t", "match": {"namespaces": ["b"]}}]},
         "tiers[1] (t).name: duplicate tier name; tiers[0] already uses it"),
        ({"tiers": [{"name": "t", "match": {"namespaces": ["a"]}, "scaling": {"maximum": "lots"}}]},
         "tiers[0] (t).scaling.maximum: Input should be a valid integer, unable to parse string as an integer (got 'lots')"),
        ({"tiers": {"name": "t"}}, "tiers: must be a list of tiers"),
        (["defaults"], "the policy must be a mapping"),
    ],
)
def test_bad_input_names_the_file_the_field_and_the_fix(document, expected):
    problems = problems_of(document)
    assert any(expected in p for p in problems), problems


def test_tier_limits_are_checked_against_inherited_requests():
    problems = problems_of({"defaults": {"worker": {"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "8Gi"}}}},
                            "tiers": [{"name": "small", "match": {"namespaces": ["s-*"]},
                                       "worker": {"resources": {"limits": {"memory": "4Gi"}}}}]})
    assert problems == ["policy.yaml: tiers[0] (small).worker.resources: limits.memory (4Gi) is below requests.memory (8Gi); "
                        "raise the limit or lower the request"]


def test_every_problem_is_reported_at_once_and_nothing_is_loaded():
    problems = problems_of({"defaults": {"worker": {"threads": 0}, "scaling": {"minimum": 9}},
                            "tiers": [{"name": "t", "match": {"owners": ["x"]}, "image": ""}]})
    assert len(problems) == 4, problems  # threads, min>max, owner, image
    # A tier's own problems are reported under the tier, not repeated from the broken defaults.
    assert sum("threads" in p for p in problems) == 1


def test_load_policy_reports_yaml_errors_with_position(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("defaults:\n  worker: [unclosed\n")
    with pytest.raises(PolicyError, match=r"policy.yaml: line \d+, column \d+: not valid YAML"):
        load_policy(path)


def test_load_policy_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path / "nope.yaml")


def test_empty_file_means_builtin_defaults(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("")
    assert load_policy(path).defaults == Policy.builtin().defaults


def test_policy_source_precedence(tmp_path, monkeypatch):
    from_env = tmp_path / "env.yaml"
    from_env.write_text("defaults:\n  worker:\n    threads: 3\n")
    from_arg = tmp_path / "arg.yaml"
    from_arg.write_text(textwrap.dedent("defaults:\n  worker:\n    threads: 5\n"))
    monkeypatch.delenv("DASK_KUBEFLOW_POLICY", raising=False)
    assert policy_from_env().defaults.worker.threads == 4
    monkeypatch.setenv("DASK_KUBEFLOW_POLICY", str(from_env))
    assert policy_from_env().defaults.worker.threads == 3
    assert policy_from_env(from_arg).defaults.worker.threads == 5
    assert policy_from_env(Policy.builtin()).defaults.worker.threads == 4


def test_shapes_lists_defaults_then_tiers_in_order():
    assert [s.tier for s in parse_policy(TIERED).shapes()] == ["default", "gpu", "research", "partners"]


def test_every_isolation_field_is_documented_in_the_example():
    """network.egress items and security fields are explained in deploy/policy.example.yaml's comments."""
    from pathlib import Path
    import re

    from dask_kubeflow.policy.isolation import EgressPeer, EgressPort, EgressRule, IPBlock, PodSecurity

    text = (Path(__file__).resolve().parents[1] / "deploy" / "policy.example.yaml").read_text()
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    fields = [info.alias or name for model in (EgressRule, EgressPeer, IPBlock, EgressPort, PodSecurity)
              for name, info in model.model_fields.items()]
    assert {"to", "ipBlock", "except", "podLabels", "endPort", "runAsUser"} <= set(fields)
    undocumented = [f for f in fields if not re.search(rf"\b{re.escape(f)}\b", comments)]
    assert not undocumented, f"not explained in the comments of policy.example.yaml: {undocumented}"
