"""Kubernetes API servers that fail the way real ones do, and kubeconfigs pointing at them.

- ``dead_port()``: a port nothing listens on (connection refused);
- ``BrokenAPI("hang")``: accepts connections and never answers;
- ``BrokenAPI(401 | 403 | 404)``: answers every request with that status and a Kubernetes ``Status``
  (403: except ``/version``, which a real API server shows to everyone);
- ``BrokenAPI("tls")``: HTTPS with a self-signed certificate the kubeconfig does not trust.

Each server is a thread of this process, stopped by ``close()`` (or the ``with`` block).
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
MESSAGES = {
    401: "Unauthorized",
    403: 'forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "kf-x"',
    404: "the server could not find the requested resource",
}


def dead_port() -> int:
    """A local port that refuses connections (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_kubeconfig(path: Path, server: str, namespace: str | None = None, ca_file: str | None = None) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = ca_file
    context: dict[str, Any] = {"cluster": "broken", "user": "alice"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "broken",
        "clusters": [{"name": "broken", "cluster": cluster}],
        "contexts": [{"name": "broken", "context": context}],
        "users": [{"name": "alice", "user": {"token": "not-a-real-token"}}],
    }))
    return path


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broken-api")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class BrokenAPI:
    """A one-behaviour API server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, behaviour: int | str, directory: Path) -> None:
        self.behaviour = behaviour
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._context: ssl.SSLContext | None = None
        if behaviour == "tls":
            cert, key = _self_signed(directory)
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(cert, key)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"broken-api-{behaviour}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.behaviour == 'tls' else 'http'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if self.behaviour == "hang":
                self._held.append(conn)  # accepted, never answered
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            if self._context is not None:
                try:
                    conn = self._context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate: what this server is for
            conn.settimeout(5)
            while (path := self._read_request(conn)) is not None:
                status = self.behaviour if isinstance(self.behaviour, int) else 200
                if status == 403 and path.startswith("/version"):
                    status, body = 200, json.dumps({"major": "1", "minor": "30", "gitVersion": "v1.30.0"}).encode()
                else:
                    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                       "message": MESSAGES.get(status, "ok"), "reason": REASONS.get(status, ""),
                                       "code": status}).encode()
                head = (f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode()
                conn.sendall(head + body)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> str | None:
        """The request's path once it is read whole; None when the client closed the connection."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            rest += conn.recv(65536)
        return head.split(b" ")[1].decode()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self) -> BrokenAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
