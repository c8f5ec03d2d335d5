"""Validate Kubernetes objects against their real schemas, strictly (unknown fields are errors).

Custom resources: the CRD YAML itself (dask-kubernetes wheel; Kubeflow and Istio reference CRDs).
The API server would silently prune an unknown field, so the schema is tightened here to refuse it,
as ``kubectl apply --validate=strict`` does. Built-in kinds: ``kubernetes-validate`` in strict mode.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import dask_kubernetes
import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.37.0"
DASK_CRDS = (Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm"
             / "dask-kubernetes-operator" / "crds")
_REPO = Path(__file__).resolve().parents[2]
# Kubeflow/Istio CRDs, vendored from kubeflow/manifests 26.03 and Istio 1.29.
KUBEFLOW_CRD_DIR = _REPO / "reference" / "kubeflow" / "crds"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def kubeflow_crd_dir() -> Path:
    if not KUBEFLOW_CRD_DIR.is_dir():
        raise FileNotFoundError(f"the Kubeflow/Istio reference CRDs are missing from {KUBEFLOW_CRD_DIR}")
    return KUBEFLOW_CRD_DIR


def _strict(node: Any) -> Any:
    """OpenAPI (Kubernetes dialect) -> JSON Schema refusing fields the structural schema lacks."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    for key in ("properties", "patternProperties"):
        if key in node:
            out[key] = {k: _strict(v) for k, v in node[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            out[key] = _strict(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            out[key] = [_strict(n) for n in node[key]]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], jsonschema.Draft4Validator]:
    """(apiVersion, kind) -> validator, for every served version of every known CRD."""
    validators = {}
    for path in [*sorted(DASK_CRDS.glob("*.yaml")), *sorted(kubeflow_crd_dir().glob("*.yaml"))]:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = dict(version["schema"]["openAPIV3Schema"])
                properties = dict(schema.get("properties", {}))
                properties.pop("metadata", None)  # checked by validate_metadata, as the server does
                properties["apiVersion"] = {"type": "string"}
                properties["kind"] = {"type": "string"}
                properties["metadata"] = {"type": "object"}
                schema["properties"] = properties
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft4Validator(_strict(schema))
    return validators


def validate_metadata(obj: dict[str, Any]) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    assert name and len(name) <= 253 and _DNS_SUBDOMAIN.match(name), f"bad metadata.name {name!r}"
    namespace = meta.get("namespace")
    if namespace is not None:
        assert len(namespace) <= 63 and _DNS_SUBDOMAIN.match(namespace) and "." not in namespace, namespace
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        assert len(label) <= 63 and _LABEL_NAME.match(label), f"bad label key {key!r}"
        assert not prefix or _DNS_SUBDOMAIN.match(prefix), f"bad label prefix {key!r}"
        assert isinstance(value, str) and len(value) <= 63 and (value == "" or _LABEL_NAME.match(value)), (
            f"bad label value {key}={value!r}")
    for key, value in (meta.get("annotations") or {}).items():
        assert isinstance(value, str), f"annotation {key} must be a string"


def validate(obj: dict[str, Any]) -> None:
    """Raise (AssertionError or a schema ValidationError naming the field) unless ``obj`` is valid."""
    validate_metadata(obj)
    key = (obj["apiVersion"], obj["kind"])
    validator = crd_schemas().get(key)
    if validator is not None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if error is not None:
            raise error
        return
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
