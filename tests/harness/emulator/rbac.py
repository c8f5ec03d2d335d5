"""RBAC authorization, as the API server's RBAC authorizer decides it (k8s.io/kubernetes plugin/pkg/auth/
authorizer/rbac): ClusterRoleBindings, then the RoleBindings of the request's namespace; ClusterRole
`aggregationRule`; verbs and resources with `*`, `*/<subresource>`, `resourceNames`, `nonResourceURLs`.

The bootstrap roles every request relies on (system:discovery, system:public-info-viewer,
system:basic-user) are built in, not stored; the privileged group system:masters bypasses RBAC.
Effective ClusterRoles and the ClusterRoleBindings are cached per generation of those resources in the
store, so a cluster with thousands of namespaces costs one scan per RBAC change, not per request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .identity import AUTHENTICATED, UNAUTHENTICATED, UserInfo
from .sar import RuleTable
from .selectors import label_selector_matches

RBAC_GROUP = "rbac.authorization.k8s.io"
Obj = dict[str, Any]
_DISCOVERY = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
              "/version", "/version/"]
_PUBLIC = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
# (ClusterRole, rules, groups its ClusterRoleBinding of the same name binds)
BOOTSTRAP = (
    ("system:discovery", [{"nonResourceURLs": _DISCOVERY, "verbs": ["get"]}], (AUTHENTICATED,)),
    ("system:public-info-viewer", [{"nonResourceURLs": _PUBLIC, "verbs": ["get"]}], (AUTHENTICATED, UNAUTHENTICATED)),
    ("system:basic-user", [{"apiGroups": ["authorization.k8s.io"], "verbs": ["create"],
                            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}], (AUTHENTICATED,)),
)


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (authorizer.Attributes)."""

    user: UserInfo
    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True


def forbidden_message(a: Attributes, reason: str = "") -> str:
    """The API server's 403 wording (endpoints/handlers/responsewriters.forbiddenMessage + NewForbidden)."""
    user = a.user.username
    if not a.resource_request:
        msg = f'forbidden: User "{user}" cannot {a.verb} path "{a.path}"'
    else:
        resource = a.resource + (f"/{a.subresource}" if a.subresource else "")
        where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        qualified = f"{a.resource}.{a.group}" if a.group else a.resource
        subject = f'{qualified} "{a.name}"' if a.name else qualified
        msg = (f'{subject} is forbidden: User "{user}" cannot {a.verb} resource "{resource}" in API group '
               f'"{a.group}" {where}')
    return f"{msg}: {reason}" if reason else msg


def _resource_matches(resources: list[str], combined: str, subresource: str) -> bool:
    for want in resources:
        if want == "*" or want == combined:
            return True
        if subresource and want == f"*/{subresource}":
            return True
    return False


