"""Who may see which namespace's dashboards: the order of checks, and short-lived caching.

Access follows Kubeflow's own RBAC: the namespace owner and contributors hold RoleBindings that let
them get ``daskclusters.kubernetes.dask.org`` there; a SubjectAccessReview asks Kubernetes exactly
that. Answers are cached for ``auth_cache_seconds`` (a removed contributor loses access within that
time). Cluster names are only revealed to users who pass the check.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.names import is_dns_label
from .config import GatewayConfig
from .kube import Directory
from .trust import Identity

T = TypeVar("T")


class Outcome(enum.Enum):
    ALLOWED = 200
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    identity: Identity
    namespace: str
    cluster_name: str | None = None
    cluster: dict[str, Any] | None = None
    detail: str = ""


class Memo(Generic[T]):
    """A TTL cache for async lookups that also merges concurrent lookups of the same key."""

    def __init__(self, ttl: float, maxsize: int = 10_000, timer: Callable[[], float] = time.monotonic):
        self._cache: TTLCache | None = TTLCache(maxsize, ttl, timer=timer) if ttl > 0 else None
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}

    async def get(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        keep: Callable[[T], bool] = lambda value: True,
    ) -> T:
        if self._cache is not None and key in self._cache:
            return self._cache[key]
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key])
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await compute()
        except asyncio.CancelledError:
            future.cancel()  # the caller went away; waiters see a cancelled lookup
            raise
        except Exception as exc:  # any failure, not only API errors: waiters must never hang on it
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(value)
            if self._cache is not None and keep(value):
                self._cache[key] = value
            return value
        finally:
            del self._inflight[key]


class Gatekeeper:
    """Decides each request's fate from its identity and the Kubernetes objects it names."""

    def __init__(self, directory: Directory, config: GatewayConfig) -> None:
        self.directory = directory
        self.timeout = config.kubernetes_timeout
        self._access: Memo[bool] = Memo(config.auth_cache_seconds)
        self._namespaces: Memo[bool] = Memo(config.auth_cache_seconds)
        self._clusters: Memo[dict[str, Any] | None] = Memo(config.cluster_cache_seconds)

    async def may_view(self, user: str, namespace: str) -> bool:
        return await self._access.get(
            (user, namespace),
            lambda: self.ask(self.directory.may_view_clusters(user, namespace), f"check {user}'s access to {namespace}"),
        )

    async def ask(self, call: Awaitable[T], what: str) -> T:
        """Await one Kubernetes lookup; every way it can fail becomes a ``KubeError`` (shown as 503).

        An API call that hangs for ``kubernetes_timeout`` seconds fails too, rather than hanging the
        request; ``what`` names the lookup in the error (``"list DaskClusters in alice"``).
        """
        try:
            return await asyncio.wait_for(call, self.timeout)
        except KubeError:
            raise
        except TimeoutError as err:  # before API_ERRORS: TimeoutError is an OSError
            raise KubeError(
                f"{what} failed (no answer): the Kubernetes API did not answer within {self.timeout:g} s",
                detail=f"no answer within {self.timeout:g} s",
            ) from err
        except API_ERRORS as err:
            raise from_exception(err, what=what) from err

    async def check_namespace(self, identity: Identity, namespace: str) -> Verdict:
        """401 without a (trusted) user, 404 for a namespace that does not exist, 403 without access."""
        if identity.user is None:
            return Verdict(Outcome.UNAUTHENTICATED, identity, namespace, detail=identity.reason)
        if not is_dns_label(namespace):
            return Verdict(Outcome.NOT_FOUND, identity, namespace, detail="not a valid namespace name")
        if await self.may_view(identity.user, namespace):
            return Verdict(Outcome.ALLOWED, identity, namespace)
        exists = await self._namespaces.get(
            namespace, lambda: self.ask(self.directory.namespace_exists(namespace), f"look up namespace {namespace}")
        )
        if not exists:
            return Verdict(Outcome.NOT_FOUND, identity, namespace, detail="no such namespace")
        return Verdict(Outcome.FORBIDDEN, identity, namespace)

    async def check_cluster(self, identity: Identity, namespace: str, name: str) -> Verdict:
        """As ``check_namespace``, then 404 unless the DaskCluster exists."""
        verdict = await self.check_namespace(identity, namespace)
        if verdict.outcome is not Outcome.ALLOWED:
            return Verdict(verdict.outcome, identity, namespace, name, detail=verdict.detail)
        if not is_dns_label(name):
            return Verdict(Outcome.NOT_FOUND, identity, namespace, name, detail="not a valid cluster name")
        cluster = await self._clusters.get(
            (namespace, name),
            lambda: self.ask(self.directory.get_cluster(namespace, name), f"look up DaskCluster {name} in {namespace}"),
            keep=lambda found: found is not None,  # a cluster made a second ago must show up
        )
        if cluster is None:
            return Verdict(Outcome.NOT_FOUND, identity, namespace, name, detail="no such cluster")
        return Verdict(Outcome.ALLOWED, identity, namespace, name, cluster)
