"""User clusters: DaskClusters a namespace's users run beside the managed one, shaped by the tier (pure).

One source of truth: the client never needs the tier (the policy lives in the controller's
namespace, which users cannot read). ``dask-kubeflow cluster create`` and
``dask_kubeflow.create_cluster`` send ``user_cluster_request``: a DaskCluster labelled
``USER_CLUSTER_LABEL=true`` carrying only the name and the requested sizes (``REQUESTED_ANNOTATION``),
and its DaskAutoscaler. The controller's mutating webhook replaces that cluster's spec with
``render_user_cluster`` — the managed cluster's pods (image, env, security, volumes, placement,
dashboard under ``/dask/<ns>/<name>``) with the requested worker size — and records the creating
user in ``OWNER_ANNOTATION``. The validating webhook then holds the result to the tier like any
other DaskCluster (sizes, pod security, ``userClusters``). The namespace's NetworkPolicy selects
every pod with the operator's cluster-name label, so user clusters are fenced the same way.

Requested sizes become the worker container's limits (its requests are the tier's, or lower), so
``--worker-cpu`` up to the tier's limit is accepted and anything above is refused by name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..kube.kinds import DASK_AUTOSCALER, DASK_CLUSTER
from ..kube.names import (
    DASHBOARD_PREFIX_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    REQUESTED_ANNOTATION,
    TIER_LABEL,
    USER_CLUSTER_LABEL,
    gateway_prefix,
)
from ..policy import ClusterShape, NamespaceFacts
from ..quantity import QuantityError, parse_quantity
from .daskcluster import render_daskcluster
from .platform import Platform

__all__ = ["Requested", "RequestError", "is_user_cluster", "owner_of", "render_user_cluster", "requested_of",
           "user_cluster_request", "fill_user_cluster"]


class RequestError(ValueError):
    """A requested size that is no number or quantity (the message says what to write)."""


@dataclass(frozen=True)
class Requested:
    """What a user asks for; ``None`` takes the tier's value."""

    workers: int | None = None  # the autoscaler's maximum
    worker_cpu: str | None = None
    worker_memory: str | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise RequestError(f"workers={self.workers!r}: ask for a whole number of workers, 1 or more")
        for what, value in (("worker_cpu", self.worker_cpu), ("worker_memory", self.worker_memory)):
            if value is None:
                continue
            try:
                ok = parse_quantity(value) > 0
            except (QuantityError, TypeError, ValueError):
                ok = False
            if not ok:
                example = "1, 500m or 2" if what == "worker_cpu" else "2Gi or 512Mi"
                raise RequestError(f"{what}={value!r} is not a positive Kubernetes quantity; write e.g. {example}")

    def to_annotation(self) -> str:
        fields = {"workers": self.workers, "workerCpu": self.worker_cpu, "workerMemory": self.worker_memory}
        return json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True)

    @classmethod
    def from_annotation(cls, text: str | None) -> Requested:
        try:
            data = json.loads(text or "{}")
        except ValueError as err:
            raise RequestError(f"annotation {REQUESTED_ANNOTATION} is not JSON ({err}); "
                               'write e.g. {"workers": 2, "workerCpu": "1", "workerMemory": "2Gi"}') from None
        if not isinstance(data, Mapping):
            raise RequestError(f"annotation {REQUESTED_ANNOTATION} must be a JSON object")
        cpu, memory = data.get("workerCpu"), data.get("workerMemory")
        return cls(workers=data.get("workers"), worker_cpu=None if cpu is None else str(cpu),
                   worker_memory=None if memory is None else str(memory))


def _meta(obj: Mapping[str, Any] | None, key: str) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get(key) or {})


def is_user_cluster(obj: Mapping[str, Any] | None) -> bool:
    """Created to be rendered from the tier (``dask-kubeflow cluster create`` and friends)."""
    return _meta(obj, "labels").get(USER_CLUSTER_LABEL) == "true"


def owner_of(obj: Mapping[str, Any] | None) -> str | None:
    return _meta(obj, "annotations").get(OWNER_ANNOTATION)


def requested_of(obj: Mapping[str, Any] | None) -> Requested:
    return Requested.from_annotation(_meta(obj, "annotations").get(REQUESTED_ANNOTATION))


def _smaller(asked: str, tier: str | None) -> str:
    if tier is None:
        return asked
    return asked if parse_quantity(asked) <= parse_quantity(tier) else tier


