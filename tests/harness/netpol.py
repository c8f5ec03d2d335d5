"""NetworkPolicy (networking.k8s.io/v1) evaluated as the Kubernetes API reference and the
"Network Policies" concept page define it: pure, standard library only.

It is loaded by path into every pod process of the local pod runner (through
`podrunner/podnet.py`, which enforces it at connect time) and imported by tests as
`tests.harness.netpol`. So: no imports outside the standard library, no I/O.

The rules, as the spec states them:

- A policy selects the pods of *its own namespace* that match `spec.podSelector` (`{}`: all).
- `spec.policyTypes` defaults to `["Ingress"]`, plus `"Egress"` when `spec.egress` has rules (the
  API server's defaulting: `len(spec.egress) != 0`).
- A pod is isolated for a direction iff some policy selecting it has that type. A non-isolated
  direction allows everything. An isolated one allows exactly the union of the rules of the
  selecting policies of that type; a type listed with no rules (`ingress` absent or `[]`) denies all.
- A connection needs both ends: the source pod's egress and the destination pod's ingress.
- A rule matches when one of its peers matches (`from`/`to` absent or `[]`: every peer, pods and
  external addresses) and one of its ports matches (`ports` absent or `[]`: every port).
- Peers: `podSelector` alone = pods of the policy's namespace; `namespaceSelector` alone = every pod
  of the matching namespaces; both in ONE peer = pods matching the pod selector in matching
  namespaces (AND); two peers = OR. `ipBlock` (`cidr` minus `except`) is for cluster-external
  addresses: see `Network(ipblock_matches_pods=...)`.
- Ports: `protocol` (default TCP), `port` a number (with `endPort`: the inclusive range) or a
  container port name resolved against the destination pod's container ports (name and protocol);
  `port` absent: every port of that protocol.
- Namespaces carry `kubernetes.io/metadata.name: <name>` (the API server sets it on every namespace;
  added here when a store does not).

Implementation-defined in the spec, decided here (see tests/harness/README.md):

- A pod's traffic to its own address is always allowed (pods cannot block their own loopback).
- Traffic between a pod and a node address (`Network(node_ips=...)`) is always allowed, both ways
  ("traffic to and from the node where a Pod is running is always allowed, regardless of the IP
  address of the Pod or the node"). Every other address of no pod is cluster-external.
- `ipBlock` matches only addresses that belong to no pod unless `ipblock_matches_pods=True`: pod
  IPs are ephemeral, and CNIs differ on whether an ipBlock covers them (Calico: yes; Cilium: no),
  so a policy that admits pods only through an ipBlock is not portable and is refused here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INGRESS, EGRESS = "Ingress", "Egress"
PROTOCOLS = ("TCP", "UDP", "SCTP")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ContainerPort:
    name: str | None
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[ContainerPort, ...] = ()

    @property
    def ref(self) -> str:
        return f"pod {self.namespace}/{self.name} ({self.ip})"


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    pod_selector: Mapping[str, Any]
    types: tuple[str, ...]
    ingress: tuple[Mapping[str, Any], ...]
    egress: tuple[Mapping[str, Any], ...]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[Mapping[str, Any], ...]:
        return self.ingress if direction == INGRESS else self.egress


@dataclass(frozen=True)
class Side:
    """One end's answer: is the pod isolated in this direction, and which policy (if any) allows it."""

    direction: str
    pod: Pod | None
    isolated: bool
    allowed: bool
    selecting: tuple[str, ...] = ()
    allowed_by: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    egress: Side
    ingress: Side
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


# ----------------------------------------------------------------------------- parsing


