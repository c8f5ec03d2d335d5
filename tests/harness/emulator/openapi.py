"""Just enough OpenAPI v3 for kubectl: per group-version documents whose PATCH operations declare the
`fieldValidation` query parameter, so kubectl uses server-side field validation (no schemas are
published: `kubectl explain` and client-side validation are not supported)."""

from __future__ import annotations

import hashlib
from typing import Any

from .errors import ApiError
from .resources import Registry, ResourceType


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rt in registry:
        for version in rt.versions:
            gv = _gv_path(rt.group, version)
            digest = hashlib.sha1(gv.encode()).hexdigest()[:16]
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": dict(sorted(paths.items()))}


def _operations(rt: ResourceType, version: str) -> dict[str, Any]:
    prefix = "/" + _gv_path(rt.group, version)
    base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    gvk = {"group": rt.group, "version": version, "kind": rt.kind}
    params = [{"name": n, "in": "query", "schema": {"type": "string"}}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
    op = {"x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": {"200": {"description": "OK"}}}
    return {
        base: {"post": {**op, "x-kubernetes-action": "post"}},
        f"{base}/{{name}}": {"patch": {**op, "x-kubernetes-action": "patch"},
                             "put": {**op, "x-kubernetes-action": "put"}},
    }


def group_version(registry: Registry, path: str) -> dict[str, Any]:
    parts = path.strip("/").split("/")
    group, version = ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else \
        (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else ("?", "?")
    rts = [rt for rt in registry if rt.group == group and version in rt.versions]
    if not rts:
        raise ApiError(404, "NotFound", f"no OpenAPI v3 document for {path}")
    paths: dict[str, Any] = {}
    for rt in rts:
        paths.update(_operations(rt, version))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes API emulator", "version": "v1.34.0"},
            "paths": paths, "components": {"schemas": {}}}
