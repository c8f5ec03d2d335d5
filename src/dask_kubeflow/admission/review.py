"""The parts of an admission request a decision reads, and the decision itself (pure).

``Request.from_review`` takes the ``request`` of an AdmissionReview v1 (what the API server sends);
``Verdict`` is what the webhook answers: allowed, or refused with a message the user reads in
kubectl, kr8s or a notebook traceback, or allowed with the object as the mutating webhook wants it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALLOW", "Caller", "Request", "Trust", "Verdict", "deny"]

GARBAGE_COLLECTOR = "system:serviceaccount:kube-system:generic-garbage-collector"
NAMESPACE_CONTROLLER = "system:serviceaccount:kube-system:namespace-controller"


@dataclass(frozen=True)
class Caller:
    """Who sent the API request (the review's ``userInfo``)."""

    username: str
    groups: tuple[str, ...] = ()

    @classmethod
    def from_user_info(cls, info: Mapping[str, Any] | None) -> Caller:
        info = info or {}
        return cls(str(info.get("username") or ""), tuple(info.get("groups") or ()))


@dataclass(frozen=True)
class Trust:
    """Identities whose writes the protections let through.

    ``controller``: the dask-kubeflow controller, the only one that shapes and deletes the managed
    cluster (it writes what the policy renders). ``operator``: the upstream Dask operator, which
    creates and scales the managed cluster's worker group and may delete what it made.
    ``cleanup``: Kubernetes' own controllers that delete objects (namespace deletion, garbage
    collection). ``admin_groups``: cluster administrators (break-glass: they may delete or reshape
    the managed cluster; tier limits still apply to what they create).
    """

    controller: frozenset[str] = frozenset()
    operator: frozenset[str] = frozenset()
    cleanup: frozenset[str] = frozenset({GARBAGE_COLLECTOR, NAMESPACE_CONTROLLER})
    admin_groups: frozenset[str] = frozenset({"system:masters"})

    def is_controller(self, caller: Caller) -> bool:
        return caller.username in self.controller

    def is_operator(self, caller: Caller) -> bool:
        return caller.username in self.operator

    def may_delete_managed(self, caller: Caller) -> bool:
        return (caller.username in self.controller or caller.username in self.cleanup
                or bool(self.admin_groups.intersection(caller.groups)))

    def may_shape_managed(self, caller: Caller) -> bool:
        return caller.username in self.controller or bool(self.admin_groups.intersection(caller.groups))


@dataclass(frozen=True)
class Request:
    """One admission request for a Dask resource."""

    resource: str  # plural: daskclusters, daskworkergroups, daskautoscalers, daskjobs
    operation: str  # CREATE, UPDATE, DELETE
    namespace: str
    name: str
    caller: Caller
    obj: Mapping[str, Any] | None = None
    old: Mapping[str, Any] | None = None
    subresource: str = ""  # "scale" for /scale (the object is then an autoscaling/v1 Scale)
    dry_run: bool = False

    @classmethod
    def from_review(cls, review: Mapping[str, Any]) -> Request:
        """From an AdmissionReview (or its ``request``)."""
        request = review.get("request", review)
        resource = request.get("resource") or {}
        obj, old = request.get("object"), request.get("oldObject")
        name = request.get("name") or ((obj or old or {}).get("metadata") or {}).get("name") or ""
        return cls(resource=str(resource.get("resource") or ""), operation=str(request.get("operation") or ""),
                   namespace=str(request.get("namespace") or ""), name=str(name),
                   caller=Caller.from_user_info(request.get("userInfo")), obj=obj, old=old,
                   subresource=str(request.get("subResource") or ""), dry_run=bool(request.get("dryRun")))

    @property
    def current(self) -> Mapping[str, Any]:
        """The object as it will be (create/update), or as it is (delete)."""
        return self.obj if self.obj is not None else (self.old or {})

    @property
    def kind(self) -> str:
        """A name for messages: DaskCluster, DaskWorkerGroup, ... (Scale of one for /scale)."""
        kinds = {"daskclusters": "DaskCluster", "daskworkergroups": "DaskWorkerGroup",
                 "daskautoscalers": "DaskAutoscaler", "daskjobs": "DaskJob"}
        return kinds.get(self.resource, self.resource)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str = ""
    code: int = 200
    patched: dict[str, Any] | None = None  # mutating: the whole object as it should be stored
    warnings: tuple[str, ...] = field(default=())


ALLOW = Verdict(True)


def deny(message: str, code: int = 403) -> Verdict:
    return Verdict(False, message, code)
