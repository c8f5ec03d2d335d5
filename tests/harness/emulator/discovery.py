"""Discovery documents (/api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>, /version) built from the registry."""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .resources import Registry, ResourceType

VERSION = {
    "major": "1", "minor": "34", "gitVersion": "v1.34.0-emulator", "gitCommit": "emulator",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
    "compiler": "gc", "platform": "linux/amd64",
}


def _entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural, "singularName": rt.singular or rt.kind.lower(), "namespaced": rt.namespaced,
        "kind": rt.kind, "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    out = [main]
    if rt.status:
        out.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                    "kind": rt.kind, "verbs": ["get", "patch", "update"]})
    if rt.scale:
        out.append({"name": f"{rt.plural}/scale", "singularName": "", "namespaced": rt.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
    return out


def api_versions(address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    rts = [rt for rt in registry if rt.group == group and version in rt.versions]
    if not rts:
        raise ApiError(404, "NotFound", f"the server could not find the requested resource (group version "
                                        f"{group + '/' if group else ''}{version} is not served)")
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [e for rt in sorted(rts, key=lambda r: r.plural) for e in _entries(rt)]}


def _group(name: str, rts: list[ResourceType]) -> dict[str, Any]:
    versions: list[str] = []
    for rt in rts:
        for v in rt.versions:
            if v not in versions:
                versions.append(v)
    return {"name": name,
            "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]}}


def group_list(registry: Registry) -> dict[str, Any]:
    groups: dict[str, list[ResourceType]] = {}
    for rt in registry:
        if rt.group:
            groups.setdefault(rt.group, []).append(rt)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g, groups[g]) for g in sorted(groups)]}


def group(registry: Registry, name: str) -> dict[str, Any]:
    rts = [rt for rt in registry if rt.group == name]
    if not rts:
        raise ApiError(404, "NotFound", f"the server could not find the requested resource (API group {name} is "
                                        "not served)")
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, rts)}


def root_paths(registry: Registry) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/version"}
    for rt in registry:
        if rt.group:
            paths.add(f"/apis/{rt.group}")
            paths.update(f"/apis/{rt.group}/{v}" for v in rt.versions)
    return {"paths": sorted(paths)}
