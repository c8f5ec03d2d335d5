"""The NetworkPolicy evaluator against the examples of the Kubernetes "Network Policies" concept page
and the networking.k8s.io/v1 API reference (policy types defaulting, isolation, union, both ends,
peers, ports)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.netpol import (
    ContainerPort,
    Network,
    Pod,
    policy_from_manifest,
    policy_types,
    problems,
    selector_matches,
)

DEFAULT = "default"
NODE = "10.0.0.1"


def policy(name: str, spec: dict[str, Any], namespace: str = DEFAULT) -> Any:
    return policy_from_manifest({"metadata": {"name": name, "namespace": namespace}, "spec": spec})


def net(*policies: Any, pods: list[Pod], namespaces: dict[str, dict[str, str]] | None = None, **kw: Any) -> Network:
    return Network(pods, namespaces or {}, policies, node_ips=[NODE], **kw)


DB = Pod(DEFAULT, "db", "10.1.0.10", {"role": "db"}, (ContainerPort("redis", 6379),))
FRONTEND = Pod(DEFAULT, "frontend", "10.1.0.11", {"role": "frontend"})
OTHER = Pod(DEFAULT, "other", "10.1.0.12", {"role": "other"})
MYPROJECT_POD = Pod("myproject", "anything", "10.1.1.10", {"app": "x"})
ELSEWHERE_POD = Pod("elsewhere", "anything", "10.1.2.10", {"role": "frontend"})
NAMESPACES = {"myproject": {"project": "myproject"}, "elsewhere": {}, DEFAULT: {}}
PODS = [DB, FRONTEND, OTHER, MYPROJECT_POD, ELSEWHERE_POD]

# The concept page's first example, verbatim in structure.
TEST_NETWORK_POLICY = {
    "podSelector": {"matchLabels": {"role": "db"}},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{
        "from": [
            {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
            {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
            {"podSelector": {"matchLabels": {"role": "frontend"}}},
        ],
        "ports": [{"protocol": "TCP", "port": 6379}],
    }],
    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}],
}


class TestConceptPageExample:
    n = net(policy("test-network-policy", TEST_NETWORK_POLICY), pods=PODS, namespaces=NAMESPACES)

    def test_ingress_from_the_three_peer_kinds_on_6379(self) -> None:
        assert self.n.check(FRONTEND, DB, 6379)                      # podSelector, same namespace
        assert self.n.check(MYPROJECT_POD, DB, 6379)                 # namespaceSelector: any pod there
        assert self.n.check("172.17.0.5", DB, 6379)                  # ipBlock
        assert not self.n.check("172.17.1.5", DB, 6379)              # ipBlock except
        assert not self.n.check(OTHER, DB, 6379)                     # not selected by any peer
        assert not self.n.check(ELSEWHERE_POD, DB, 6379)             # podSelector does not reach other namespaces

    def test_ports_and_protocol(self) -> None:
        assert not self.n.check(FRONTEND, DB, 6380)
        assert not self.n.check(FRONTEND, DB, 6379, "UDP")

    def test_egress_only_to_the_block_on_5978(self) -> None:
        assert self.n.check(DB, "10.0.0.7", 5978)
        assert not self.n.check(DB, "10.0.0.7", 5979)
        assert not self.n.check(DB, "10.0.1.7", 5978)
        assert not self.n.check(DB, FRONTEND, 80)                    # a pod is not in an ipBlock (see README)

    def test_unselected_pods_are_not_isolated(self) -> None:
        assert self.n.check(OTHER, FRONTEND, 1234)
        assert self.n.check(ELSEWHERE_POD, OTHER, 1)

    def test_both_ends_must_allow(self) -> None:
        verdict = self.n.check(DB, FRONTEND, 80)                     # frontend's ingress open, db's egress not
        assert not verdict
        assert verdict.ingress.allowed and not verdict.egress.allowed
        assert "egress of pod default/db" in verdict.reason and "default/test-network-policy" in verdict.reason

    def test_node_traffic_and_self_traffic_are_always_allowed(self) -> None:
        assert self.n.check(NODE, DB, 1)
        assert self.n.check(DB, NODE, 1)
        assert self.n.check(DB, DB, 1)


class TestDefaultPolicies:
    def test_default_deny_ingress(self) -> None:
        n = net(policy("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}), pods=PODS)
        assert not n.check(FRONTEND, DB, 6379)
        assert not n.check(ELSEWHERE_POD, DB, 6379)
        assert n.check(DB, ELSEWHERE_POD, 6379)                      # egress untouched
        assert n.check(DB, "8.8.8.8", 53, "UDP")

    def test_allow_all_ingress(self) -> None:
        n = net(policy("allow-all-ingress", {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}),
                policy("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}), pods=PODS)
        assert n.check(ELSEWHERE_POD, DB, 6379) and n.check("203.0.113.9", DB, 1, "SCTP")

    def test_default_deny_egress(self) -> None:
        n = net(policy("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}), pods=PODS)
        assert not n.check(DB, FRONTEND, 80)
        assert not n.check(DB, "169.254.169.254", 80)
        assert n.check(ELSEWHERE_POD, DB, 6379)                      # ingress untouched

    def test_allow_all_egress(self) -> None:
        n = net(policy("allow-all-egress", {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}),
                policy("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}), pods=PODS)
        assert n.check(DB, ELSEWHERE_POD, 9) and n.check(DB, "169.254.169.254", 80)

    def test_default_deny_all(self) -> None:
        n = net(policy("default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}), pods=PODS)
        assert not n.check(FRONTEND, OTHER, 80) and not n.check(FRONTEND, "192.0.2.1", 80)
        assert n.check(ELSEWHERE_POD, MYPROJECT_POD, 80)             # other namespaces: not selected

    def test_policy_types_default_from_the_rules(self) -> None:
        assert policy_types({"podSelector": {}}) == ("Ingress",)
        assert policy_types({"podSelector": {}, "egress": [{}]}) == ("Ingress", "Egress")
        assert policy_types({"podSelector": {}, "egress": []}) == ("Ingress",)   # len(egress) == 0
        assert policy_types({"podSelector": {}, "policyTypes": ["Egress"]}) == ("Egress",)
        # Without policyTypes, an egress-only policy also isolates ingress (with no ingress rules: deny all).
        n = net(policy("egress-rules-only", {"podSelector": {}, "egress": [{}]}), pods=PODS)
        assert not n.check(FRONTEND, DB, 6379) and n.check(DB, ELSEWHERE_POD, 1)


class TestPeers:
    ALICE_CLIENT = Pod("alice-ns", "client", "10.2.0.1", {"role": "client"})
    ALICE_OTHER = Pod("alice-ns", "server", "10.2.0.2", {"role": "server"})
    BOB_CLIENT = Pod("bob-ns", "client", "10.3.0.1", {"role": "client"})
    TARGET = Pod(DEFAULT, "target", "10.1.0.99", {"app": "target"})
    NS = {"alice-ns": {"user": "alice"}, "bob-ns": {"user": "bob"}}
    PODS = [ALICE_CLIENT, ALICE_OTHER, BOB_CLIENT, TARGET, FRONTEND]

    def test_namespace_and_pod_selector_in_one_peer_is_and(self) -> None:
        n = net(policy("and", {"podSelector": {}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"user": "alice"}}, "podSelector": {"matchLabels": {"role": "client"}}},
        ]}]}), pods=self.PODS, namespaces=self.NS)
        assert n.check(self.ALICE_CLIENT, self.TARGET, 80)
        assert not n.check(self.ALICE_OTHER, self.TARGET, 80)
        assert not n.check(self.BOB_CLIENT, self.TARGET, 80)
        assert not n.check(FRONTEND, self.TARGET, 80)

    def test_two_peers_are_or(self) -> None:
        n = net(policy("or", {"podSelector": {}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"user": "alice"}}},
            {"podSelector": {"matchLabels": {"role": "client"}}},
        ]}]}), pods=[*self.PODS, Pod(DEFAULT, "c", "10.1.0.50", {"role": "client"})], namespaces=self.NS)
        assert n.check(self.ALICE_CLIENT, self.TARGET, 80) and n.check(self.ALICE_OTHER, self.TARGET, 80)
        assert n.connect("10.1.0.50", self.TARGET.ip, 80)           # role=client in the same namespace
        assert not n.check(self.BOB_CLIENT, self.TARGET, 80)         # role=client, but podSelector is same-namespace

    def test_namespace_by_name_label_set_by_the_api_server(self) -> None:
        n = net(policy("by-name", {"podSelector": {}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "bob-ns"}}},
        ]}]}), pods=self.PODS, namespaces=self.NS)
        assert n.check(self.BOB_CLIENT, self.TARGET, 80) and not n.check(self.ALICE_CLIENT, self.TARGET, 80)

    def test_empty_namespace_selector_is_every_namespace(self) -> None:
        n = net(policy("all-ns", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
                pods=self.PODS, namespaces=self.NS)
        assert n.check(self.BOB_CLIENT, self.TARGET, 80)
        assert not n.check("192.0.2.1", self.TARGET, 80)             # selectors match pods, never addresses

    def test_ipblock_covers_pods_only_when_asked(self) -> None:
        spec = {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}
        strict = net(policy("block", spec), pods=self.PODS)
        assert not strict.check(self.BOB_CLIENT, self.TARGET, 80) and strict.check("10.9.9.9", self.TARGET, 80)
        calico_like = net(policy("block", spec), pods=self.PODS, ipblock_matches_pods=True)
        assert calico_like.check(self.BOB_CLIENT, self.TARGET, 80)

    def test_policies_are_a_union(self) -> None:
        n = net(policy("from-alice", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"user": "alice"}}}]}]}),
                policy("from-bob", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"user": "bob"}}}]}]}),
                pods=self.PODS, namespaces=self.NS)
        assert n.check(self.ALICE_CLIENT, self.TARGET, 80).ingress.allowed_by == "default/from-alice"
        assert n.check(self.BOB_CLIENT, self.TARGET, 80).ingress.allowed_by == "default/from-bob"
        assert not n.check(FRONTEND, self.TARGET, 80)

    def test_a_policy_selects_pods_of_its_own_namespace_only(self) -> None:
        n = net(policy("deny", {"podSelector": {}, "policyTypes": ["Ingress"]}, namespace="alice-ns"), pods=self.PODS)
        assert not n.check(self.BOB_CLIENT, self.ALICE_OTHER, 80) and n.check(self.ALICE_CLIENT, self.BOB_CLIENT, 80)


class TestPorts:
    SERVER = Pod(DEFAULT, "server", "10.1.0.20", {"app": "s"},
                 (ContainerPort("tcp-comm", 8786), ContainerPort("http-dashboard", 8787), ContainerPort("dns", 53, "UDP")))

    def only(self, ports: list[dict[str, Any]]) -> Network:
        return net(policy("p", {"podSelector": {}, "ingress": [{"ports": ports}]}), pods=[self.SERVER, FRONTEND])

    def test_end_port_range_is_inclusive(self) -> None:
        n = self.only([{"protocol": "TCP", "port": 32000, "endPort": 32768}])
        assert n.check(FRONTEND, self.SERVER, 32000) and n.check(FRONTEND, self.SERVER, 32768)
        assert not n.check(FRONTEND, self.SERVER, 31999) and not n.check(FRONTEND, self.SERVER, 32769)

    def test_named_port_resolves_against_the_destination_pod(self) -> None:
        n = self.only([{"port": "http-dashboard"}])
        assert n.check(FRONTEND, self.SERVER, 8787) and not n.check(FRONTEND, self.SERVER, 8786)
        assert not n.check(FRONTEND, Pod(DEFAULT, "x", "10.1.0.21", {"app": "s"}), 8787)  # no such port

    def test_named_port_matches_name_and_protocol(self) -> None:
        n = self.only([{"port": "dns", "protocol": "UDP"}])
        assert n.check(FRONTEND, self.SERVER, 53, "UDP") and not n.check(FRONTEND, self.SERVER, 53)
        assert not self.only([{"port": "dns"}]).check(FRONTEND, self.SERVER, 53, "UDP")   # TCP by default

    def test_protocol_without_port_is_every_port(self) -> None:
        n = self.only([{"protocol": "UDP"}])
        assert n.check(FRONTEND, self.SERVER, 1, "UDP") and not n.check(FRONTEND, self.SERVER, 1)

    def test_named_port_in_an_egress_rule_is_the_destination_pods(self) -> None:
        n = net(policy("egress", {"podSelector": {"matchLabels": {"role": "frontend"}}, "policyTypes": ["Egress"],
                                  "egress": [{"ports": [{"port": "tcp-comm"}]}]}), pods=[self.SERVER, FRONTEND])
        assert n.check(FRONTEND, self.SERVER, 8786) and not n.check(FRONTEND, self.SERVER, 8787)
        assert not n.check(FRONTEND, "192.0.2.1", 8786)              # an address has no named ports


@pytest.mark.parametrize(("expr", "labels", "expected"), [
    ({"key": "env", "operator": "In", "values": ["a", "b"]}, {"env": "a"}, True),
    ({"key": "env", "operator": "In", "values": ["a", "b"]}, {}, False),
    ({"key": "env", "operator": "NotIn", "values": ["a"]}, {"env": "b"}, True),
    ({"key": "env", "operator": "NotIn", "values": ["a"]}, {}, True),       # absent key: not in
    ({"key": "env", "operator": "NotIn", "values": ["a"]}, {"env": "a"}, False),
    ({"key": "env", "operator": "Exists"}, {"env": ""}, True),
    ({"key": "env", "operator": "Exists"}, {}, False),
    ({"key": "env", "operator": "DoesNotExist"}, {}, True),
    ({"key": "env", "operator": "DoesNotExist"}, {"env": "x"}, False),
    ({"key": "env", "operator": "Gt", "values": ["1"]}, {"env": "2"}, False),  # not a label-selector operator
])
def test_match_expressions(expr: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches({"matchExpressions": [expr]}, labels) is expected


def test_match_labels_and_expressions_are_anded() -> None:
    sel = {"matchLabels": {"app": "x"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}
    assert selector_matches(sel, {"app": "x", "tier": "a"})
    assert not selector_matches(sel, {"app": "x"}) and not selector_matches(sel, {"tier": "a"})
    assert selector_matches({}, {"anything": "1"})


def test_invalid_policies_are_reported_as_the_api_server_would() -> None:
    found = problems({"metadata": {"name": "bad", "namespace": "ns"}, "spec": {
        "podSelector": {}, "policyTypes": ["Ingres"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}, "podSelector": {}},
                              {"ipBlock": {"cidr": "nonsense"}}, {}],
                     "ports": [{"port": "http", "endPort": 90}, {"port": 100, "endPort": 90}, {"port": "8080"},
                               {"protocol": "ICMP"}]}],
    }})
    text = "\n".join(found)
    assert "spec.policyTypes[0]: Unsupported value 'Ingres'" in text
    assert "spec.ingress[0].from[0]: Forbidden: may not specify more than 1 peer type" in text
    assert "spec.ingress[0].from[1].ipBlock.cidr: Invalid value: 'nonsense'" in text
    assert "spec.ingress[0].from[2]: Required value" in text
    assert "ports[0].endPort" in text and "ports[1].endPort" in text and "use the number 8080" in text
    assert "ports[3].protocol: Unsupported value 'ICMP'" in text
    assert problems({"metadata": {"name": "ok", "namespace": "ns"}, "spec": TEST_NETWORK_POLICY}) == []


def test_from_manifests_reads_pod_ips_container_ports_and_namespace_labels() -> None:
    pods = [{"metadata": {"name": "s", "namespace": "a", "labels": {"app": "s"}},
             "spec": {"containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 80}]}]},
             "status": {"podIP": "10.5.0.1"}},
            {"metadata": {"name": "c", "namespace": "b"}, "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.5.0.2"}}]
    namespaces = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b", "labels": {"team": "blue"}}}]
    policies = [{"metadata": {"name": "p", "namespace": "a"}, "spec": {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}], "ports": [{"port": "web"}]}]}}]
    n = Network.from_manifests(pods, namespaces, policies)
    assert n.connect("10.5.0.2", "10.5.0.1", 80) and not n.connect("10.5.0.2", "10.5.0.1", 81)
    assert n.namespace_labels("a") == {"kubernetes.io/metadata.name": "a"}
