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
    "BudgetSpentError",
    "ClusterNotFoundError",
    "ConnectError",
    "KubeconfigError",
    "KubernetesAPIError",
    "KubernetesUnreachableError",
    "MainGuardError",
    "NoKubernetesError",
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

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Subclasses take other arguments: rebuild any of them from problem and fix (pickling, copy).
        return _rebuild, (type(self), self.problem, self.fix, self.__dict__)


def _rebuild(cls: type[ConnectError], problem: str, fix: str, state: dict) -> ConnectError:
    err = ConnectError.__new__(cls)
    ConnectError.__init__(err, problem, fix)
    err.__dict__.update(state)
    return err


class KubernetesUnreachableError(ConnectError):
    """The Kubernetes API gave no answer: refused, timed out, or its TLS certificate is not trusted."""

    def __init__(self, server: str, detail: str, *, where: str = "the kubeconfig"):
        self.server, self.detail = server, detail
        tls = "CERTIFICATE_VERIFY_FAILED" in detail or "SSL" in detail or "certificate" in detail.lower()
        if tls:
            fix = (f"the server's TLS certificate is not signed by the certificate-authority {where} trusts: "
                   "get a fresh kubeconfig from your admin (or `kubectl config view --raw` on a machine where "
                   "kubectl works), and check the server URL is the one the certificate was made for")
        else:
            fix = (f"check the server URL in {where} and that you can reach it (VPN, proxy); "
                   "`kubectl version` should answer. Off Kubernetes, dask_kubeflow.connect(local=True) "
                   "runs an embedded cluster")
        super().__init__(f"cannot reach the Kubernetes API at {server}: {detail}", fix)


class KubeconfigError(ConnectError):
    """The credentials are missing, unreadable, or the API server rejected them (401)."""

    def __init__(self, problem: str, fix: str = ""):
        super().__init__(problem, fix or (
            "get working credentials: `kubectl get pods` must work with the same KUBECONFIG; your admin or "
            "your cloud's login command (e.g. `gcloud container clusters get-credentials`) writes a fresh one"))


class KubernetesAPIError(ConnectError):
    """The API server answered with an error connect() has no better name for (404, 5xx, ...)."""

    def __init__(self, server: str, status: int | None, what: str, detail: str):
        self.server, self.status = server, status
        if status == 404:
            fix = (f"{server} does not serve the Kubernetes API paths connect() needs: check the server URL in "
                   "your kubeconfig points at the API server itself (not a dashboard or a proxy path)")
        elif status == 403:
            fix = ("these credentials may not read the API connect() needs: `kubectl auth can-i --list` shows what "
                   "they may do; ask the namespace owner or your platform admin for access")
        elif status is not None and status >= 500:
            fix = "the API server is failing; try again in a minute, and tell your platform admin if it persists"
        else:
            fix = "run `dask-kubeflow doctor` for every check, or ask your platform admin"
        super().__init__(f"the Kubernetes API at {server} answered HTTP {status} to {what}: {detail}", fix)


class NoKubernetesError(ConnectError):
    """connect(local=False) found no Kubernetes cluster to connect to."""

    def __init__(self, why: str):
        super().__init__(
            f"connect(local=False) found no Kubernetes cluster to connect to ({why})",
            "run inside a Kubeflow notebook, or pass namespace= with a kubeconfig (KUBECONFIG or "
            "~/.kube/config), or drop local=False to start an embedded cluster",
        )


class MainGuardError(ConnectError):
    """The embedded cluster's worker processes could not start: the script has no ``__main__`` guard."""

    def __init__(self, script: str | None):
        what = script or "your script"
        super().__init__(
            "the embedded Dask cluster could not start its worker processes: Python starts each one by "
            f"re-running {what}, which calls connect() again at its top level",
            'put the code that calls connect() under  if __name__ == "__main__":  (Python\'s multiprocessing '
            "needs it for any script that starts processes); notebooks and `python -c` need no change",
        )


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


class BudgetSpentError(WorkersNotReadyError):
    """The namespace's monthly budget is spent: its autoscaler is held below ``wanted`` workers, so
    waiting for them cannot succeed before the month ends or the budget is raised (docs/hibernation.md)."""

    def __init__(self, name: str, namespace: str, wanted: int, message: str, fix: str):
        self.name, self.namespace, self.wanted, self.got, self.reason = name, namespace, wanted, 0, message
        ConnectError.__init__(self, f"cannot wait for {wanted} Dask worker(s) of {name!r} in {namespace!r}: {message}",
                              fix)


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
    """Client, scheduler and workers run different versions of packages that must match."""

    def __init__(self, mismatches: dict[str, tuple[str | None, str | None]], image: str | None = None,
                 table: str = "", mode: str = "error"):
        self.mismatches, self.table, self.image = mismatches, table, image
        listed = ", ".join(f"{pkg} {c} here vs {s} on the scheduler" for pkg, (c, s) in sorted(mismatches.items()))
        pins = " ".join(f"{pkg}=={s}" for pkg, (_, s) in sorted(mismatches.items()) if s and pkg != "python")
        switch = ("set DASK_KUBEFLOW_VERSION_CHECK=error to refuse mismatches, off to skip the check" if mode == "warn"
                  else "to connect anyway set DASK_KUBEFLOW_VERSION_CHECK=warn (the default)")
        super().__init__(
            f"package versions differ: {listed}" + (f" (scheduler image {image})" if image else "")
            + (f"\n{table}" if table else ""),
            (f"in the notebook run: pip install {pins} and restart the kernel; or " if pins else "")
            + f"ask your admin to align the policy's image with the notebook image; {switch}",
        )


def from_api_failure(err: BaseException, server: str, where: str = "the kubeconfig") -> ConnectError:
    """The ConnectError for a failed Kubernetes API call (``err``: a ``KubeError`` or what kr8s raised
    while reading the credentials), naming the server and the next step."""
    from ..kube.errors import KubeError

    if isinstance(err, ConnectError):
        return err
    if not isinstance(err, KubeError):  # kr8s could not make a client: no or unreadable credentials
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return KubeconfigError(f"cannot use the Kubernetes credentials in {where}: {detail}")
    what = " ".join(p for p in (err.verb, err.resource) if p) or "the request"
    if err.status is None:
        return KubernetesUnreachableError(server, err.detail, where=where)
    if err.status == 401:
        return KubeconfigError(f"the Kubernetes API at {server} rejected the credentials in {where} (HTTP 401 "
                               f"Unauthorized): the token or certificate is wrong or has expired")
    if err.status == 403:
        return PermissionDeniedError.from_kube(err) if err.verb and err.resource else KubernetesAPIError(
            server, 403, what, err.detail)
    return KubernetesAPIError(server, err.status, what, err.detail)
