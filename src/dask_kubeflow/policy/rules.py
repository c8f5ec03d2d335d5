"""Rules for the values only a policy file holds: durations, environment names, owner emails and
domains, namespace globs (pure).

Kubernetes' own name rules (DNS labels, Service names, label keys and values) are shared with
render, the gateway and the CLI and live in ``dask_kubeflow.kube.names``.
"""

from __future__ import annotations

import re

__all__ = ["duration_seconds", "is_duration", "is_env_name", "is_namespace_glob", "is_owner"]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^@[^@\s]+\.[^@\s]+$")
_NAMESPACE_GLOB = re.compile(r"^[-a-z0-9*?\[\]!]+$")
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def is_duration(text: str) -> bool:
    """``90s``, ``5m``, ``1h30m``: hours, minutes and seconds in that order, at least one of them."""
    match = _DURATION.match(text)
    return bool(text) and match is not None and any(match.groupdict().values())


def duration_seconds(text: str) -> int:
    """Seconds of a duration :func:`is_duration` accepts."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 5m or 1h30m")
    return sum(int(v or 0) * k for v, k in zip(match.group("h", "m", "s"), (3600, 60, 1)))


def is_env_name(name: object) -> bool:
    """A name Kubernetes accepts for a container environment variable."""
    return isinstance(name, str) and bool(_ENV_NAME.match(name))


def is_owner(owner: str) -> bool:
    """An owner email (``alice@example.com``) or a whole domain (``@example.com``)."""
    return bool(_EMAIL.match(owner) or _DOMAIN.match(owner))


def is_namespace_glob(glob: str) -> bool:
    """A glob that can match a namespace name (lowercase letters, digits, '-', and glob characters)."""
    return bool(_NAMESPACE_GLOB.match(glob))
