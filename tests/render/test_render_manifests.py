"""render_namespace: every object is valid against its real schema and says what the shape says."""

from __future__ import annotations

import json

import pytest

from dask_kubeflow.policy import NamespaceFacts, parse_policy, resolve
from dask_kubeflow.kube.names import (
    DASHBOARD_PORT_NAME,
    ENV_CLUSTER,
    ENV_DASHBOARD_LINK,
    ENV_IDLE_AFTER_SECONDS,
    ENV_NAMESPACE,
    ENV_SCHEDULER_PRELOAD,
    ENV_SCHEDULER_ROUTES,
    ENV_SHUTDOWN_ON_CLOSE,
    ENV_WORKER_PROCESSES,
    CONTROLLER_POD_LABELS,
    GATEWAY_POD_LABELS,
    INSTALL_NAMESPACE,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    OPERATOR_NAMESPACE,
    OPERATOR_POD_LABELS,
    PODDEFAULT_SELECTOR_LABEL,
    SCHEDULER_PORT_NAME,
    TIER_LABEL,
    check_namespace_name,
)
from dask_kubeflow.kube.names import gateway_prefix
from dask_kubeflow.kube.kinds import RENDERED_KINDS
from dask_kubeflow.render import Platform, render_namespace
from dask_kubeflow.render import scheduler_preload
from dask_kubeflow.render.daskcluster import scheduler_preload_text

from .conftest import NAMESPACES, by_kind, render
from .validation import validate


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def containers(cluster: dict) -> tuple[dict, dict]:
    spec = cluster["spec"]
    return spec["scheduler"]["spec"]["containers"][0], spec["worker"]["spec"]["containers"][0]


@pytest.mark.parametrize("case", sorted(NAMESPACES))
def test_every_object_validates_against_its_real_schema(example_policy, case):
    manifests = render(example_policy, NAMESPACES[case])
    assert [(m["apiVersion"], m["kind"]) for m in manifests] == [(k.api_version, k.kind) for k in RENDERED_KINDS]
    for manifest in manifests:
        validate(manifest)


@pytest.mark.parametrize("case", sorted(NAMESPACES))
def test_every_object_is_labelled_and_namespaced(example_policy, case):
    facts = NAMESPACES[case]
    shape = resolve(example_policy, facts)
    for manifest in render_namespace(facts, shape):
        meta = manifest["metadata"]
        assert meta["namespace"] == facts.name
        assert meta["labels"] == {MANAGED_BY_LABEL: MANAGED_BY, TIER_LABEL: shape.tier}


def test_tiers_are_resolved_per_namespace(example_policy):
    tiers = {case: by_kind(render(example_policy, f))["DaskCluster"]["metadata"]["labels"][TIER_LABEL]
             for case, f in NAMESPACES.items()}
    assert tiers == {"typical": "default", "long": "default", "gpu": "gpu", "large": "large", "digits": "default"}


def test_scheduler_serves_dashboard_and_api_under_the_prefix(example_policy):
    facts = NAMESPACES["typical"]
    cluster = by_kind(render(example_policy, facts))["DaskCluster"]
    scheduler, _ = containers(cluster)
    prefix = "/dask/kubeflow-user-example-com/dask-cluster"
    assert gateway_prefix(facts.name, "dask-cluster") == prefix
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    assert scheduler["args"][scheduler["args"].index("--dashboard-prefix") + 1] == prefix
    for probe in ("readinessProbe", "livenessProbe"):
        assert scheduler[probe]["httpGet"] == {"port": DASHBOARD_PORT_NAME, "path": f"{prefix}/health"}
    routes = json.loads(env(scheduler)[ENV_SCHEDULER_ROUTES])
    assert "distributed.http.scheduler.api" in routes and "distributed.http.health" in routes
    assert env(scheduler)[ENV_SCHEDULER_PRELOAD] == scheduler_preload_text()
    assert "def dask_setup(scheduler)" in scheduler_preload_text()


