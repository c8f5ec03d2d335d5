"""The controller's start-up step for Kubeflow's menu (``--dashboard-link``): merged with the overlay's RBAC,
transient errors retried with backoff, forbidden or missing ConfigMap a log line and never a failure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.controller import dashboard_link
from dask_kubeflow.controller.dashboard_link import DASK_MENU_ITEM, keep_dashboard_link, parse_location
from dask_kubeflow.kube.api import get_api
from dask_kubeflow.kube.errors import KubeError
from dask_kubeflow.kube.retry import Backoff
from dask_kubeflow.kube.names import ENV_INSTALL_NAMESPACE, ENV_OPERATOR_NAMESPACE
from dask_kubeflow.kube.resources import ConfigMap

REPO = Path(__file__).resolve().parents[2]
LOCATION = "kubeflow/centraldashboard-config"


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def scripted(monkeypatch, outcomes: list) -> list:
    """``ensure_dashboard_link`` answering with ``outcomes`` in turn (an exception is raised)."""
    calls: list = []

    async def fake(api, namespace, name, item=DASK_MENU_ITEM):
        calls.append((namespace, name))
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(dashboard_link, "ensure_dashboard_link", fake)
    return calls


async def test_transient_errors_are_retried_with_the_one_backoff(monkeypatch, caplog):
    unavailable = KubeError("the API answered 503", status=503, verb="get", resource="configmaps")
    calls = scripted(monkeypatch, [unavailable, KubeError("no answer"), KubeError("conflict", status=409), "added"])
    sleeps = Sleeps()
    with caplog.at_level(logging.INFO, "dask_kubeflow.controller"):
        assert await keep_dashboard_link(None, LOCATION, backoff=Backoff(1, 60), sleep=sleeps) == "added"
    assert calls == [("kubeflow", "centraldashboard-config")] * 4
    assert sleeps == [1, 2, 4]
    assert "added the 'Dask clusters' menu item" in caplog.text


@pytest.mark.parametrize("outcome, logged", [
    (KubeError("forbidden", status=403, verb="patch", resource="configmaps"), "grant get/patch on it"),
    (KubeError("invalid", status=422, verb="patch", resource="configmaps"), "the menu has no 'Dask clusters' item"),
    (dashboard_link.LinksError("links are not JSON"), "links are not JSON"),
    ("no-dashboard", "no Kubeflow central dashboard here"),
])
async def test_forbidden_missing_or_unreadable_is_one_log_line(monkeypatch, caplog, outcome, logged):
    scripted(monkeypatch, [outcome])
    sleeps = Sleeps()
    with caplog.at_level(logging.INFO, "dask_kubeflow.controller"):
        result = await keep_dashboard_link(None, LOCATION, sleep=sleeps)
    assert result == (outcome if isinstance(outcome, str) else None)
    assert sleeps == [] and logged in caplog.text
    assert len([r for r in caplog.records if "central dashboard link" in r.getMessage()]) == 1


@pytest.mark.parametrize("bad", ["centraldashboard-config", "/x", "kubeflow/", "a/b/c"])
def test_location_must_be_namespace_and_name(bad):
    with pytest.raises(ValueError, match="must be NAMESPACE/NAME .* e.g. kubeflow/centraldashboard-config"):
        parse_location(bad)


def _overlay_rbac(install_namespace: str) -> list[dict]:
    objects = list(yaml.safe_load_all((REPO / "deploy/overlays/kubeflow/dashboard-link-rbac.yaml").read_text()))
    for obj in objects:
        for subject in obj.get("subjects", []):
            subject["namespace"] = install_namespace
    return objects


async def test_with_the_overlays_rbac_the_controller_adds_the_item_and_without_it_logs(emulator, caplog):
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}})
    reference = yaml.safe_load((REPO / "reference/kubeflow/examples/centraldashboard-config-kserve.yaml").read_text())
    reference["metadata"] = {"name": "centraldashboard-config", "namespace": "kubeflow"}
    emulator.create(reference)
    stranger = await get_api(str(emulator.service_account("kubeflow", "someone-else").kubeconfig))
    with caplog.at_level(logging.INFO, "dask_kubeflow.controller"):
        assert await keep_dashboard_link(stranger, LOCATION, sleep=Sleeps()) is None
    assert "not allowed to read or patch ConfigMap kubeflow/centraldashboard-config" in caplog.text

    for obj in _overlay_rbac("kubeflow"):
        emulator.create(obj)
    controller = await get_api(str(emulator.service_account("kubeflow", "dask-kubeflow-controller").kubeconfig))
    assert await keep_dashboard_link(controller, LOCATION, sleep=Sleeps()) == "added"
    assert await keep_dashboard_link(controller, LOCATION, sleep=Sleeps()) == "present"
    configmap = ConfigMap({"metadata": {"name": "centraldashboard-config", "namespace": "kubeflow"}}, api=controller)
    await configmap.refresh()  # a GET: all the overlay's Role allows (get, patch by resourceNames)
    live = configmap.raw["data"]["links"]
    assert DASK_MENU_ITEM["link"] in live and "KServe Endpoints" in live


def test_cli_passes_the_platform_and_dashboard_link_to_the_controller(monkeypatch):
    from dask_kubeflow.cli import controller_cmd
    from dask_kubeflow.controller import runner

    seen = []
    monkeypatch.setattr(runner, "run", seen.append)
    monkeypatch.setattr(controller_cmd, "_check_credentials", lambda: None)  # no API server in this test
    monkeypatch.setenv(ENV_INSTALL_NAMESPACE, "kubeflow")
    monkeypatch.setenv(ENV_OPERATOR_NAMESPACE, "dask-system")
    result = CliRunner().invoke(app, ["controller", "--dashboard-link", LOCATION, "--metrics-port", "0"])
    assert result.exit_code == 0, result.output
    [settings] = seen
    assert settings.dashboard_link == LOCATION
    assert (settings.platform.install_namespace, settings.platform.operator_namespace) == ("kubeflow", "dask-system")
    assert (settings.policy_namespace, settings.policy_name) == ("kubeflow", "dask-kubeflow-policy")


@pytest.mark.parametrize("args, env, message", [
    (["--dashboard-link", "centraldashboard-config"], {}, "must be NAMESPACE/NAME"),
    ([], {ENV_OPERATOR_NAMESPACE: "Not A Namespace"}, "DASK_KUBEFLOW_OPERATOR_NAMESPACE='Not A Namespace'"),
])
def test_cli_refuses_a_bad_dashboard_link_or_platform_before_starting(monkeypatch, args, env, message):
    from dask_kubeflow.controller import runner

    monkeypatch.setattr(runner, "run", lambda settings: pytest.fail("the controller must not start"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["controller", *args])
    assert result.exit_code == 1 and message in result.output, result.output
