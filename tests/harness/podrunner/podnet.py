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
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

ENV_TABLE = "DASK_KUBEFLOW_HARNESS_DNS_TABLE"
ENV_POD_IP = "DASK_KUBEFLOW_HARNESS_POD_IP"
ENV_NAMESPACE = "DASK_KUBEFLOW_HARNESS_NAMESPACE"

CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")
WILDCARD_HOSTS = ("", "0.0.0.0")


class DnsTable:
    """Service addresses by namespace, as read from the runner's table file."""

    def __init__(self, services: Mapping[str, Mapping[str, Iterable[str]]] | None = None) -> None:
        self.services: dict[str, dict[str, tuple[str, ...]]] = {
            ns: {svc: tuple(ips) for svc, ips in by_name.items()}
            for ns, by_name in (services or {}).items()
        }

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
        return json.dumps({"services": self.services}, sort_keys=True, indent=1)

    def host_resolver_rules(self) -> str:
        """Chromium `--host-resolver-rules` value mapping every cluster name to its first address."""
        rules = []
        for ns, by_name in sorted(self.services.items()):
            for svc, ips in sorted(by_name.items()):
                if ips:
                    for host in (f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"):
                        rules.append(f"MAP {host} {ips[0]}")
        return ", ".join(rules)


def write_table(path: str, table: DnsTable) -> None:
    """Replace the table file atomically so readers never see half a file."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(table.to_json())
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
                self._table = DnsTable(data.get("services", {}))
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
            from_pod_address(self, address)
            return orig_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
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