def test_the_preload_reads_the_environment_render_sets():
    # The preload runs in a plain Dask image and cannot import kube.names: its copies must agree.
    assert (scheduler_preload.IDLE_AFTER_ENV, scheduler_preload.PROCESSES_ENV) == (
        ENV_IDLE_AFTER_SECONDS, ENV_WORKER_PROCESSES)


def test_scheduler_never_shuts_itself_down(example_policy):
    for facts in NAMESPACES.values():
        spec = by_kind(render(example_policy, facts))["DaskCluster"]["spec"]
        assert "idleTimeout" not in spec  # upstream's idleTimeout path makes the scheduler exit
        scheduler, _ = containers(by_kind(render(example_policy, facts))["DaskCluster"])
        assert not any("idle" in a for a in scheduler["args"])


def test_idle_after_reaches_the_scheduler(example_policy):
    gpu = by_kind(render(example_policy, NAMESPACES["gpu"]))["DaskCluster"]
    assert env(containers(gpu)[0])[ENV_IDLE_AFTER_SECONDS] == "600"  # gpu tier: idleAfter 10m
    typical = by_kind(render(example_policy, NAMESPACES["typical"]))["DaskCluster"]
    assert env(containers(typical)[0])[ENV_IDLE_AFTER_SECONDS] == "300"  # defaults: 5m


def test_workers_are_sized_by_the_shape(example_policy):
    typical = by_kind(render(example_policy, NAMESPACES["typical"]))["DaskCluster"]
    _, worker = containers(typical)
    args = worker["args"]
    assert args[:4] == ["dask", "worker", "--name", "$(DASK_WORKER_NAME)"]
    assert args[args.index("--nthreads") + 1] == "4"
    assert args[args.index("--memory-limit") + 1] == str(4 * 2**30)  # limits.memory 4Gi, 1 process
    assert "--nworkers" not in args

    large = by_kind(render(example_policy, NAMESPACES["large"]))["DaskCluster"]
    args = containers(large)[1]["args"]
    assert args[args.index("--nworkers") + 1] == "2"
    assert args[args.index("--nthreads") + 1] == "2"
    assert args[args.index("--memory-limit") + 1] == str(8 * 2**30)  # 16Gi split over 2 processes


@pytest.mark.parametrize("case", sorted(NAMESPACES))
def test_every_container_has_requests_and_limits(example_policy, case):
    cluster = by_kind(render(example_policy, NAMESPACES[case]))["DaskCluster"]
    for container in containers(cluster):
        resources = container["resources"]
        assert set(resources["requests"]) >= {"cpu", "memory"}
        assert set(resources["limits"]) >= {"cpu", "memory"}


