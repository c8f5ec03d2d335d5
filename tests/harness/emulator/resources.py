"""Which resource types the emulator serves: built-in kinds and CRDs registered from real CRD YAML."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .schema import CrdSchema

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SITE = Path(__import__("dask_kubernetes").__file__).parent
DASK_CRD_DIR = _SITE / "operator" / "deployment" / "helm" / "dask-kubernetes-operator" / "crds"
KUBEFLOW_CRD_DIR = Path(__file__).resolve().parents[3] / "reference" / "kubeflow" / "crds"  # vendored


def default_crd_files() -> list[Path]:
    """The dask-kubernetes wheel's four CRDs plus the Kubeflow/Istio reference CRDs."""
    kubeflow = sorted(KUBEFLOW_CRD_DIR.glob("*.yaml"))
    if not kubeflow:
        raise FileNotFoundError(f"the Kubeflow/Istio reference CRDs are missing from {KUBEFLOW_CRD_DIR}")
    return sorted(DASK_CRD_DIR.glob("*.yaml")) + kubeflow


@dataclass(frozen=True)
class ScaleSpec:
    spec_replicas: str  # dotted path, e.g. ".spec.worker.replicas"
    status_replicas: str
    label_selector: str | None = None


@dataclass
class ResourceType:
    """One served resource (all its served versions share one storage, as with conversion strategy None)."""

    group: str
    versions: tuple[str, ...]  # served versions, preferred first
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False  # has a /status subresource (status isolated from the main resource)
    scale: ScaleSpec | None = None
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    schemas: dict[str, CrdSchema] = field(default_factory=dict)  # version -> schema (CRDs only)
    crd_name: str | None = None  # set for custom resources
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # version -> columns
    has_generation: bool = True

    @property
    def key(self) -> str:
        """`plural.group` (or `plural` for core), as kubectl and RBAC spell it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str | None = None) -> str:
        version = version or self.versions[0]
        return f"{self.group}/{version}" if self.group else version

    @property
    def subresources(self) -> list[str]:
        return (["status"] if self.status else []) + (["scale"] if self.scale else [])

    def describe(self) -> str:
        """How the API server names the resource in messages: `pods`, `daskclusters.kubernetes.dask.org`."""
        return self.key


def _b(group: str, version: str, plural: str, kind: str, namespaced: bool = True, short: tuple[str, ...] = (),
       status: bool = False, scale: ScaleSpec | None = None, verbs: tuple[str, ...] | None = None,
       generation: bool = True) -> ResourceType:
    kw: dict[str, Any] = {}
    if verbs is not None:
        kw["verbs"] = verbs
    categories = ("all",) if kind in _IN_ALL else ()
    return ResourceType(group, (version,), plural, kind, namespaced, kind.lower(), short, categories, status, scale,
                        has_generation=generation, **kw)


# What `kubectl get all` lists (the API server's "all" category).
_IN_ALL = {"Pod", "Service", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}
_REPLICAS = ScaleSpec(".spec.replicas", ".status.replicas", ".status.selector")

BUILTINS: tuple[ResourceType, ...] = (
    _b("", "v1", "namespaces", "Namespace", False, ("ns",), status=True, generation=False),
    _b("", "v1", "pods", "Pod", True, ("po",), status=True),
    _b("", "v1", "services", "Service", True, ("svc",), status=True, generation=False),
    _b("", "v1", "endpoints", "Endpoints", True, ("ep",), generation=False),
    _b("", "v1", "configmaps", "ConfigMap", True, ("cm",), generation=False),
    _b("", "v1", "secrets", "Secret", True, (), generation=False),
    _b("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), generation=False),
    _b("", "v1", "events", "Event", True, ("ev",), generation=False),
    _b("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), status=True, generation=False),
    _b("", "v1", "limitranges", "LimitRange", True, ("limits",), generation=False),
    _b("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), status=True, generation=False),
    _b("", "v1", "nodes", "Node", False, ("no",), status=True, generation=False),
    _b("apps", "v1", "deployments", "Deployment", True, ("deploy",), status=True, scale=_REPLICAS),
    _b("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), status=True, scale=_REPLICAS),
    _b("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), status=True, scale=_REPLICAS),
    _b("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), status=True),
    _b("batch", "v1", "jobs", "Job", True, (), status=True),
    _b("events.k8s.io", "v1", "events", "Event", True, ("ev",), generation=False),
    _b("rbac.authorization.k8s.io", "v1", "roles", "Role", True, (), generation=False),
    _b("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, (), generation=False),
    _b("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, (), generation=False),
    _b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, (), generation=False),
    _b("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _b("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), status=True),
    _b("coordination.k8s.io", "v1", "leases", "Lease", True, (), generation=False),
    _b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), status=True),
    _b("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
       ("crd", "crds"), status=True),
    _b("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
       False, ()),
    _b("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
       False, ()),
    # Stored only: the emulator has no CEL (tests/security/test_controller_scope.py evaluates the one policy).
    _b("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy",
       False, (), status=True),
    _b("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
       "ValidatingAdmissionPolicyBinding", False, ()),
    _b("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, (), verbs=("create",)),
    _b("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, (),
       verbs=("create",)),
)


def resource_from_crd(crd: dict[str, Any]) -> ResourceType:
    """A ResourceType from an `apiextensions.k8s.io/v1` CustomResourceDefinition document."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    # Preferred version: the storage version first, like the API server's discovery order.
    served.sort(key=lambda v: not v.get("storage", False))
    first = served[0]
    subresources = first.get("subresources") or {}
    scale = subresources.get("scale")
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in served),
        plural=names["plural"],
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular", names["kind"].lower()),
        short_names=tuple(names.get("shortNames", ())),
        categories=tuple(names.get("categories", ())),
        status="status" in subresources,
        scale=ScaleSpec(scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath"))
        if scale else None,
        schemas={v["name"]: CrdSchema(v["schema"]["openAPIV3Schema"]) for v in served if v.get("schema")},
        crd_name=crd["metadata"]["name"],
        printer_columns={v["name"]: list(v.get("additionalPrinterColumns") or []) for v in served},
    )


