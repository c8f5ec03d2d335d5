"""The kr8s classes of every kind the project reads or writes, and how each is addressed.

One definition per kind: render names the apiVersion/kind it emits, the controller looks up the
plural it writes to, the client and gateway query the same classes. Custom kinds are made with
kr8s's public ``new_class``; built-in kinds are kr8s's own. ``Kind``, ``ObjectRef`` and the kind
lists come from the pure ``kube.kinds`` and are re-exported here.
"""

from __future__ import annotations

from kr8s.asyncio.objects import (  # noqa: F401  (re-exported: the built-in kinds the parts use)
    APIObject,
    ConfigMap,
    Event,
    Namespace,
    NetworkPolicy,
    Pod,
    ResourceQuota,
    RoleBinding,
    new_class,
)

from .kinds import (  # noqa: F401  (re-exported: the pure half of this vocabulary)
    CONFIG_MAP,
    DASK_API,
    DASK_AUTOSCALER,
    DASK_CLUSTER,
    DASK_GROUP,
    EVENT,
    KUBEFLOW_API,
    MANAGED_KINDS,
    NETWORK_POLICY,
    POD_DEFAULT,
    PODDEFAULT_API,
    RENDERED_KINDS,
    Kind,
    ObjectRef,
    kind_of,
    ref_of,
)


DaskCluster = new_class("DaskCluster", DASK_API, namespaced=True)
DaskWorkerGroup = new_class("DaskWorkerGroup", DASK_API, namespaced=True, scalable=True,
                            scalable_spec="worker.replicas")
DaskAutoscaler = new_class("DaskAutoscaler", DASK_API, namespaced=True)
DaskJob = new_class("DaskJob", DASK_API, namespaced=True)
PodDefault = new_class("PodDefault", PODDEFAULT_API, namespaced=True)
Profile = new_class("Profile", KUBEFLOW_API, namespaced=False)
Notebook = new_class("Notebook", KUBEFLOW_API, namespaced=True)  # Kubeflow notebook servers (wake on use)
SubjectAccessReview = new_class("SubjectAccessReview", "authorization.k8s.io/v1", namespaced=False)
SelfSubjectAccessReview = new_class("SelfSubjectAccessReview", "authorization.k8s.io/v1", namespaced=False)
