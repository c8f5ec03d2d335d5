"""SubjectAccessReview answers from a rule table that tests set (default deny).

The emulator does not authenticate or authorize its own requests; only explicit
SubjectAccessReviews (what a gateway asks on behalf of a user) consult this table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    user: str  # a user name, "group:<name>" for a group, or "*"
    namespace: str = "*"
    verb: str = "*"
    group: str = "*"
    resource: str = "*"

    def allows(self, user: str, groups: list[str], namespace: str, verb: str, group: str, resource: str) -> bool:
        if self.user != "*" and self.user != user and not (
                self.user.startswith("group:") and self.user[len("group:"):] in groups):
            return False
        return all(want in ("*", got) for want, got in (
            (self.namespace, namespace), (self.verb, verb), (self.group, group), (self.resource, resource)))

    def describe(self) -> str:
        return (f"rule user={self.user} namespace={self.namespace} verb={self.verb} "
                f"group={self.group or '(core)'} resource={self.resource}")


class RuleTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []

    def allow(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def review(self, body: dict[str, Any]) -> dict[str, Any]:
        """The reviewed object with `status: {allowed, reason}` filled in, as the API server returns it."""
        spec = body.get("spec") or {}
        user = spec.get("user") or ""
        groups = list(spec.get("groups") or [])
        attrs = spec.get("resourceAttributes")
        if attrs is None:
            non = spec.get("nonResourceAttributes") or {}
            namespace, verb, group, resource = "", non.get("verb", ""), "", non.get("path", "")
        else:
            namespace = attrs.get("namespace", "")
            verb = attrs.get("verb", "")
            group = attrs.get("group", "")
            resource = attrs.get("resource", "")
            if attrs.get("subresource"):
                resource = f"{resource}/{attrs['subresource']}"
        with self._lock:
            rules = list(self._rules)
        match = next((r for r in rules if r.allows(user, groups, namespace, verb, group, resource)), None)
        where = f'in namespace "{namespace}"' if namespace else "cluster-wide"
        what = f'{verb} {resource}{"." + group if group else ""}'
        if match is not None:
            status = {"allowed": True, "reason": f'allowed by emulator {match.describe()}'}
        else:
            status = {"allowed": False,
                      "reason": f'no emulator rule allows user "{user}" to {what} {where} '
                                "(tests add rules with Emulator.allow)"}
        out = dict(body)
        out.setdefault("apiVersion", "authorization.k8s.io/v1")
        out.setdefault("kind", "SubjectAccessReview")
        out.setdefault("metadata", {})
        out["status"] = status
        return out