def test_a_missing_request_or_limit_is_filled_from_the_other_side():
    policy = parse_policy({"defaults": {
        "scheduler": {"resources": {"requests": {"cpu": None, "memory": None}, "limits": {"cpu": "1", "memory": "1Gi"}}},
        "worker": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": None, "memory": None}}},
    }})
    facts = NamespaceFacts("ns")
    scheduler, worker = containers(by_kind(render_namespace(facts, resolve(policy, facts)))["DaskCluster"])
    assert scheduler["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    assert worker["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
    assert worker["args"][worker["args"].index("--memory-limit") + 1] == str(2 * 2**30)


def test_gpu_tier_asks_for_gpus_and_gpu_nodes(example_policy):
    cluster = by_kind(render(example_policy, NAMESPACES["gpu"]))["DaskCluster"]
    scheduler, worker = containers(cluster)
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in scheduler["resources"]["limits"]
    worker_pod = cluster["spec"]["worker"]["spec"]
    assert worker_pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert worker_pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    typical = by_kind(render(example_policy, NAMESPACES["typical"]))["DaskCluster"]
    assert "nvidia.com/gpu" not in containers(typical)[1]["resources"]["limits"]
    assert "nodeSelector" not in typical["spec"]["worker"]["spec"]


def test_only_named_ports_and_service_targets_match_container_ports(example_policy):
    cluster = by_kind(render(example_policy, NAMESPACES["typical"]))["DaskCluster"]
    scheduler, _ = containers(cluster)
    names = {p["name"] for p in scheduler["ports"]}
    assert names == {SCHEDULER_PORT_NAME, DASHBOARD_PORT_NAME}
    for port in cluster["spec"]["scheduler"]["service"]["ports"]:
        assert isinstance(port["targetPort"], str) and port["targetPort"] in names
    policy_ports = [p["port"] for rule in by_kind(render(example_policy, NAMESPACES["typical"]))
                    ["NetworkPolicy"]["spec"]["ingress"] for p in rule.get("ports", [])]
    assert policy_ports and all(p in names for p in policy_ports)


def test_dask_pods_carry_no_service_account_token(example_policy):
    cluster = by_kind(render(example_policy, NAMESPACES["typical"]))["DaskCluster"]
    for role in ("scheduler", "worker"):
        assert cluster["spec"][role]["spec"]["automountServiceAccountToken"] is False


def test_autoscaler_bounds_come_from_the_tier(example_policy):
    typical = by_kind(render(example_policy, NAMESPACES["typical"]))
    assert typical["DaskAutoscaler"]["spec"] == {"cluster": "dask-cluster", "minimum": 0, "maximum": 4}
    assert typical["DaskCluster"]["spec"]["worker"]["replicas"] == 0
    large = by_kind(render(example_policy, NAMESPACES["large"]))
    assert large["DaskAutoscaler"]["spec"] == {"cluster": "dask-cluster", "minimum": 1, "maximum": 16}
    assert large["DaskCluster"]["spec"]["worker"]["replicas"] == 1


def test_poddefault_is_a_notebook_configuration_with_the_client_settings(example_policy):
    facts = NAMESPACES["long"]
    pod_default = by_kind(render(example_policy, facts))["PodDefault"]
    match_labels = pod_default["spec"]["selector"]["matchLabels"]
    assert next(iter(match_labels)) == PODDEFAULT_SELECTOR_LABEL and match_labels[PODDEFAULT_SELECTOR_LABEL] == "true"
    assert "dask-cluster" in pod_default["spec"]["desc"] and "up to 4 workers" in pod_default["spec"]["desc"]
    values = env(pod_default["spec"])
    assert values[ENV_NAMESPACE] == facts.name
    assert values[ENV_CLUSTER] == "dask-cluster"
    assert values[ENV_DASHBOARD_LINK] == f"/dask/{facts.name}/dask-cluster/status"
    assert values[ENV_SHUTDOWN_ON_CLOSE] == "False"


def test_poddefault_dashboard_link_follows_the_policy_template():
    policy = parse_policy({"defaults": {"dashboard": {"urlTemplate": "https://kf.example.com/dask/{namespace}/{cluster}/status"}}})
    facts = NamespaceFacts("alice")
    pod_default = by_kind(render_namespace(facts, resolve(policy, facts)))["PodDefault"]
    assert env(pod_default["spec"])[ENV_DASHBOARD_LINK] == "https://kf.example.com/dask/alice/dask-cluster/status"


def test_dask_config_parses_the_notebook_env_as_intended(example_policy, monkeypatch):
    """The PodDefault's DASK_* values are read by dask's own config parser in the notebook."""
    import dask.config

    values = env(by_kind(render(example_policy, NAMESPACES["typical"]))["PodDefault"]["spec"])
    parsed = dask.config.collect_env({k: v for k, v in values.items() if k.startswith("DASK_")})
    assert parsed["kubernetes"]["shutdown_on_close"] is False
    assert parsed["kubernetes"]["namespace"] == "kubeflow-user-example-com"
    assert parsed["distributed"]["dashboard"]["link"] == "/dask/kubeflow-user-example-com/dask-cluster/status"
    scheduler, _ = containers(by_kind(render(example_policy, NAMESPACES["typical"]))["DaskCluster"])
    scheduler_env = {k: v for k, v in env(scheduler).items() if k.startswith("DASK_DISTRIBUTED")}
    parsed = dask.config.collect_env(scheduler_env)["distributed"]["scheduler"]
    assert "distributed.http.scheduler.api" in parsed["http"]["routes"]
    assert parsed["preload"] == scheduler_preload_text()


def test_networkpolicy_fences_every_dask_pod_with_the_platform_namespaces(example_policy):
    facts = NAMESPACES["typical"]
    platform = Platform(install_namespace="kf", operator_namespace="ops", metrics_namespace="prom")
    policy = by_kind(render_namespace(facts, resolve(example_policy, facts), platform))["NetworkPolicy"]
    validate(policy)
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchExpressions": [{"key": "dask.org/cluster-name", "operator": "Exists"}]}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    same_ns, operator, gateway, controller, metrics = spec["ingress"]
    assert same_ns == {"from": [{"podSelector": {}}]}
    assert operator["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}},
                                 "podSelector": {"matchLabels": OPERATOR_POD_LABELS}}]
    assert {p["port"] for p in operator["ports"]} == {SCHEDULER_PORT_NAME, DASHBOARD_PORT_NAME}
    assert gateway["from"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kf"}},
        "podSelector": {"matchLabels": GATEWAY_POD_LABELS},
    }]
    assert [p["port"] for p in gateway["ports"]] == [DASHBOARD_PORT_NAME]
    assert controller == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kf"}},
                                    "podSelector": {"matchLabels": CONTROLLER_POD_LABELS}}],
                          "ports": [{"protocol": "TCP", "port": DASHBOARD_PORT_NAME}]}
    assert metrics == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prom"}},
                                 "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
                       "ports": [{"protocol": "TCP", "port": DASHBOARD_PORT_NAME}]}
    same_ns_out, dns = spec["egress"]
    assert same_ns_out == {"to": [{"podSelector": {}}]}
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    # Without a metrics namespace there is no scrape rule; the defaults are deploy/base's namespaces.
    default = by_kind(render(example_policy, facts))["NetworkPolicy"]["spec"]
    assert len(default["ingress"]) == 4
    assert default["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": OPERATOR_NAMESPACE}
    assert default["ingress"][2]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": INSTALL_NAMESPACE}


