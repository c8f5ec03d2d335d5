"""A CRD's `openAPIV3Schema` applied as the API server applies it: prune, default, validate (422 causes).

Order, as in kube-apiserver: drop `null` where the field is not `nullable`, prune fields the structural
schema does not declare (unless `x-kubernetes-preserve-unknown-fields`), apply `default`s, then validate.
Not done: CEL rules (`x-kubernetes-validations`), `format` checks, list-type uniqueness (`x-kubernetes-list-type`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_EMBEDDED = ("apiVersion", "kind", "metadata")


def field_path(parts: Any) -> str:
    """`spec.worker.containers[0].name` from a jsonschema/absolute path."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3 (Kubernetes dialect) -> JSON Schema draft 4 that jsonschema can check."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _to_json_schema(value)
        elif key.startswith("x-kubernetes-") or key in ("nullable", "default", "format", "description", "example"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
    return out


class CrdSchema:
    """One version's schema, compiled once at CRD registration."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.openapi = openapi
        body = copy.deepcopy(openapi)
        # metadata is validated by the server itself (names), not by the CRD schema.
        body.get("properties", {}).pop("metadata", None)
        self._validator = jsonschema.Draft4Validator(_to_json_schema(body))

    # -- prune / null-drop / default -------------------------------------------------------------
    def normalize(self, obj: dict[str, Any]) -> list[str]:
        """Prune, drop nulls and default `obj` in place; return the unknown (pruned) field paths."""
        unknown: list[str] = []
        for key in list(obj):
            if key in _ROOT_FIELDS:
                continue
            prop = self.openapi.get("properties", {}).get(key)
            if prop is None:
                if not self.openapi.get("x-kubernetes-preserve-unknown-fields"):
                    unknown.append(key)
                    del obj[key]
                continue
            if obj[key] is None and not prop.get("nullable"):
                del obj[key]
                continue
            obj[key] = _walk(obj[key], prop, [key], unknown)
        _apply_defaults(obj, self.openapi, skip=_ROOT_FIELDS)
        return unknown

    # -- validate -------------------------------------------------------------------------------
    def causes(self, obj: dict[str, Any]) -> list[dict[str, str]]:
        """Validation failures as Status `causes` (reason, message, field), sorted by field."""
        body = {k: v for k, v in obj.items() if k != "metadata"}
        causes = [_cause(e) for e in self._validator.iter_errors(body)]
        unique = {(c["field"], c["message"]): c for c in causes}
        return sorted(unique.values(), key=lambda c: c["field"])


def _walk(value: Any, schema: dict[str, Any], path: list[Any], unknown: list[str]) -> Any:
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema
                                    or "additionalProperties" in schema):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        embedded = schema.get("x-kubernetes-embedded-resource")
        for key in list(value):
            sub = props.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if preserve or extra is True or (embedded and key in _EMBEDDED):
                    continue
                unknown.append(field_path([*path, key]))
                del value[key]
                continue
            if value[key] is None and not sub.get("nullable"):
                del value[key]
                continue
            value[key] = _walk(value[key], sub, [*path, key], unknown)
        _apply_defaults(value, schema)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            value[index] = _walk(item, schema["items"], [*path, index], unknown)
    return value


def _apply_defaults(value: dict[str, Any], schema: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    for key, sub in (schema.get("properties") or {}).items():
        if key not in skip and key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])


def _json(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, (dict, list)) else json.dumps(value)[:200]


def _cause(error: jsonschema.ValidationError) -> dict[str, str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return {"reason": "FieldValueRequired", "message": "Required value", "field": field_path([*path, missing])}
    where = field_path(path)
    if error.validator == "type":
        actual = _type_name(error.instance)
        wanted = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
        return {"reason": "FieldValueTypeInvalid",
                "message": f'Invalid value: "{actual}": {where} in body must be of type {wanted}: "{actual}"',
                "field": where}
    if error.validator == "enum":
        supported = ", ".join(json.dumps(v) for v in error.validator_value)
        return {"reason": "FieldValueNotSupported",
                "message": f"Unsupported value: {_json(error.instance)}: supported values: {supported}",
                "field": where}
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {_json(error.instance)}: {error.message}",
            "field": where}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
