"""Where is this notebook running? The facts ``connect()`` needs before it touches any network.

Inside a Kubeflow notebook pod the namespace is in the service-account file (kr8s 0.20 does not read
it and would say "default"), ``NB_PREFIX`` is ``/notebook/<ns>/<name>``, and the platform's PodDefault
sets the cluster name, tier and dashboard link as environment variables. Outside a pod, a kubeconfig
plus an explicit namespace is enough to connect through a port-forward. Everything here only reads
files and environment variables, so it is cheap and testable without Kubernetes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..policy import DEFAULT_CLUSTER_NAME
from ..kube.names import ENV_CLUSTER, ENV_DASHBOARD_LINK, ENV_NAMESPACE, ENV_TIER

__all__ = [
    "Environment",
    "NAMESPACE_FILE",
    "NAMESPACE_FILE_ENV",
    "detect",
    "in_cluster_server",
    "kubeconfig_context",
    "namespace_from_nb_prefix",
]

NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
NAMESPACE_FILE_ENV = "DASK_KUBEFLOW_NAMESPACE_FILE"
"""Overrides NAMESPACE_FILE (tests use it to simulate a notebook pod)."""

DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True)
class Environment:
    """What ``detect()`` found. Each ``*_source`` names where the value came from, for messages."""

    in_pod: bool
    namespace: str | None
    namespace_source: str
    cluster_name: str
    cluster_name_source: str
    kubeconfig: str | None
    notebook: str | None = None
    dashboard_link: str | None = None
    tier: str | None = None
    api_server: str | None = None
    """URL of the Kubernetes API (in-cluster service, or the kubeconfig context's server), for messages."""

    @property
    def credentials(self) -> str:
        """Where the Kubernetes credentials come from, for messages."""
        return f"kubeconfig {self.kubeconfig}" if self.kubeconfig else "the pod's service account"

    def should_use_kubernetes(self) -> bool:
        """Inside a pod, or outside with a kubeconfig, as long as a namespace is known."""
        return self.namespace is not None and (self.in_pod or self.kubeconfig is not None)

    def explain(self) -> str:
        """One short phrase saying why Kubernetes is or is not used."""
        if self.should_use_kubernetes():
            where = "inside a pod" if self.in_pod else f"kubeconfig {self.kubeconfig}"
            return f"{where}, namespace {self.namespace!r} from {self.namespace_source}"
        if self.in_pod:
            return "inside a pod but no namespace found (no service-account file, NB_PREFIX or namespace given)"
        if self.kubeconfig is None and self.namespace is None:
            return "no Kubernetes found (not in a pod, no kubeconfig/namespace)"
        if self.kubeconfig is None:
            return f"namespace {self.namespace!r} given but not in a pod and no kubeconfig found"
        return f"not in a pod and no namespace given (kubeconfig {self.kubeconfig} alone is not enough)"


def namespace_from_nb_prefix(nb_prefix: str | None) -> tuple[str | None, str | None]:
    """``/notebook/<ns>/<name>`` → (ns, name); anything else → (None, None)."""
    parts = [p for p in (nb_prefix or "").split("/") if p]
    if len(parts) >= 3 and parts[0] == "notebook":
        return parts[1], parts[2]
    return None, None


def _read_namespace_file(path: Path) -> str | None:
    try:
        value = path.read_text().strip()
    except OSError:
        return None
    return value or None


def _find_kubeconfig(environ: Mapping[str, str]) -> str | None:
    """The first kubeconfig file that exists ($KUBECONFIG may list several, ':'-separated)."""
    candidates = environ.get("KUBECONFIG", "").split(os.pathsep) if environ.get("KUBECONFIG") else [DEFAULT_KUBECONFIG]
    home = environ.get("HOME")
    for candidate in candidates:
        if not candidate:
            continue
        if candidate.startswith("~") and home:
            candidate = home + candidate[1:]
        path = Path(candidate).expanduser()
        if path.is_file():
            return str(path)
    return None


def kubeconfig_context(path: str | None) -> tuple[str | None, str | None]:
    """(namespace, server) of the kubeconfig's current context, as kubectl and kr8s read them;
    (None, None) when the file is missing or unreadable (kr8s then says why, on first use)."""
    if not path:
        return None, None
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
        current = config.get("current-context")
        context = next((c.get("context") or {} for c in config.get("contexts") or [] if c.get("name") == current), {})
        cluster = next((c.get("cluster") or {} for c in config.get("clusters") or []
                        if c.get("name") == context.get("cluster")), {})
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return None, None
    return context.get("namespace") or None, cluster.get("server") or None


def in_cluster_server(env: Mapping[str, str]) -> str | None:
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    return f"https://{host}:{port}" if host else None


def detect(
    namespace: str | None = None,
    cluster_name: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    namespace_file: str | os.PathLike[str] | None = None,
) -> Environment:
    """Find namespace, cluster name and credentials; ``environ``/``namespace_file`` are for tests.

    Namespace order: argument, service-account file, ``NB_PREFIX``, ``$DASK_KUBERNETES__NAMESPACE``,
    the kubeconfig's current context (as kubectl uses it).
    Cluster name order: argument, ``$DASK_KUBEFLOW_CLUSTER`` (set by the PodDefault), ``dask-cluster``.
    """
    env = os.environ if environ is None else environ
    sa_file = Path(namespace_file or env.get(NAMESPACE_FILE_ENV) or NAMESPACE_FILE)
    sa_namespace = _read_namespace_file(sa_file)
    in_pod = sa_namespace is not None or bool(env.get("KUBERNETES_SERVICE_HOST"))
    nb_namespace, notebook = namespace_from_nb_prefix(env.get("NB_PREFIX"))
    kubeconfig = _find_kubeconfig(env)
    context_namespace, server = kubeconfig_context(kubeconfig)

    candidates = [
        (namespace, "argument"),
        (sa_namespace, f"service-account file {sa_file}"),
        (nb_namespace, "NB_PREFIX"),
        (env.get(ENV_NAMESPACE) or None, f"${ENV_NAMESPACE}"),
        (context_namespace, f"the current context of kubeconfig {kubeconfig}"),
    ]
    found_ns, ns_source = next(((v, s) for v, s in candidates if v), (None, "none"))

    if cluster_name:
        name, name_source = cluster_name, "argument"
    elif env.get(ENV_CLUSTER):
        name, name_source = env[ENV_CLUSTER], f"${ENV_CLUSTER}"
    else:
        name, name_source = DEFAULT_CLUSTER_NAME, "default"

    return Environment(
        in_pod=in_pod,
        namespace=found_ns,
        namespace_source=ns_source,
        cluster_name=name,
        cluster_name_source=name_source,
        kubeconfig=kubeconfig,
        notebook=notebook,
        dashboard_link=env.get(ENV_DASHBOARD_LINK) or None,
        tier=env.get(ENV_TIER) or None,
        api_server=server if kubeconfig else in_cluster_server(env),  # kr8s prefers a kubeconfig too
    )