def test_tier_egress_rules_are_rendered_after_the_fixed_ones():
    policy = parse_policy({"tiers": [{"name": "s3", "match": {"namespaces": ["data-*"]}, "network": {"egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "10.0.0.0/8"]}}],
         "ports": [{"port": 443}]},
        {"to": [{"namespace": "kubeflow", "podLabels": {"app": "minio"}}],
         "ports": [{"protocol": "TCP", "port": 9000, "endPort": 9001}]},
    ]}}]})
    facts = NamespaceFacts("data-lake")
    netpol = by_kind(render_namespace(facts, resolve(policy, facts)))["NetworkPolicy"]
    validate(netpol)
    internet, minio = netpol["spec"]["egress"][2:]
    assert internet == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "10.0.0.0/8"]}}],
                        "ports": [{"protocol": "TCP", "port": 443}]}
    assert minio == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}},
                             "podSelector": {"matchLabels": {"app": "minio"}}}],
                     "ports": [{"protocol": "TCP", "port": 9000, "endPort": 9001}]}
    assert len(by_kind(render_namespace(NamespaceFacts("other"), resolve(policy, NamespaceFacts("other"))))[
        "NetworkPolicy"]["spec"]["egress"]) == 2


def test_disabled_tier_renders_nothing(example_policy):
    assert render(example_policy, NamespaceFacts("sandbox-bob")) == []


def test_names_stay_valid_for_the_longest_namespace_and_cluster_name():
    cluster = "c" * 37  # the longest cluster name the policy accepts
    policy = parse_policy({"defaults": {"clusterName": cluster}})
    facts = NAMESPACES["long"]
    manifests = render_namespace(facts, resolve(policy, facts))
    for manifest in manifests:
        validate(manifest)
        assert len(manifest["metadata"]["name"]) <= 63
    # Names the upstream operator derives from the cluster name stay DNS labels too.
    assert len(f"{cluster}-default-worker-{'0' * 10}") <= 63


