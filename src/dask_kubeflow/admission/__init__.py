"""Admission decisions for the Dask resources of a profile namespace (pure: no I/O).

Given the namespace's resolved tier (``policy.resolve`` -> ``ClusterShape``), the object, the old
object, the operation and the caller, ``validate`` allows or refuses (naming the field, the tier,
the limit and the fix) and ``mutate`` fills missing requests and limits from the tier. The kopf
handlers that serve them are ``controller/webhooks.py``; docs/admission.md explains the rules.

- ``review``: ``Request`` (from an AdmissionReview), ``Caller``, ``Trust``, ``Verdict``;
- ``objects``: where each kind keeps its pod specs and worker counts;
- ``limits``: requests/limits and replicas against the tier, filling what is missing;
- ``podsecurity``: privileged, capabilities, host namespaces, hostPath, ServiceAccount, images;
- ``protect``: the managed cluster, its autoscaler and worker groups belong to the platform;
- ``usage``: user clusters and their workers against ``userClusters``;
- ``exceeded``: user clusters left above a lowered tier (the controller's status record);
- ``decide``: ``validate``, ``mutate``, ``needs_usage``.
"""

from __future__ import annotations

from .decide import is_dask_request, mutate, needs_usage, validate
from .exceeded import Exceedance, exceedances
from .objects import DASK_RESOURCES
from .review import ALLOW, Caller, Request, Trust, Verdict, deny
from .usage import Counted, Usage, counted, user_workers

__all__ = ["ALLOW", "Caller", "Counted", "counted", "DASK_RESOURCES", "Exceedance", "exceedances", "Request", "Trust", "Usage", "Verdict", "deny",
           "is_dask_request", "mutate", "needs_usage", "user_workers", "validate"]