def pod_from_manifest(obj: Mapping[str, Any], ip: str | None = None) -> Pod:
    """A Pod object (API shape) -> Pod; `ip` overrides `status.podIP`."""
    meta = obj.get("metadata") or {}
    ports = []
    for container in (obj.get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if "containerPort" in p:
                ports.append(ContainerPort(p.get("name"), int(p["containerPort"]), p.get("protocol") or "TCP"))
    return Pod(
        namespace=str(meta.get("namespace", "default")),
        name=str(meta.get("name", "")),
        ip=ip or str((obj.get("status") or {}).get("podIP", "")),
        labels=dict(meta.get("labels") or {}),
        ports=tuple(ports),
    )


def policy_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """`spec.policyTypes`, defaulted as the API server does."""
    given = spec.get("policyTypes")
    if given:
        return tuple(given)
    return (INGRESS, EGRESS) if spec.get("egress") else (INGRESS,)


def policy_from_manifest(obj: Mapping[str, Any]) -> Policy:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return Policy(
        namespace=str(meta.get("namespace", "default")),
        name=str(meta.get("name", "")),
        pod_selector=spec.get("podSelector") or {},
        types=policy_types(spec),
        ingress=tuple(spec.get("ingress") or ()),
        egress=tuple(spec.get("egress") or ()),
    )


# ----------------------------------------------------------------------------- matching


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: matchLabels AND every matchExpression; `{}` matches everything.
    An unknown operator matches nothing (the API server would have refused the object)."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            ok = False
        if not ok:
            return False
    return True


def ip_in_block(ip: str, block: Mapping[str, Any]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        if addr not in ipaddress.ip_network(str(block.get("cidr", "")), strict=False):
            return False
        return not any(addr in ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or [])
    except ValueError:
        return False


def port_matches(rule_ports: Sequence[Mapping[str, Any]] | None, dst: Pod | None, port: int, protocol: str) -> bool:
    """Whether `port`/`protocol` on the destination is one of a rule's ports."""
    if not rule_ports:
        return True
    for p in rule_ports:
        proto = p.get("protocol") or "TCP"
        if proto != protocol:
            continue
        value = p.get("port")
        if value is None:
            return True
        if isinstance(value, int):
            end = p.get("endPort")
            if value <= port <= (int(end) if end is not None else value):
                return True
        elif dst is not None and any(cp.name == value and cp.protocol == proto and cp.port == port for cp in dst.ports):
            return True
    return False


# ----------------------------------------------------------------------------- the network


class Network:
    """Pods, namespace labels and policies at one moment; `check()` answers one connection."""

    def __init__(
        self,
        pods: Iterable[Pod] = (),
        namespaces: Mapping[str, Mapping[str, str]] | None = None,
        policies: Iterable[Policy] = (),
        *,
        node_ips: Iterable[str] = (),
        ipblock_matches_pods: bool = False,
    ) -> None:
        self.pods = {p.ip: p for p in pods if p.ip}
        self.namespaces = {ns: dict(labels or {}) for ns, labels in (namespaces or {}).items()}
        self.policies = tuple(policies)
        self.node_ips = frozenset(node_ips)
        self.ipblock_matches_pods = ipblock_matches_pods

    @classmethod
    def from_manifests(
        cls,
        pods: Iterable[Mapping[str, Any]],
        namespaces: Iterable[Mapping[str, Any]],
        policies: Iterable[Mapping[str, Any]],
        **options: Any,
    ) -> Network:
        """From API objects (Pods with `status.podIP`, Namespaces, NetworkPolicies)."""
        ns_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in namespaces}
        return cls([pod_from_manifest(p) for p in pods], ns_labels, [policy_from_manifest(p) for p in policies], **options)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return {**self.namespaces.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}

    def pod_at(self, ip: str) -> Pod | None:
        return self.pods.get(ip)

    def connect(self, src_ip: str, dst_ip: str, port: int, protocol: str = "TCP") -> Verdict:
        """A connection between addresses; addresses of no pod are node (`node_ips`) or external."""
        return self.check(self.pods.get(src_ip, src_ip), self.pods.get(dst_ip, dst_ip), port, protocol)

    def check(self, src: Pod | str, dst: Pod | str, port: int, protocol: str = "TCP") -> Verdict:
        """May `src` open a connection to `dst` on `port`/`protocol`? (a Pod or an address each)"""
        src_pod = src if isinstance(src, Pod) else None
        dst_pod = dst if isinstance(dst, Pod) else None
        src_ip = src.ip if isinstance(src, Pod) else src
        dst_ip = dst.ip if isinstance(dst, Pod) else dst
        if src_pod is not None and dst_pod is not None and src_pod.ip == dst_pod.ip:
            side = Side(EGRESS, src_pod, False, True, note="a pod's traffic to itself is never subject to policy")
            return Verdict(True, side, Side(INGRESS, dst_pod, False, True, note=side.note), side.note)
        if dst_pod is None and dst_ip in self.node_ips:
            egress = Side(EGRESS, src_pod, False, True, note="traffic to the node is always allowed")
        else:
            egress = self._side(EGRESS, src_pod, dst_pod, dst_ip, port, protocol)
        if src_pod is None and src_ip in self.node_ips:
            ingress = Side(INGRESS, dst_pod, False, True, note="traffic from the node is always allowed")
        else:
            ingress = self._side(INGRESS, dst_pod, src_pod, src_ip, port, protocol, port_owner=dst_pod)
        allowed = egress.allowed and ingress.allowed
        return Verdict(allowed, egress, ingress, self._reason(allowed, egress, ingress, src, dst, port, protocol))

    def selecting(self, pod: Pod, direction: str) -> tuple[Policy, ...]:
        return tuple(
            p for p in self.policies
            if p.namespace == pod.namespace and direction in p.types and selector_matches(p.pod_selector, pod.labels)
        )

    def _side(
        self, direction: str, pod: Pod | None, peer: Pod | None, peer_ip: str, port: int, protocol: str,
        port_owner: Pod | None = None,
    ) -> Side:
        """`pod`'s policies for `direction` against `peer` (for egress the destination owns the port)."""
        if pod is None:
            return Side(direction, None, False, True, note="not a pod: outside NetworkPolicy")
        owner = port_owner if direction == INGRESS else peer
        selecting = self.selecting(pod, direction)
        refs = tuple(p.ref for p in selecting)
        if not selecting:
            return Side(direction, pod, False, True, note=f"no policy selects it for {direction}")
        key = "from" if direction == INGRESS else "to"
        for policy in selecting:
            for rule in policy.rules(direction):
                if self._peers_match(rule.get(key), policy.namespace, peer, peer_ip) and port_matches(
                    rule.get("ports"), owner, port, protocol
                ):
                    return Side(direction, pod, True, True, refs, policy.ref)
        return Side(direction, pod, True, False, refs)

    def _peers_match(self, peers: Sequence[Mapping[str, Any]] | None, policy_ns: str, other: Pod | None, other_ip: str) -> bool:
        if not peers:
            return True
        return any(self._peer_matches(peer, policy_ns, other, other_ip) for peer in peers)

    def _peer_matches(self, peer: Mapping[str, Any], policy_ns: str, other: Pod | None, other_ip: str) -> bool:
        if peer.get("ipBlock") is not None:
            if other is not None and not self.ipblock_matches_pods:
                return False
            return ip_in_block(other_ip, peer["ipBlock"])
        pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
        if other is None or (pod_sel is None and ns_sel is None):
            return False
        if ns_sel is None:
            in_namespace = other.namespace == policy_ns
        else:
            in_namespace = selector_matches(ns_sel, self.namespace_labels(other.namespace))
        return in_namespace and selector_matches(pod_sel, other.labels)

    @staticmethod
    def _reason(allowed: bool, egress: Side, ingress: Side, src: Pod | str, dst: Pod | str, port: int, protocol: str) -> str:
        what = f"{protocol} {_describe(src)} -> {_describe(dst)}:{port}"
        if allowed:
            by = [f"{s.direction.lower()} by {s.allowed_by}" for s in (egress, ingress) if s.allowed_by]
            return f"{what} allowed" + (f" ({', '.join(by)})" if by else " (neither end is isolated)")
        blocked = [s for s in (egress, ingress) if not s.allowed]
        parts = [
            f"{s.direction.lower()} of {_describe(s.pod)} is isolated by {', '.join(s.selecting)} and no rule of "
            f"{'them' if len(s.selecting) > 1 else 'it'} admits this connection"
            for s in blocked
        ]
        return f"{what} blocked by NetworkPolicy: " + "; ".join(parts)


def _describe(end: Pod | str | None) -> str:
    if isinstance(end, Pod):
        return end.ref
    return f"address {end}" if end else "?"


# ----------------------------------------------------------------------------- validation


def problems(obj: Mapping[str, Any]) -> list[str]:
    """What the API server's validation would refuse in a NetworkPolicy (the emulator does not
    validate built-in kinds, so the pod runner reports these instead of guessing)."""
    meta = obj.get("metadata") or {}
    where = f"NetworkPolicy {meta.get('namespace')}/{meta.get('name')}"
    spec = obj.get("spec") or {}
    found = [f"{where}: spec.policyTypes[{i}]: Unsupported value {t!r}: supported values: \"Ingress\", \"Egress\""
             for i, t in enumerate(spec.get("policyTypes") or []) if t not in (INGRESS, EGRESS)]
    found += _selector_problems(f"{where}: spec.podSelector", spec.get("podSelector"))
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(key) or []):
                found += _peer_problems(f"{where}: spec.{direction}[{i}].{key}[{j}]", peer)
            for j, port in enumerate(rule.get("ports") or []):
                found += _port_problems(f"{where}: spec.{direction}[{i}].ports[{j}]", port)
    return found