@pytest.mark.parametrize("bad", ["", "UPPER", "a_b", "-a", "a-", "a" * 64, "a.b"])
def test_invalid_namespace_names_are_refused_with_the_rule(bad):
    with pytest.raises(ValueError, match="not a valid namespace name: use at most 63 lowercase"):
        check_namespace_name(bad)
    with pytest.raises(ValueError, match="not a valid namespace name"):
        render_namespace(NamespaceFacts(bad), resolve(parse_policy({}), NamespaceFacts("x")))


def test_output_is_deterministic(example_policy):
    for facts in NAMESPACES.values():
        first, second = render(example_policy, facts), render(example_policy, facts)
        assert json.dumps(first) == json.dumps(second)
        assert first is not second and first[2] is not second[2]  # fresh objects: callers may mutate


def test_policy_env_reaches_scheduler_and_workers_but_not_over_our_settings():
    policy = parse_policy({"defaults": {"env": {"EXTRA": "1", ENV_IDLE_AFTER_SECONDS: "9"}}})
    facts = NamespaceFacts("ns")
    scheduler, worker = containers(by_kind(render_namespace(facts, resolve(policy, facts)))["DaskCluster"])
    assert env(scheduler)["EXTRA"] == env(worker)["EXTRA"] == "1"
    assert env(scheduler)[ENV_IDLE_AFTER_SECONDS] == "300"
    names = [e["name"] for e in scheduler["env"]]
    assert len(names) == len(set(names))


def test_single_threaded_tiers_queue_one_task_per_worker_and_quiet_workers_unless_the_policy_says_otherwise():
    from dask_kubeflow import single_threaded

    saturation = single_threaded.env_name("distributed.scheduler.worker-saturation")
    profile = single_threaded.env_name("distributed.worker.profile.interval")

    def envs(document: dict) -> tuple[dict[str, str], dict[str, str]]:
        facts = NamespaceFacts("ns")
        scheduler, worker = containers(by_kind(render_namespace(facts, resolve(parse_policy(document), facts)))["DaskCluster"])
        return env(scheduler), env(worker)

    scheduler, worker = envs({"defaults": {"worker": {"threads": 1, "processes": 2}}})
    assert scheduler[saturation] == "1.0"
    assert {k: worker[k] for k in single_threaded.as_env(single_threaded.WORKER)} == single_threaded.as_env(single_threaded.WORKER)
    assert worker[profile] == "100ms"
    assert not set(single_threaded.as_env(single_threaded.WORKER)) & set(scheduler)  # pods have their own cores

    scheduler, worker = envs({"defaults": {"worker": {"threads": 4}}})
    assert saturation not in scheduler and profile not in worker

    scheduler, worker = envs({"defaults": {"worker": {"threads": 1}, "env": {saturation: "1.5", profile: "10ms"}}})
    assert (scheduler[saturation], worker[profile]) == ("1.5", "10ms")


def test_platform_from_the_controllers_environment():
    from dask_kubeflow.render import PlatformError, platform_from_env

    platform = platform_from_env({"DASK_KUBEFLOW_INSTALL_NAMESPACE": "kubeflow", "DASK_KUBEFLOW_OPERATOR_NAMESPACE": "ops",
                                  "DASK_KUBEFLOW_METRICS_NAMESPACE": "monitoring",
                                  "DASK_KUBEFLOW_METRICS_POD_LABELS": "app=prom, prometheus=k8s"})
    assert (platform.install_namespace, platform.operator_namespace, platform.metrics_namespace) == (
        "kubeflow", "ops", "monitoring")
    assert platform.metrics_pod_labels == {"app": "prom", "prometheus": "k8s"}
    assert platform_from_env({"DASK_KUBEFLOW_METRICS_POD_LABELS": ""}).metrics_pod_labels == {}
    assert platform_from_env({}) == Platform()
    for env in ({"DASK_KUBEFLOW_OPERATOR_NAMESPACE": "Ops!"}, {"DASK_KUBEFLOW_METRICS_POD_LABELS": "no-equals"},
                {"DASK_KUBEFLOW_CLUSTER_DOMAIN": "bad domain"}):
        with pytest.raises(PlatformError, match=next(iter(env))):
            platform_from_env(env)