def rule_allows(rule: Obj, a: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    if not a.resource_request:
        return any(u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1]))
                   for u in rule.get("nonResourceURLs") or [])
    groups = rule.get("apiGroups") or []
    if "*" not in groups and a.group not in groups:
        return False
    combined = a.resource + (f"/{a.subresource}" if a.subresource else "")
    if not _resource_matches(rule.get("resources") or [], combined, a.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _subject_applies(subject: Obj, user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.username
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.username == f"system:serviceaccount:{namespace}:{name}"
    return False


def _describe_subject(subject: Obj, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or binding_namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class Authorizer:
    """Answers `authorize(Attributes)` -> (allowed, reason) from the RBAC objects in the store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._roles_key: Any = None
        self._cluster_roles: dict[str, list[Obj]] = {}
        self._bindings_key: Any = None
        self._cluster_bindings: list[Obj] = []

    def _rt(self, plural: str) -> Any:
        return self.store.registry.by_plural(RBAC_GROUP, plural)

    def _gen(self, plural: str) -> int:
        return self.store.generations[f"{plural}.{RBAC_GROUP}"]

    # ------------------------------------------------------------------ cached cluster-wide state
    def cluster_roles(self) -> dict[str, list[Obj]]:
        """Effective rules per ClusterRole: aggregated ones get the union of the roles they select."""
        key = self._gen("clusterroles")
        with self._lock:
            if key == self._roles_key:
                return self._cluster_roles
        stored = {o["metadata"]["name"]: o for o in self.store.list(self._rt("clusterroles"), lambda o: True)[0]}
        resolved: dict[str, list[Obj]] = {name: list(rules) for name, rules, _ in BOOTSTRAP}

        def resolve(name: str, seen: frozenset[str]) -> list[Obj]:
            if name in resolved:
                return resolved[name]
            role = stored[name]
            selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors")
            if selectors is None:
                rules = list(role.get("rules") or [])
            else:  # the clusterrole-aggregation controller: rules = union of the selected roles' rules
                rules = []
                for other_name in sorted(stored):
                    other = stored[other_name]
                    labels = other["metadata"].get("labels") or {}
                    if other_name in seen or other_name == name or not any(
                            label_selector_matches(s, labels) for s in selectors):
                        continue
                    for rule in resolve(other_name, seen | {name}):
                        if rule not in rules:
                            rules.append(rule)
            resolved[name] = rules
            return rules

        for name in stored:
            resolve(name, frozenset())
        with self._lock:
            self._roles_key, self._cluster_roles = key, resolved
        return resolved

    def cluster_bindings(self) -> list[Obj]:
        key = self._gen("clusterrolebindings")
        with self._lock:
            if key == self._bindings_key:
                return self._cluster_bindings
        bindings = self.store.list(self._rt("clusterrolebindings"), lambda o: True)[0]
        bootstrap = [{"metadata": {"name": name}, "roleRef": {"kind": "ClusterRole", "name": name},
                      "subjects": [{"kind": "Group", "name": g} for g in groups]} for name, _, groups in BOOTSTRAP]
        with self._lock:
            self._bindings_key, self._cluster_bindings = key, bootstrap + bindings
        return self._cluster_bindings

    # ------------------------------------------------------------------ decisions
    def _role_rules(self, ref: Obj, namespace: str, errors: list[str]) -> list[Obj]:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            rules = self.cluster_roles().get(name)
            if rules is None:
                errors.append(f'clusterrole.{RBAC_GROUP} "{name}" not found')
            return rules or []
        if kind == "Role" and namespace:
            role = self.store.find(self._rt("roles"), namespace, name)
            if role is None:
                errors.append(f'role.{RBAC_GROUP} "{name}" not found')
                return []
            return list(role.get("rules") or [])
        return []

    def _visit(self, binding: Obj, namespace: str, a: Attributes, errors: list[str]) -> str | None:
        """The 'allowed by' reason if `binding` grants `a`, else None."""
        bns = binding["metadata"].get("namespace", "")
        subject = next((s for s in binding.get("subjects") or [] if _subject_applies(s, a.user, bns)), None)
        if subject is None:
            return None
        ref = binding.get("roleRef") or {}
        for rule in self._role_rules(ref, namespace, errors):
            if rule_allows(rule, a):
                what = (f'RoleBinding "{binding["metadata"]["name"]}/{bns}"' if bns
                        else f'ClusterRoleBinding "{binding["metadata"]["name"]}"')
                return f'RBAC: allowed by {what} of {ref.get("kind")} "{ref.get("name")}" to ' \
                       f"{_describe_subject(subject, bns)}"
        return None

    def authorize(self, a: Attributes) -> tuple[bool, str]:
        if a.user.privileged:
            return True, ""
        errors: list[str] = []
        for binding in self.cluster_bindings():
            reason = self._visit(binding, "", a, errors)
            if reason:
                return True, reason
        if a.namespace and a.resource_request:
            for binding in self.store.list(self._rt("rolebindings"), lambda o: True, a.namespace)[0]:
                reason = self._visit(binding, a.namespace, a, errors)
                if reason:
                    return True, reason
        if not errors:
            return False, ""
        return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def review(body: Obj, authorizer: Authorizer, table: RuleTable, requester: UserInfo | None = None) -> Obj:
    """A SubjectAccessReview (or, with `requester`, a SelfSubjectAccessReview) answered by RBAC, then by the
    tests' rule table (`Emulator.allow`) for what RBAC does not allow."""
    spec = body.get("spec") or {}
    if requester is not None:
        user = requester
    else:
        extra = tuple(sorted((k, tuple(v)) for k, v in (spec.get("extra") or {}).items()))
        user = UserInfo(spec.get("user") or "", tuple(spec.get("groups") or ()), spec.get("uid") or "", extra)
    attrs = spec.get("resourceAttributes")
    if attrs is None:
        non = spec.get("nonResourceAttributes") or {}
        a = Attributes(user, non.get("verb", ""), path=non.get("path", ""), resource_request=False)
    else:
        a = Attributes(user, attrs.get("verb", ""), attrs.get("namespace", ""), attrs.get("group", ""),
                       attrs.get("resource", ""), attrs.get("subresource", ""), attrs.get("name", ""))
    allowed, reason = authorizer.authorize(a)
    out = table.review({**body, "spec": {**spec, "user": user.username, "groups": list(user.groups)}})
    if allowed:
        out["status"] = {"allowed": True, "reason": reason} if reason else {"allowed": True}
    if requester is not None:
        out["kind"] = "SelfSubjectAccessReview"
        out["spec"] = spec
    return out