def load_crd_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        for doc in yaml.load_all(Path(path).read_text(), Loader=_LOADER):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                docs.append(doc)
    return docs


class Registry:
    """Thread-safe table of served resource types, keyed by (group, plural)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], ResourceType] = {}
        for rt in BUILTINS:
            self._by_key[(rt.group, rt.plural)] = rt

    def add(self, rt: ResourceType) -> None:
        with self._lock:
            self._by_key[(rt.group, rt.plural)] = rt

    def remove_crd(self, crd_name: str) -> None:
        with self._lock:
            for key, rt in list(self._by_key.items()):
                if rt.crd_name == crd_name:
                    del self._by_key[key]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._by_key.get((group, plural))
        return rt if rt is not None and version in rt.versions else None

    def by_plural(self, group: str, plural: str) -> ResourceType | None:
        return self._by_key.get((group, plural))

    def find(self, name: str) -> ResourceType:
        """Resolve what a test writes: `pods`, `daskclusters.kubernetes.dask.org`, `DaskCluster`, `dsk`."""
        plural, _, group = name.partition(".")
        candidates = list(self)
        for rt in candidates:
            if rt.plural == plural and (not group or rt.group == group):
                return rt
        for rt in candidates:
            if name.lower() in (rt.kind.lower(), rt.singular) or name in rt.short_names:
                return rt
        known = ", ".join(sorted(rt.key for rt in candidates))
        raise KeyError(f"the emulator serves no resource called {name!r}; known resources: {known}")

    def __iter__(self) -> Iterator[ResourceType]:
        with self._lock:
            return iter(list(self._by_key.values()))
