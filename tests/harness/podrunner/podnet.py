"""The pod network of the local pod runner: cluster DNS names and one loopback address per pod.

Kubernetes gives every pod its own IP and resolves `<service>.<namespace>[.svc[.cluster.local]]` to
the pods behind a Service. Here every pod gets its own address in 127.0.0.0/8 and this module makes
names resolve to those addresses by patching `socket.getaddrinfo` (and `gethostbyname`) from a
small JSON table the runner rewrites atomically.

It is standard-library only because it is loaded very early, by `child_site/sitecustomize.py`,
into every process a pod runs and into the upstream operator; the test process installs it
through the `cluster_dns` fixture. In a pod process it also emulates the pod's own network
namespace: a wildcard IPv4 bind (`0.0.0.0`, `''`) lands on the pod's address, so two pods can both
listen on :8786 or :8787 as they would on a real cluster, and connections to loopback addresses
leave from the pod's address (what a server sees as the peer, and what `distributed.utils.get_ip`
finds).

With the runner's `enforce_network_policy`, the same connect hook enforces NetworkPolicy: before a
pod process connects to another pod's address, the source pod's egress and the destination pod's
ingress are evaluated (`../netpol.py`) against the pods, namespaces and policies in the table; a
connection they do not allow fails at once with `ConnectionRefusedError("blocked by NetworkPolicy
...")` (a real cluster drops the SYN silently; a fast, named refusal is a deliberate deviation).
"""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

ENV_TABLE = "DASK_KUBEFLOW_HARNESS_DNS_TABLE"
ENV_POD_IP = "DASK_KUBEFLOW_HARNESS_POD_IP"
ENV_NAMESPACE = "DASK_KUBEFLOW_HARNESS_NAMESPACE"

CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")
WILDCARD_HOSTS = ("", "0.0.0.0")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
NETPOL_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "netpol.py")
_NETPOL_NAME = "_dask_kubeflow_harness_netpol"


