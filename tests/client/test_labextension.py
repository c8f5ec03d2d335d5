"""The JupyterLab Dask sidebar with the real dask-labextension server extension, configured only by
the rendered PodDefault's environment (no user action), against a real scheduler and the gateway.

A Jupyter server runs as Kubeflow starts notebook servers (base URL ``NB_PREFIX``, no token: the
Kubeflow login in front of it authenticates), with the notebook image's one config line
(``c.ServerProxy.host_allowlist = proxy_host_allowed``). The scheduler is the gateway tests' real
``dask scheduler --dashboard-prefix /dask/alice/dask-cluster`` with one worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dask_kubeflow.policy import NamespaceFacts, Policy
from dask_kubeflow.render.poddefault import notebook_env
from tests.gateway.conftest import (  # noqa: F401  (fixtures)
    CLUSTER,
    NAMESPACE,
    OWNER,
    http,
    kubeflow_namespace,
    local_dask,
    start_gateway,
)
from tests.gateway.dask_processes import LocalDask, free_port

NB_PREFIX = f"/notebook/{NAMESPACE}/analysis"
SERVER_CONFIG = "from dask_kubeflow.client.labextension import proxy_host_allowed\n" \
                "c.ServerProxy.host_allowlist = proxy_host_allowed\n"


def poddefault_env() -> dict[str, str]:
    shape = Policy.builtin().default_shape()
    return notebook_env(NamespaceFacts(NAMESPACE), shape)


def test_the_poddefault_configures_dask_labextension() -> None:
    """dask-labextension's own config module, loaded under the PodDefault's environment."""
    code = ("import json, dask, dask_labextension.config\n"
            "print(json.dumps(dask.config.get('labextension')))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    run = subprocess.run([sys.executable, "-c", code], env={**env, **poddefault_env()}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    config = json.loads(run.stdout)
    assert config["factory"]["module"] == "dask_kubeflow.client.labextension"
    assert config["factory"]["class"] == "NamespaceCluster"
    assert config["initial"] == [{"name": f"{CLUSTER} ({NAMESPACE})"}]


@pytest.fixture
def jupyter(local_dask: LocalDask, tmp_path: Path) -> Iterator[str]:
    """A Jupyter server with dask-labextension, started as a Kubeflow notebook pod starts it."""
    (tmp_path / "jupyter_server_config.py").write_text(SERVER_CONFIG)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "JUPYTER"))}
    env.update(poddefault_env())
    env.update(NB_PREFIX=NB_PREFIX, HOME=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               DASK_KUBEFLOW_SCHEDULER_ADDRESS=local_dask.address)  # the Service name has no DNS here
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.base_url={NB_PREFIX}/",
         f"--ServerApp.root_dir={tmp_path}", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}{NB_PREFIX}/"
    try:
        _wait(lambda: _get_json(base + "api/status") is not None, "the Jupyter server", server, tmp_path)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except OSError:
        return None


def _wait(condition: Any, what: str, server: subprocess.Popen[bytes] | None = None, logs: Path | None = None,
          timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := condition()):
            return found
        if server is not None and server.poll() is not None:
            break
        time.sleep(0.3)
    log = (logs / "jupyter.log").read_text()[-3000:] if logs else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def test_the_sidebar_lists_the_namespace_cluster_and_its_dashboard_checks(jupyter: str, local_dask: LocalDask) -> None:
    clusters = _wait(lambda: _get_json(jupyter + "dask/clusters/"), "the sidebar's cluster list")
    [cluster] = clusters
    assert cluster["name"] == f"{CLUSTER} ({NAMESPACE})"
    assert cluster["scheduler_address"] == local_dask.address
    assert cluster["workers"] == 1 and cluster["cores"] == 1, cluster
    link = cluster["dashboard_link"]
    # A proxy path under the notebook server: dask-labextension uses it as the dashboard URL as is.
    assert link == f"{NB_PREFIX}/proxy/127.0.0.1:{local_dask.dashboard_port}/dask/{NAMESPACE}/{CLUSTER}/status"
    check = _get_json(jupyter + "dask/dashboard-check/" + urllib.parse.quote(link, safe=""))
    assert check["isActive"] is True, check
    assert "Individual Task Stream" in check["plots"]


async def test_through_the_gateway_only_the_browser_can_check(jupyter: str, kubeflow_namespace: str,
                                                             start_gateway: Any, http: aiohttp.ClientSession) -> None:
    """Why the image sets ``browserDashboardCheck``: the notebook server's own check of the gateway
    link carries no Kubeflow login and fails; the browser's check, with the login, passes."""
    gateway = await start_gateway()
    link = f"{gateway.url}/dask/{NAMESPACE}/{CLUSTER}/status"
    async with http.get(jupyter + "dask/dashboard-check/" + urllib.parse.quote(link, safe="")) as response:
        assert response.status == 200
        assert (await response.json())["isActive"] is False
    # What the sidebar's browser-side check requests (link minus /status, plus individual-plots.json):
    async with http.get(f"{gateway.url}/dask/{NAMESPACE}/{CLUSTER}/individual-plots.json",
                        headers={"kubeflow-userid": OWNER}) as response:
        assert response.status == 200
        plots = await response.json(content_type=None)
    route = plots["Individual Task Stream"]  # a pane: the sidebar loads <link minus /status><route>
    async with http.get(f"{gateway.url}/dask/{NAMESPACE}/{CLUSTER}{route}", headers={"kubeflow-userid": OWNER}) as response:
        assert response.status == 200

