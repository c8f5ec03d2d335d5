"""Why ``connect()`` could not give you a client, and what to do about it.

Every error carries ``problem`` (what is wrong, with the names involved) and ``fix`` (the next step a
user can take at 2 a.m.); ``str(err)`` shows both. Catch ``ConnectError`` to catch them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kube.names import SCHEDULER_PORT, scheduler_service
from .diagnose import explain_forbidden

if TYPE_CHECKING:
    from ..kube.errors import KubeError

__all__ = [
    "ClusterNotFoundError",
    "ConnectError",
    "OperatorNotInstalledError",
    "PermissionDeniedError",
    "SchedulerNotReadyError",
    "SchedulerUnreachableError",
    "VersionMismatchError",
    "WorkersNotReadyError",
]


class ConnectError(RuntimeError):
    """Base class: a problem found while connecting to a namespace's Dask cluster."""

    def __init__(self, problem: str, fix: str):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}\n  fix: {fix}")


class ClusterNotFoundError(ConnectError):
    """No DaskCluster of that name in the namespace."""

    def __init__(self, name: str, namespace: str, existing: list[str]):
        self.name, self.namespace, self.existing = name, namespace, existing
        others = f"clusters in {namespace!r}: {', '.join(existing)}" if existing else f"there is no DaskCluster in {namespace!r}"
        super().__init__(
            f"no Dask cluster named {name!r} in namespace {namespace!r} ({others})",
            (f"connect(cluster_name={existing[0]!r}) to use an existing one, or " if existing else "")
            + "ask your platform admin to enable Dask for this namespace (the dask-kubeflow controller "
            "creates it for every Kubeflow profile whose tier is enabled); check the namespace is right",
        )


class OperatorNotInstalledError(ConnectError):
    """The kubernetes.dask.org API (the Dask operator's CRDs) is not served by this cluster."""

    def __init__(self, api: str = "kubernetes.dask.org/v1"):
        self.api = api
        super().__init__(
            f"this Kubernetes cluster does not serve the {api} API: the Dask Kubernetes Operator's CRDs "
            "are not installed",
            "ask your platform admin to install the dask-kubernetes operator "
            "(helm install dask-kubernetes-operator dask/dask-kubernetes-operator) and dask-kubeflow; "
            "until then dask_kubeflow.connect(local=True) runs an embedded cluster",
        )


class PermissionDeniedError(ConnectError):
    """RBAC forbids a call connect() needs; names the exact verb and resource."""

    def __init__(self, verb: str, resource: str, namespace: str, user: str | None = None, detail: str = ""):
        self.verb, self.resource, self.namespace, self.user = verb, resource, namespace, user
        who = user or "this notebook's service account"
        super().__init__(
            f"{who} may not {verb} {resource} in namespace {namespace!r}" + (f" ({detail})" if detail else ""),
            f"ask the namespace owner or platform admin for a Role allowing verb {verb!r} on {resource!r} in "
            f"{namespace!r} (Kubeflow's kubeflow-edit role includes it once dask-kubeflow is installed); "
            "in a notebook, check it runs as ServiceAccount default-editor",
        )

    @classmethod
    def from_kube(cls, err: KubeError, namespace: str = "") -> PermissionDeniedError:
        """The 403 ``err`` for a user: verb, resource and user from the API server's message when it
        names them, else the request's own (``err.verb``/``err.resource``)."""
        namespace = namespace or err.namespace
        verb, resource, user = explain_forbidden(err.detail, verb=err.verb, resource=err.resource,
                                                 namespace=namespace)
        return cls(verb, resource, namespace, user)


class SchedulerNotReadyError(ConnectError):
    """The scheduler pod did not become ready in time; ``reason`` is read from pod status and events."""

    def __init__(self, name: str, namespace: str, timeout: float, reason: str, fix: str):
        self.name, self.namespace, self.timeout, self.reason = name, namespace, timeout, reason
        super().__init__(
            f"the scheduler of Dask cluster {name!r} in {namespace!r} was not ready after {timeout:g} s: {reason}",
            fix,
        )


class WorkersNotReadyError(ConnectError):
    """Fewer workers than ``wait_for_workers`` joined in time; ``reason`` is read from worker pods."""

    def __init__(self, name: str, namespace: str, wanted: int, got: int, timeout: float, reason: str, fix: str):
        self.name, self.namespace, self.wanted, self.got, self.reason = name, namespace, wanted, got, reason
        super().__init__(
            f"only {got} of {wanted} Dask workers of {name!r} in {namespace!r} joined within {timeout:g} s: {reason}",
            fix,
        )


class SchedulerUnreachableError(ConnectError):
    """The scheduler pod is ready but this process cannot open a connection to it."""

    def __init__(self, name: str, namespace: str, timeout: float, detail: str):
        self.name, self.namespace = name, namespace
        super().__init__(
            f"the scheduler of {name!r} in {namespace!r} is running but could not be reached within "
            f"{timeout:g} s ({detail})",
            f"inside the cluster, check a NetworkPolicy allows this pod to reach {scheduler_service(name)} port "
            f"{SCHEDULER_PORT}; "
            "outside, check your kubeconfig user may create pods/portforward",
        )


class VersionMismatchError(ConnectError):
    """Client and scheduler run different dask/distributed versions (results may fail to unpickle)."""

    def __init__(self, mismatches: dict[str, tuple[str | None, str | None]], image: str | None = None):
        self.mismatches = mismatches
        listed = ", ".join(f"{pkg} {c} here vs {s} on the scheduler" for pkg, (c, s) in sorted(mismatches.items()))
        pins = " ".join(f"{pkg}=={s}" for pkg, (_, s) in sorted(mismatches.items()) if s)
        super().__init__(
            f"Dask versions differ: {listed}" + (f" (scheduler image {image})" if image else ""),
            f"in the notebook run: pip install {pins} and restart the kernel; or ask your admin to set the "
            "policy's image to match the notebook image. To connect anyway, set "
            "DASK_KUBEFLOW_VERSION_CHECK=warn",
        )
