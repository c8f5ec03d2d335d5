"""What the controller follows, and the little (frozen, typed) it keeps of each object.

Every input arrives through one road, the ``informer``: Profiles, Namespaces, contributor
RoleBindings, ResourceQuotas and our own objects. Each source's ``extract`` keeps only what the
reconcile reads; an extract that returns None drops the object (for example a RoleBinding that
does not share the namespace with a user).
"""

from __future__ import annotations

import json
from typing import Any

from ..admission import counted
from ..kube.names import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from ..kube.namespace_status import status_body
from ..kube.resources import (CONFIG_MAP, MANAGED_KINDS, DaskAutoscaler, DaskCluster, DaskWorkerGroup, Kind,
                              Namespace, Profile, ResourceQuota, RoleBinding)
from ..policy import NamespaceFacts, Policy, resolve
from ..render import render_namespace
from .apply import MANAGED_CLASSES
from .facts import NamespaceMeta, Quota, profile_facts
from .informer import Source
from .livestate import Packer

__all__ = ["PACKER", "COUNTED_SOURCES", "MANAGED_SOURCES", "PROFILES", "NAMESPACES", "CONTRIBUTORS", "QUOTAS",
           "ALL_SOURCES"]


def _namespace_meta(obj: dict[str, Any]) -> NamespaceMeta:
    meta = obj["metadata"]
    return NamespaceMeta(labels=dict(meta.get("labels") or {}), owner=(meta.get("annotations") or {}).get("owner"),
                         terminating=bool(meta.get("deletionTimestamp")))


def _contributor(obj: dict[str, Any]) -> str | None:
    """Kubeflow's sharing model: a RoleBinding annotated user=<email> and role=edit|view."""
    annotations = obj["metadata"].get("annotations") or {}
    return annotations["user"] if annotations.get("user") and annotations.get("role") else None


def _quota(obj: dict[str, Any]) -> Quota:
    return Quota(name=obj["metadata"]["name"], hard=dict((obj.get("spec") or {}).get("hard") or {}))


def _own_name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _selector(kind: Kind) -> str:
    base = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    return f"{base},{COMPONENT_LABEL}=status" if kind == CONFIG_MAP else base


def _sample_objects() -> bytes:
    """What we write to a sample namespace, as JSON: the preset dictionary our objects pack with."""
    facts = NamespaceFacts(name="sample-namespace", owner="someone@example.com")
    objects = [*render_namespace(facts, resolve(Policy.builtin(), facts)), status_body(facts.name, {}, "")]
    return "".join(json.dumps(o, separators=(",", ":")) for o in objects).encode()


PACKER = Packer(_sample_objects())
MANAGED_SOURCES = [Source(MANAGED_CLASSES[kind], label_selector=_selector(kind), extract=PACKER.pack)
                   for kind in MANAGED_KINDS]
PROFILES = Source(Profile, extract=profile_facts, key=_own_name, quiet_if_same=True)
NAMESPACES = Source(Namespace, extract=_namespace_meta, key=_own_name, quiet_if_same=True)
CONTRIBUTORS = Source(RoleBinding, extract=_contributor, quiet_if_same=True)
QUOTAS = Source(ResourceQuota, extract=_quota, quiet_if_same=True)
# What the admission webhook counts against userClusters: every DaskCluster, DaskWorkerGroup and
# DaskAutoscaler (users' too, not only ours), each kept as one small ``admission.Counted``. A change
# of a user's one reconciles its namespace (the status record lists clusters above the tier:
# ``admission.exceeded``); of ours, never (the engine keeps them for the webhook only).
COUNTED_SOURCES = {resource: Source(cls, extract=lambda obj, resource=resource: counted(resource, obj),
                                    quiet_if_same=True)
                   for resource, cls in (("daskclusters", DaskCluster), ("daskworkergroups", DaskWorkerGroup),
                                         ("daskautoscalers", DaskAutoscaler))}
ALL_SOURCES = [*MANAGED_SOURCES, PROFILES, NAMESPACES, CONTRIBUTORS, QUOTAS, *COUNTED_SOURCES.values()]