class DnsTable:
    """Service addresses by namespace, as read from the runner's table file."""

    def __init__(
        self,
        services: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
        network: Mapping[str, Any] | None = None,
    ) -> None:
        self.services: dict[str, dict[str, tuple[str, ...]]] = {
            ns: {svc: tuple(ips) for svc, ips in by_name.items()}
            for ns, by_name in (services or {}).items()
        }
        # What NetworkPolicy needs: {"enforce", "pod_cidr", "pods", "namespaces", "policies"} (see runner).
        self.network: dict[str, Any] = dict(network or {})
        self._policy_network: Any = None

    def lookup(self, host: str, search_namespace: str | None = None) -> tuple[str, ...] | None:
        """Addresses of a cluster name; () for a cluster name that does not exist (NXDOMAIN);
        None when `host` is not a cluster name at all (the caller resolves it normally)."""
        name = host.strip().rstrip(".").lower()
        for suffix in CLUSTER_SUFFIXES:
            if name.endswith(suffix):
                parts = name[: -len(suffix)].split(".")
                if len(parts) != 2:
                    return ()
                return self.services.get(parts[1], {}).get(parts[0], ())
        parts = name.split(".")
        if len(parts) == 2 and parts[1] in self.services:
            return self.services[parts[1]].get(parts[0], ())
        if len(parts) == 1 and search_namespace:
            found = self.services.get(search_namespace, {}).get(name)
            if found:
                return found
        return None

    def to_json(self) -> str:
        return json.dumps({"services": self.services, "network": self.network}, sort_keys=True, indent=1)

    @property
    def enforcing(self) -> bool:
        return bool(self.network.get("enforce"))

    def policy_network(self) -> Any:
        """The table's pods, namespaces and policies as a `netpol.Network` (built once per table)."""
        if self._policy_network is None:
            netpol = load_netpol()
            pods = [
                netpol.Pod(p["namespace"], p["name"], p["ip"], p.get("labels") or {},
                           tuple(netpol.ContainerPort(*port) for port in p.get("ports") or ()))
                for p in self.network.get("pods") or ()
            ]
            policies = [netpol.policy_from_manifest(obj) for obj in self.network.get("policies") or ()]
            self._policy_network = netpol.Network(pods, self.network.get("namespaces") or {}, policies)
        return self._policy_network

    def is_node_address(self, ip: str) -> bool:
        """A loopback address outside the runner's pod block is the node (the test machine)."""
        try:
            addr = ipaddress.ip_address(ip)
            cidr = self.network.get("pod_cidr")
            return addr in LOOPBACK and not (cidr and addr in ipaddress.ip_network(cidr))
        except ValueError:
            return False

    def blocked(self, src_ip: str, dst_ip: str, port: int, protocol: str) -> str | None:
        """Why NetworkPolicy blocks this connection of a pod, or None when it may go ahead."""
        if not self.enforcing or src_ip == dst_ip:
            return None
        net = self.policy_network()
        src = net.pod_at(src_ip)
        if src is None:
            return (
                f"blocked by the local pod runner: this process's pod address {src_ip} is no pod the runner "
                f"knows (pod deleted, or an identity from PodRunner.pod_environment() that was released)"
            )
        if net.pod_at(dst_ip) is None and self.is_node_address(dst_ip):
            return None  # traffic to and from the node is always allowed
        verdict = net.connect(src_ip, dst_ip, port, protocol)
        return None if verdict.allowed else verdict.reason


    def host_resolver_rules(self) -> str:
        """Chromium `--host-resolver-rules` value mapping every cluster name to its first address."""
        rules = []
        for ns, by_name in sorted(self.services.items()):
            for svc, ips in sorted(by_name.items()):
                if ips:
                    for host in (f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"):
                        rules.append(f"MAP {host} {ips[0]}")
        return ", ".join(rules)


def load_netpol() -> Any:
    """The NetworkPolicy evaluator (tests/harness/netpol.py, standard library only), loaded by path:
    pod processes do not have the repository on their path."""
    module = sys.modules.get(_NETPOL_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(_NETPOL_NAME, NETPOL_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NETPOL_NAME] = module
        spec.loader.exec_module(module)
    return module

_last_stamp = [0]
_stamp_lock = threading.Lock()


def write_table(path: str, table: DnsTable) -> None:
    """Replace the table file atomically so readers never see half a file. Each version gets a
    strictly later modification time (set explicitly, in nanoseconds): readers cache by (mtime,
    size), and two same-sized versions written within one kernel clock tick would otherwise look
    alike (a pod would keep the older one)."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(table.to_json())
    with _stamp_lock:
        stamp = _last_stamp[0] = max(time.time_ns(), _last_stamp[0] + 1)
    os.utime(tmp, ns=(stamp, stamp))
    os.replace(tmp, path)


class TableFile:
    """Reads the table file again only when it changed (cheap enough for every lookup)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._table = DnsTable()
        self._lock = threading.Lock()

    def table(self) -> DnsTable:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return DnsTable()
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                with open(self.path, encoding="utf-8") as fh:
                    data: dict[str, Any] = json.load(fh)
                self._table = DnsTable(data.get("services", {}), data.get("network", {}))
                self._stamp = stamp
            return self._table


class Installed:
    """A resolver patched into this process; `uninstall()` puts the originals back."""

    def __init__(self, table_file: TableFile, namespace: str | None, undo: list[Callable[[], None]]):
        self.table_file = table_file
        self.namespace = namespace
        self._undo = undo

    def resolve(self, host: str) -> tuple[str, ...] | None:
        return self.table_file.table().lookup(host, self.namespace)

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


def _not_found(host: object) -> socket.gaierror:
    return socket.gaierror(
        socket.EAI_NONAME,
        f"Name or service not known: {host!r} is not a Service in the local pod runner's cluster DNS",
    )


def install(table_path: str, *, pod_ip: str | None = None, namespace: str | None = None) -> Installed:
    """Patch name resolution (and, with `pod_ip`, wildcard binds) of this process."""
    table_file = TableFile(table_path)
    orig_getaddrinfo = socket.getaddrinfo
    orig_gethostbyname = socket.gethostbyname
    orig_gethostbyname_ex = socket.gethostbyname_ex
    undo: list[Callable[[], None]] = []

    def lookup(host: Any) -> tuple[str, ...] | None:
        if isinstance(host, bytes):
            host = host.decode("idna", "replace")
        if not isinstance(host, str) or not host:
            return None
        return table_file.table().lookup(host, namespace)

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0):  # noqa: A002
        if pod_ip and flags & socket.AI_PASSIVE and (host is None or host in WILDCARD_HOSTS):
            if family in (0, socket.AF_INET):
                return orig_getaddrinfo(pod_ip, port, socket.AF_INET, type, proto, flags)
        ips = lookup(host)
        if ips is None:
            return orig_getaddrinfo(host, port, family, type, proto, flags)
        results = []
        if family in (0, socket.AF_INET):
            for ip in ips:
                results.extend(
                    orig_getaddrinfo(ip, port, socket.AF_INET, type, proto, flags | socket.AI_NUMERICHOST)
                )
        if not results:
            raise _not_found(host)
        return results

    def gethostbyname(host: Any) -> str:
        ips = lookup(host)
        if ips is None:
            return orig_gethostbyname(host)
        if not ips:
            raise _not_found(host)
        return ips[0]

    def gethostbyname_ex(host: Any):
        ips = lookup(host)
        if ips is None:
            return orig_gethostbyname_ex(host)
        if not ips:
            raise _not_found(host)
        return (host, [], list(ips))

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex

    def restore_resolver() -> None:
        socket.getaddrinfo = orig_getaddrinfo
        socket.gethostbyname = orig_gethostbyname
        socket.gethostbyname_ex = orig_gethostbyname_ex

    undo.append(restore_resolver)

    if pod_ip:
        orig_bind = socket.socket.bind

        def bind(self: socket.socket, address: Any) -> None:
            if (
                self.family == socket.AF_INET
                and isinstance(address, tuple)
                and address
                and address[0] in WILDCARD_HOSTS
            ):
                address = (pod_ip, *address[1:])
            return orig_bind(self, address)

        orig_connect = socket.socket.connect
        orig_connect_ex = socket.socket.connect_ex

        def from_pod_address(sock: socket.socket, address: Any) -> None:
            """Outgoing IPv4 loopback traffic leaves from the pod's address, as it would from a pod IP."""
            if (
                sock.family == socket.AF_INET
                and isinstance(address, tuple)
                and isinstance(address[0], str)
                and address[0].startswith("127.")
            ):
                try:
                    if sock.getsockname() == ("0.0.0.0", 0):
                        orig_bind(sock, (pod_ip, 0))
                except OSError:
                    pass

        def connect(self: socket.socket, address: Any) -> None:
            why = policy_check(table_file, pod_ip, self, address)
            if why:
                raise ConnectionRefusedError(errno.ECONNREFUSED, why)
            from_pod_address(self, address)
            return orig_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            if policy_check(table_file, pod_ip, self, address):
                return errno.ECONNREFUSED
            from_pod_address(self, address)
            return orig_connect_ex(self, address)

        socket.socket.bind = bind  # type: ignore[method-assign]
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]

        def restore_socket() -> None:
            socket.socket.bind = orig_bind  # type: ignore[method-assign]
            socket.socket.connect = orig_connect  # type: ignore[method-assign]
            socket.socket.connect_ex = orig_connect_ex  # type: ignore[method-assign]

        undo.append(restore_socket)

    return Installed(table_file, namespace, undo)


