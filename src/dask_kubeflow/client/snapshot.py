"""What ``status`` and ``doctor`` read, as plain values: no I/O, no kr8s.

``cluster_api`` fills these in (recording API errors instead of raising them, so the commands can
show every problem at once); ``probe`` fills in what a real connection showed; ``doctor`` and the
``status`` table read them. Objects are the JSON the API server sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..kube.usage_record import UsageRecord
from .errors import ConnectError, PermissionDeniedError

if TYPE_CHECKING:
    from .versions import VersionReport

__all__ = ["Access", "ClusterSnapshot", "ProbeResult"]

Obj = Mapping[str, Any]


class Access(NamedTuple):
    """One RBAC permission connect() needs, as a SelfSubjectAccessReview answered it."""

    verb: str
    resource: str
    allowed: bool | None
    """None: the review itself failed (could not ask)."""
    why: str


@dataclass(frozen=True)
class ClusterSnapshot:
    """Everything ``status``/``doctor`` show about one namespace's cluster; read errors are recorded."""

    namespace: str
    name: str
    api_served: bool | None = None
    """Whether the API server serves kubernetes.dask.org/v1 (None: not known, see ``api_error``)."""
    cluster: Obj | None = None
    clusters: Sequence[str] = ()
    """Names of the DaskClusters in the namespace, when ``name`` is not one of them."""
    autoscaler: Obj | None = None
    scheduler_pods: Sequence[Obj] = ()
    worker_pods: Sequence[Obj] = ()
    events: Sequence[Obj] = ()
    quotas: Sequence[Obj] = ()
    error: ConnectError | None = None
    """Why the DaskCluster could not be read."""
    api_error: str | None = None
    """Why the Kubernetes API could not be reached at all."""
    api_failure: Exception | None = None
    """The error behind ``api_error`` (a KubeError or a ConnectError), for its fix."""
    forbidden: Sequence[PermissionDeniedError] = ()
    """Reads the API server answered 403 (what RBAC really refused, beyond what access reviews say)."""
    pods_visible: bool = True
    controller: Obj | None = None
    """The controller's status record of the namespace (``kube.namespace_status.from_configmap``);
    None when it could not be read (forbidden)."""
    usage: UsageRecord | None = None
    """The controller's usage record of the namespace (``kube.usage_record``); None when there is none,
    it is malformed, or it could not be read."""


@dataclass(frozen=True)
class ProbeResult:
    """What ``doctor``/``status`` learn by really connecting: reachability, versions, live size, dashboard."""

    scheduler_address: str | None = None
    error: str | None = None
    mismatches: Mapping[str, tuple[str | None, str | None]] | None = None
    versions: VersionReport | None = None
    """Client, scheduler and worker versions, one row per package (``versions.version_report``)."""
    workers: int | None = None
    threads: int | None = None
    memory: int | None = None
    dashboard_link: str | None = None
    dashboard_url: str | None = None
    dashboard_status: int | None = None
    dashboard_error: str | None = None
