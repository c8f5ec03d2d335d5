"""Authentication: bearer tokens -> `userInfo` (username, uid, groups, extra), as the API server's token
authenticators produce it.

The kubeconfig the emulator writes on start carries the admin token (`kubernetes-admin`, group
`system:masters`, which bypasses authorization as on a real cluster). Tests mint more identities
(`Emulator.identity`, `Emulator.service_account`); each has its own token and can write a kubeconfig.
An unknown token is 401 Unauthorized.

Two departures, both forced by the transport being plain HTTP: kubectl (client-go) does not send bearer
tokens over `http://`, so a request without credentials is the admin (on a real server it would be
`system:anonymous`); and so that kubectl can still act as someone, an identity's kubeconfig also names
it in `as`/`as-groups`, which kubectl sends as `Impersonate-*` headers. Impersonation is honoured as the
API server does it: the requester needs the `impersonate` verb (system:masters has it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ADMIN_TOKEN = "emulator-token"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def privileged(self) -> bool:
        """Members of system:masters bypass authorization (the API server's privileged-group authorizer)."""
        return MASTERS in self.groups

    def as_dict(self) -> dict[str, Any]:
        """The `userInfo` of an AdmissionReview / the `spec` fields of a SubjectAccessReview."""
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra}
        return out


ADMIN = UserInfo("kubernetes-admin", (MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


def service_account_user(namespace: str, name: str) -> UserInfo:
    """The userInfo the API server gives a ServiceAccount token."""
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"serviceaccount:{namespace}/{name}"))  # stable, UUID-shaped
    return UserInfo(f"{SA_PREFIX}{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED), uid)


@dataclass(frozen=True)
class Identity:
    """A caller the emulator knows: its token and userInfo, and a kubeconfig that authenticates as it."""

    user: UserInfo
    token: str
    kubeconfig: Path

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def groups(self) -> tuple[str, ...]:
        return self.user.groups


def impersonated(user: str, groups: list[str], uid: str, extra: dict[str, list[str]]) -> UserInfo:
    """The userInfo an `Impersonate-User` request acts as (system:authenticated added, as the API server does;
    a ServiceAccount without explicit groups gets its ServiceAccount groups)."""
    if user.startswith(SA_PREFIX) and not groups and user.count(":") == 3:
        _, _, namespace, name = user.split(":")
        sa = service_account_user(namespace, name)
        return UserInfo(sa.username, sa.groups, uid, tuple(sorted((k, tuple(v)) for k, v in extra.items())))
    all_groups = tuple(dict.fromkeys([*groups, AUTHENTICATED]))
    return UserInfo(user, all_groups, uid, tuple(sorted((k, tuple(v)) for k, v in extra.items())))


def write_kubeconfig(path: Path, url: str, namespace: str = "default", token: str = ADMIN_TOKEN,
                     user: str = "emulator", impersonate: UserInfo | None = None) -> Path:
    credentials: dict[str, Any] = {"token": token}
    if impersonate is not None:  # for kubectl, which sends no token over http:// (see the module docstring)
        credentials["as"] = impersonate.username
        groups = [g for g in impersonate.groups if g != AUTHENTICATED]
        if groups:
            credentials["as-groups"] = groups
        if impersonate.uid:
            credentials["as-uid"] = impersonate.uid
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": user,
                                                       "namespace": namespace}}],
        "current-context": "emulator",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    partial.replace(path)  # atomic: whoever polls for the file never reads half of it
    return path


@dataclass
class Authenticator:
    """Token table. Identities survive `Emulator.reset()` (a module-scoped operator may run as one)."""

    _tokens: dict[str, UserInfo] = field(default_factory=lambda: {ADMIN_TOKEN: ADMIN})
    _by_user: dict[UserInfo, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, user: UserInfo) -> str:
        """The token of `user` (the same one every time for the same userInfo)."""
        with self._lock:
            token = self._by_user.get(user)
            if token is None:
                token = f"emulator-{secrets.token_urlsafe(18)}"
                self._by_user[user] = token
                self._tokens[token] = user
            return token

    def authenticate(self, authorization: str | None) -> UserInfo | None:
        """userInfo for an `Authorization` header; the admin without one (see the module docstring);
        None (401) for a token the emulator did not issue."""
        if not authorization:
            return ADMIN
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._tokens.get(token.strip())


def kubeconfig_name(user: UserInfo) -> str:
    """A file name for the kubeconfig of `user` (readable, and unique per userInfo)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", user.username)[:60]
    digest = hashlib.sha1(repr(user).encode()).hexdigest()[:8]
    return f"kubeconfig-{slug}-{digest}"