# TCP only: a UDP connect() sends nothing (distributed's get_ip "connects" UDP to 8.8.8.8 to pick an
# interface), and sendto() is not hooked; see tests/harness/README.md.
_PROTOCOLS = {socket.SOCK_STREAM: "TCP"}
_reported: set[str] = set()


def policy_check(table_file: TableFile, pod_ip: str, sock: socket.socket, address: Any) -> str | None:
    """At connect time in a pod process: the reason NetworkPolicy blocks `address`, else None.
    Each distinct reason is also written once to stderr, i.e. to the pod's log."""
    if sock.family != socket.AF_INET or not isinstance(address, tuple) or len(address) < 2:
        return None
    protocol = _PROTOCOLS.get(sock.type)
    table = table_file.table()
    if protocol is None or not table.enforcing:
        return None
    host, port = address[0], address[1]
    if isinstance(host, bytes):
        host = host.decode("idna", "replace")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        found = table.lookup(str(host))  # a cluster name given to connect() directly
        if not found:
            return None
        host = found[0]
    why = table.blocked(pod_ip, host, int(port), protocol)
    if why and why not in _reported:
        _reported.add(why)
        print(f"[local pod runner] {why}", file=sys.stderr, flush=True)
    return why


def install_from_environ(environ: Mapping[str, str] = os.environ) -> Installed | None:
    """What a pod process does at start-up (called by child_site/sitecustomize.py)."""
    table_path = environ.get(ENV_TABLE)
    if not table_path:
        return None
    return install(
        table_path,
        pod_ip=environ.get(ENV_POD_IP) or None,
        namespace=environ.get(ENV_NAMESPACE) or None,
    )
