"""The gateway's door for hibernated clusters, end to end: the real controller with its settable clock
(tests/controller/test_lifecycle_e2e.py's stack: hours take seconds), the upstream operator, local pods
running real Dask, and the gateway as its ServiceAccount with deploy/base/gateway/rbac.yaml.

alice edits the namespace (kubeflow-edit), bob views it (kubeflow-view), mallory has nothing there. One
stack for the module; each test starts from a hibernated cluster. The last one is a headless browser on
the dashboard URL: the waking page, then the real Dask dashboard.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubeflow.kube.names import HIBERNATED_ANNOTATION, WAKE_REQUESTED_ANNOTATION
from tests.controller.conftest import wait_for
from tests.controller.test_lifecycle_e2e import STARTUP, Stack, stack  # noqa: F401  (the module's one stack)

from .test_cluster_crud_e2e import GatewayThread
from .test_dashboard_browser import CHROMIUM, CHROMIUM_FLAGS, DOCUMENT_RENDERED
from .conftest import ARTIFACTS

pytestmark = pytest.mark.timeout(900)
ENFORCE_NETWORK_POLICY = False  # the gateway runs in the test process, not in a pod the policy admits
REPO = Path(__file__).resolve().parents[2]
ALICE, BOB, MALLORY = "alice@example.com", "bob@example.com", "mallory@example.com"
CLUSTER = "dask-cluster"


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[GatewayThread]:  # noqa: F811
    emu = stack.k8s.emulator
    for obj in yaml.safe_load_all((REPO / "deploy" / "base" / "gateway" / "rbac.yaml").read_text()):
        emu.create(obj)
    emu.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "user-bob-example-com-clusterrole-view", "namespace": stack.namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubeflow-view"},
                "subjects": [{"kind": "User", "name": BOB, "apiGroup": "rbac.authorization.k8s.io"}]})
    running = GatewayThread(emu.service_account("dask-kubeflow", "dask-kubeflow-gateway").kubeconfig).start()
    yield running
    running.stop()


def _paths(stack: Stack) -> tuple[str, str, str]:  # noqa: F811
    api = f"/dask/_api/namespaces/{stack.namespace}/clusters"
    return f"/dask/{stack.namespace}/{CLUSTER}/status", api, f"{api}/{CLUSTER}"


def _ready(gateway: GatewayThread, stack: Stack, seen: list[str] | None = None) -> bool:  # noqa: F811
    state = gateway.call("GET", _paths(stack)[2] + "/readiness").json()
    if seen is not None and state["waitingFor"] not in seen:
        seen.append(state["waitingFor"])
    return state["ready"]


def _row(gateway: GatewayThread, stack: Stack, user: str = ALICE) -> dict[str, Any]:  # noqa: F811
    response = gateway.call("GET", _paths(stack)[1], user)
    assert response.status_code == 200, response.text
    return response.json()


def test_nobody_without_the_right_wakes_it_and_the_wake_button_does(stack: Stack, gateway: GatewayThread) -> None:  # noqa: F811
    dashboard, api, cluster_api = _paths(stack)
    stack.hibernate()
    before = stack.annotations()
    refused = gateway.call("GET", dashboard, MALLORY)
    assert refused.status_code == 403 and "No access to namespace" in refused.text
    assert gateway.call("POST", cluster_api + "/wake", MALLORY, body={}).status_code == 403
    viewer = gateway.call("GET", dashboard, BOB)
    assert viewer.status_code == 503 and f"You ({BOB}) may view this cluster but not wake it" in viewer.text
    assert gateway.call("POST", cluster_api + "/wake", BOB, body={}).status_code == 403
    assert stack.annotations() == before and stack.hibernated()  # the DaskCluster's annotations unchanged

    state = _row(gateway, stack)
    row = state["clusters"][0]
    assert row["phase"] == "Hibernated" and state["mayWake"] and not _row(gateway, stack, BOB)["mayWake"]
    # The controller's usage record (written every 10 accounting intervals): this month's figures.
    usage = wait_for(lambda: _row(gateway, stack)["usageLines"][0]["text"].startswith("Used this month (")
                     and _row(gateway, stack)["usage"], "the usage record on the page", timeout=STARTUP)
    assert usage["coreHours"] > 0 and usage["memoryGiBHours"] > 0
    woke = gateway.call("POST", cluster_api + "/wake", body={})
    assert woke.status_code == 202, woke.text
    wait_for(lambda: _ready(gateway, stack), "the woken scheduler to answer through the gateway", timeout=STARTUP,
             controller=stack.controller)
    assert not stack.hibernated() and _row(gateway, stack)["clusters"][0]["phase"].startswith("Running")


def test_the_dashboard_url_of_a_hibernated_cluster_wakes_it_then_serves_the_dashboard(
        stack: Stack, gateway: GatewayThread) -> None:  # noqa: F811
    dashboard = _paths(stack)[0]
    stack.hibernate()
    started = time.monotonic()
    page = gateway.call("GET", dashboard)
    assert page.status_code == 503 and f"Waking up {CLUSTER}" in page.text, page.text
    annotations = stack.annotations()
    assert WAKE_REQUESTED_ANNOTATION in annotations or HIBERNATED_ANNOTATION not in annotations  # asked (or done)
    seen: list[str] = []
    wait_for(lambda: _ready(gateway, stack, seen), "the scheduler to answer", timeout=STARTUP, controller=stack.controller)
    woken = gateway.call("GET", dashboard)
    assert woken.status_code == 200 and f"{dashboard.rsplit('/', 1)[0]}/static/" in woken.text
    print(f"waking page -> dashboard in {time.monotonic() - started:.1f} s; waited for: {seen}")
    assert any("scheduler" in text for text in seen), seen


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")
def test_in_a_browser_the_waking_page_lands_on_the_real_dashboard(stack: Stack, gateway: GatewayThread) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    url = gateway.url + _paths(stack)[0]
    stack.hibernate()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(extra_http_headers={"kubeflow-userid": ALICE},
                                       viewport={"width": 1400, "height": 900}).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            first = page.goto(url, wait_until="load")
            assert first is not None and first.status == 503
            assert page.locator("h1").text_content() == f"Waking up {CLUSTER}"
            assert "scheduler" in page.locator("#waiting").text_content()  # what it waits for, and how long
            assert re.fullmatch(r"\d+ s", page.locator("#elapsed").text_content())
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "waking-page.png"))
            page.wait_for_function(DOCUMENT_RENDERED, timeout=int(STARTUP * 1000))  # reloaded onto the dashboard
            assert page.url == url and page.locator("canvas").count() > 0
            page.screenshot(path=str(ARTIFACTS / "woken-dashboard.png"))
            assert problems == [], problems
        finally:
            browser.close()
    assert not stack.hibernated()