def _selector_problems(where: str, selector: Mapping[str, Any] | None) -> list[str]:
    return [
        f"{where}.matchExpressions[{i}].operator: Unsupported value {e.get('operator')!r}: "
        f"supported values: {', '.join(SELECTOR_OPERATORS)}"
        for i, e in enumerate((selector or {}).get("matchExpressions") or [])
        if e.get("operator") not in SELECTOR_OPERATORS
    ]


def _peer_problems(where: str, peer: Mapping[str, Any]) -> list[str]:
    block = peer.get("ipBlock")
    if block is None:
        if peer.get("podSelector") is None and peer.get("namespaceSelector") is None:
            return [f"{where}: Required value: must specify a peer (podSelector, namespaceSelector or ipBlock)"]
        return _selector_problems(f"{where}.podSelector", peer.get("podSelector")) + _selector_problems(
            f"{where}.namespaceSelector", peer.get("namespaceSelector"))
    if peer.get("podSelector") is not None or peer.get("namespaceSelector") is not None:
        return [f"{where}: Forbidden: may not specify more than 1 peer type (ipBlock with a selector)"]
    try:
        cidr = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
    except ValueError:
        return [f"{where}.ipBlock.cidr: Invalid value: {block.get('cidr')!r}: must be a valid CIDR"]
    found = []
    for k, exc in enumerate(block.get("except") or []):
        try:
            if not ipaddress.ip_network(str(exc), strict=False).subnet_of(cidr):  # type: ignore[arg-type]
                found.append(f"{where}.ipBlock.except[{k}]: Invalid value: {exc!r}: must be a strict subset of `cidr`")
        except (ValueError, TypeError):
            found.append(f"{where}.ipBlock.except[{k}]: Invalid value: {exc!r}: must be a valid CIDR")
    return found


def _port_problems(where: str, port: Mapping[str, Any]) -> list[str]:
    found = []
    if (port.get("protocol") or "TCP") not in PROTOCOLS:
        found.append(f"{where}.protocol: Unsupported value {port.get('protocol')!r}: supported values: TCP, UDP, SCTP")
    value, end = port.get("port"), port.get("endPort")
    if end is not None:
        if not isinstance(value, int):
            found.append(f"{where}.endPort: Invalid value: {end}: may not be specified when `port` is not a number")
        elif end < value:
            found.append(f"{where}.endPort: Invalid value: {end}: must be greater than or equal to `port`")
    if isinstance(value, str) and value.isdigit():
        found.append(f"{where}.port: Invalid value: {value!r}: a port name must contain a letter (use the number {int(value)})")
    return found