def user_shape(shape: ClusterShape, name: str, requested: Requested) -> ClusterShape:
    """The tier's shape renamed to ``name``, its workers sized as requested (limits = the request,
    requests = the tier's or the request when lower), autoscaling 0..``workers``."""
    s = shape.settings
    res = s.worker.resources
    requests, limits = res.requests, res.limits
    if requested.worker_cpu is not None:
        requests = requests.model_copy(update={"cpu": _smaller(requested.worker_cpu, requests.cpu)})
        limits = limits.model_copy(update={"cpu": requested.worker_cpu})
    if requested.worker_memory is not None:
        requests = requests.model_copy(update={"memory": _smaller(requested.worker_memory, requests.memory)})
        limits = limits.model_copy(update={"memory": requested.worker_memory})
    worker = s.worker.model_copy(update={"resources": res.model_copy(update={"requests": requests, "limits": limits})})
    maximum = requested.workers if requested.workers is not None else s.scaling.maximum
    scaling = s.scaling.model_copy(update={"minimum": 0, "maximum": maximum})
    settings = s.model_copy(update={"cluster_name": name, "worker": worker, "scaling": scaling})
    return ClusterShape(tier=shape.tier, settings=settings)


def _labels(shape: ClusterShape) -> dict[str, str]:
    return {USER_CLUSTER_LABEL: "true", TIER_LABEL: shape.tier}


def render_user_cluster(namespace: str, shape: ClusterShape, name: str, requested: Requested,
                        owner: str | None = None, platform: Platform | None = None
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The DaskCluster and DaskAutoscaler of user cluster ``name``: the tier's pods, the requested size."""
    own = user_shape(shape, name, requested)
    metadata = {"name": name, "namespace": namespace, "labels": _labels(shape)}
    cluster = render_daskcluster(NamespaceFacts(name=namespace), own, metadata, platform)
    annotations = {DASHBOARD_PREFIX_ANNOTATION: gateway_prefix(namespace, name),
                   REQUESTED_ANNOTATION: requested.to_annotation()}
    if owner:
        annotations[OWNER_ANNOTATION] = owner
    cluster["metadata"]["annotations"] = annotations
    cluster["spec"]["worker"]["replicas"] = 0
    return cluster, autoscaler_of(namespace, name, own.settings.scaling.maximum, shape.tier)


def autoscaler_of(namespace: str, name: str, maximum: int, tier: str | None = None) -> dict[str, Any]:
    labels = {USER_CLUSTER_LABEL: "true", **({TIER_LABEL: tier} if tier else {})}
    return {"apiVersion": DASK_AUTOSCALER.api_version, "kind": DASK_AUTOSCALER.kind,
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"cluster": name, "minimum": 0, "maximum": maximum}}


def user_cluster_request(namespace: str, name: str, requested: Requested, default_workers: int = 1
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a client sends: a placeholder DaskCluster (valid for the CRD's schema) that the mutating
    webhook renders from the tier, and the autoscaler (``workers``, else ``default_workers``)."""
    placeholder = {"containers": [{"name": "placeholder", "image": "filled-by-dask-kubeflow-admission"}]}
    cluster = {
        "apiVersion": DASK_CLUSTER.api_version, "kind": DASK_CLUSTER.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {USER_CLUSTER_LABEL: "true"},
                     "annotations": {REQUESTED_ANNOTATION: requested.to_annotation()}},
        "spec": {"scheduler": {"spec": placeholder, "service": {"type": "ClusterIP"}},
                 "worker": {"replicas": 0, "spec": placeholder}},
    }
    workers = requested.workers if requested.workers is not None else default_workers
    return cluster, autoscaler_of(namespace, name, workers)


def fill_user_cluster(obj: Mapping[str, Any], shape: ClusterShape, owner: str | None,
                      platform: Platform | None = None) -> dict[str, Any]:
    """What the mutating webhook makes of a created DaskCluster: a user cluster's spec rendered from
    the tier; every non-managed cluster gets ``owner`` (the authenticated creator, never what the
    client wrote). Raises ``RequestError`` for a requested size that is not one."""
    out = dict(obj)
    metadata = dict(out.get("metadata") or {})
    labels, annotations = _meta(obj, "labels"), _meta(obj, "annotations")
    if labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
        return out
    name, namespace = str(metadata.get("name") or ""), str(metadata.get("namespace") or "")
    if is_user_cluster(obj):
        rendered, _ = render_user_cluster(namespace, shape, name, requested_of(obj), owner, platform)
        out["spec"] = rendered["spec"]
        labels.update(rendered["metadata"]["labels"])
        annotations.update(rendered["metadata"]["annotations"])
    if owner:
        annotations[OWNER_ANNOTATION] = owner
    else:
        annotations.pop(OWNER_ANNOTATION, None)
    metadata.update(labels=labels, annotations=annotations)
    out["metadata"] = metadata
    return out
