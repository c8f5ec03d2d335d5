"""What ``status`` and ``doctor`` learn by really connecting: reachability, versions, live size, dashboard.

The one part of the commands that talks to the scheduler rather than to the Kubernetes API; the
answers go into a :class:`~.snapshot.ProbeResult` (never raised), for ``doctor`` to judge.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import dask.config
import warnings

from distributed import Client
from distributed.versions import VersionMismatchWarning

from .environment import Environment
from .errors import ConnectError
from .kubernetes import dashboard_link_template, fetch_versions, open_cluster
from .snapshot import ProbeResult
from .versions import extra_packages, version_report

__all__ = ["probe"]


def _http_status(url: str, timeout: float) -> tuple[int | None, str | None]:
    """HTTP status of a GET (redirects followed), or the error that prevented one."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) URLs we built)
            return response.status, None
    except urllib.error.HTTPError as err:
        return err.code, None
    except (urllib.error.URLError, OSError) as err:
        return None, str(getattr(err, "reason", err))


def _live(client: Client) -> dict[str, Any]:
    """Versions, size and dashboard link as the scheduler reports them."""
    extra = extra_packages()
    report = version_report(fetch_versions(client, extra), extra)
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return {
        "mismatches": report.mismatches(),
        "versions": report,
        "workers": len(workers),
        "threads": sum(w.get("nthreads", 0) for w in workers.values()),
        "memory": sum(w.get("memory_limit", 0) or 0 for w in workers.values()),
        "dashboard_link": client.dashboard_link,
    }


def probe(env: Environment, cluster: Mapping[str, Any], timeout: float = 20.0) -> ProbeResult:
    """Connect like ``connect()`` does (never creating/deleting), then check versions and the dashboard.

    A relative dashboard link (``/dask/<ns>/<cluster>/status``, opened on the Kubeflow host) is checked
    against the scheduler's own dashboard port: the gateway forwards that path unchanged.
    """
    assert env.namespace is not None
    template = dashboard_link_template(env, dict(cluster))
    with dask.config.set({"distributed.dashboard.link": template} if template else {}):  # this call only
        return _probe(env, timeout)


def _probe(env: Environment, timeout: float) -> ProbeResult:
    assert env.namespace is not None
    try:
        kube = open_cluster(env.cluster_name, env.namespace, timeout)
    except ConnectError as err:
        return ProbeResult(error=err.problem)
    except Exception as err:  # noqa: BLE001 - reported as a failed check, with its type
        detail = getattr(err, "detail", None) or f"{type(err).__name__}: {err}"
        return ProbeResult(error=detail)
    try:
        address = kube.scheduler_address
        with warnings.catch_warnings():  # the versions table says it once
            warnings.simplefilter("ignore", VersionMismatchWarning)
            client = Client(kube, timeout=timeout)
        try:
            live = _live(client)
        finally:
            client.close()
        link = live["dashboard_link"]
        if link.startswith("/"):
            host = address.split("://", 1)[-1].rsplit(":", 1)[0]
            url = f"http://{host}:{kube.forwarded_dashboard_port}{link}"
        else:
            url = link
        status, error = _http_status(url, timeout=min(timeout, 10.0))
    finally:
        kube.close()
    return ProbeResult(scheduler_address=address, dashboard_url=url, dashboard_status=status,
                       dashboard_error=error, **live)
