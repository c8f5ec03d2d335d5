"""Label and field selectors, parsed as the API server parses them (`a=b,c!=d,e in (x,y),!f`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError, bad_request

Matcher = Callable[[Mapping[str, Any]], bool]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_REQ = re.compile(
    rf"\s*(?:(?P<not>!)\s*(?P<nkey>{_KEY})"
    rf"|(?P<key>{_KEY})\s*(?:(?P<op>==|=|!=)\s*(?P<value>{_VALUE})"
    rf"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


def parse_label_selector(text: str | None) -> Matcher:
    """A predicate over an object's labels; raises 400 on syntax errors, like the API server."""
    if not text or not text.strip():
        return lambda labels: True
    tests: list[Matcher] = []
    pos = 0
    while pos < len(text):
        m = _REQ.match(text, pos)
        if not m or m.end() == pos:
            raise bad_request(f'unable to parse requirement: found "{text[pos:]}" in label selector "{text}"')
        pos = m.end()
        if m["nkey"]:
            key = m["nkey"]
            tests.append(lambda labels, k=key: k not in labels)
        elif m["op"]:
            key, value = m["key"], m["value"]
            if m["op"] == "!=":
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif m["setop"]:
            key = m["key"]
            values = {v.strip() for v in m["values"].split(",") if v.strip()}
            if m["setop"] == "in":
                tests.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                tests.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        else:
            key = m["key"]
            tests.append(lambda labels, k=key: k in labels)
    return lambda labels: all(t(labels) for t in tests)


def _lookup(obj: Mapping[str, Any], dotted: str) -> str:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(text: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over a whole object. Any dotted field path is accepted (the real server allows
    only `metadata.name`, `metadata.namespace` and a few per-kind fields: the emulator is more lenient)."""
    if not text or not text.strip():
        return lambda obj: True
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in text.split(","):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            raise bad_request(f'invalid field selector: "{term}" is not <field>=<value> or <field>!=<value>')
        path, op, value = m.groups()
        if op == "!=":
            tests.append(lambda obj, p=path, v=value: _lookup(obj, p) != v)
        else:
            tests.append(lambda obj, p=path, v=value: _lookup(obj, p) == v)
    return lambda obj: all(t(obj) for t in tests)


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None,
                           nil_matches: bool = False) -> bool:
    """A `metav1.LabelSelector` (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) over labels.
    `{}` matches everything; None matches nothing unless `nil_matches` (webhook selectors default to `{}`)."""
    if selector is None:
        return nil_matches
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


class Selection:
    """What a list/watch asks for: namespace, labelSelector, fieldSelector (and a name for single watches)."""

    def __init__(self, namespace: str | None, labels: str | None, fields: str | None, name: str | None = None):
        self.namespace = namespace
        self.name = name
        self._labels = parse_label_selector(labels)
        self._fields = parse_field_selector(fields)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.name is not None and meta.get("name") != self.name:
            return False
        return self._labels(meta.get("labels") or {}) and self._fields(obj)


__all__ = ["ApiError", "Selection", "label_selector_matches", "parse_field_selector", "parse_label_selector"]
