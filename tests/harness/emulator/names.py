"""Object name rules the API server enforces (`metadata.name`), and generateName suffixes."""

from __future__ import annotations

import random
import re

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# Kinds whose names are path segments (RBAC allows `system:controller:x`), not DNS names.
PATH_SEGMENT_KINDS = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "SubjectAccessReview",
                      "SelfSubjectAccessReview"}
DNS_LABEL_KINDS = {"Namespace", "Service"}


def name_problem(kind: str, name: str) -> str | None:
    """Why `name` is not a valid name for `kind` (the API server's wording), or None when valid."""
    if kind in PATH_SEGMENT_KINDS:
        if name in (".", "..") or "/" in name or "%" in name:
            return f'Invalid value: "{name}": may not contain \'/\' or \'%\' and may not be \'.\' or \'..\''
        return None
    if kind in DNS_LABEL_KINDS:
        if len(name) > 63 or not _LABEL.fullmatch(name):
            return (f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case '
                    "alphanumeric characters or '-', and must start and end with an alphanumeric character "
                    "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
        return None
    if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        return (f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return None


def generate_name(prefix: str) -> str:
    return prefix + "".join(random.choice(_SUFFIX_ALPHABET) for _ in range(5))
