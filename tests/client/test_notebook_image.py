"""notebook.Dockerfile: a Kubeflow notebook image plus the light install, and the worker image that
matches it. No Docker here: its parts are checked against the package, the policy's default image and
the real dask-labextension and jupyter-server-proxy packages."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from dask_kubeflow.client.labextension import proxy_host_allowed
from dask_kubeflow.policy import DEFAULT_IMAGE

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "notebook.Dockerfile").read_text()
SCHEMA = Path(__import__("sys").prefix) / "share/jupyter/labextensions/dask-labextension/schemas/dask-labextension/plugin.json"


def _args() -> dict[str, str]:
    return {m[1]: m[2].strip('"') for m in re.finditer(r"^ARG (\w+)=(.+)$", DOCKERFILE, re.MULTILINE)}


def test_notebook_stage_builds_on_a_kubeflow_image_with_the_light_install():
    args = _args()
    assert args["NOTEBOOK_IMAGE"].startswith("ghcr.io/kubeflow/kubeflow/notebook-servers/")
    assert re.search(r"^FROM \$\{NOTEBOOK_IMAGE\} AS notebook$", DOCKERFILE, re.MULTILINE)
    install = re.search(r"RUN pip install --no-cache-dir /tmp/wheels/\*\.whl (.+?)\\\n(.+?)\\\n", DOCKERFILE, re.S)
    assert install and "[platform]" not in DOCKERFILE.split("AS notebook")[1].split("AS worker")[0]
    assert '"dask[distributed]==${DASK_VERSION}"' in install.group(1)
    assert "dask-labextension" in install.group(2)


def test_worker_stage_matches_the_notebook_and_the_policy_default():
    args = _args()
    assert re.search(r"^FROM ghcr.io/dask/dask:\$\{DASK_VERSION\}-py\$\{PYTHON_VERSION\} AS worker$", DOCKERFILE,
                     re.MULTILINE)
    assert DEFAULT_IMAGE == f"ghcr.io/dask/dask:{args['DASK_VERSION']}-py{args['PYTHON_VERSION']}"
    worker = DOCKERFILE.split("AS worker")[1]
    assert "${SHARED_PACKAGES}" in worker  # same pins on both sides
    assert all("==" in p for p in shlex.split(args["SHARED_PACKAGES"]))


def test_jupyterlab_overrides_are_settings_dask_labextension_has():
    overrides = json.loads(re.search(r"printf '%s\\n' '(\{.+?\})'", DOCKERFILE).group(1))
    schema = json.loads(SCHEMA.read_text())["properties"]
    settings = overrides["dask-labextension:plugin"]
    assert settings == {"browserDashboardCheck": True}
    assert set(settings) <= set(schema) and schema["browserDashboardCheck"]["type"] == "boolean"


def test_server_config_lines_allow_only_this_namespaces_schedulers(monkeypatch: pytest.MonkeyPatch):
    lines = re.search(r"printf '%s\\n' '(from dask_kubeflow.+?)' \\\n\s+'(c\.ServerProxy.+?)'", DOCKERFILE)
    assert lines
    c = SimpleNamespace(ServerProxy=SimpleNamespace())
    exec("\n".join(lines.groups()), {"c": c})  # what Jupyter does with the config file
    allowed = c.ServerProxy.host_allowlist
    assert allowed is proxy_host_allowed
    monkeypatch.setenv("DASK_KUBERNETES__NAMESPACE", "alice")
    assert allowed(None, "dask-cluster-scheduler.alice") and allowed(None, "mine-scheduler.alice.svc.cluster.local")
    assert allowed(None, "127.0.0.1") and allowed(None, "localhost")
    for other in ("dask-cluster-scheduler.bob", "dask-kubeflow-gateway.dask-kubeflow", "kubernetes.default",
                  "dask-cluster-scheduler.alice-evil", "evil.com"):
        assert not allowed(None, other), other
