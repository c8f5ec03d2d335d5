"""The clusters page as a Kubeflow CRUD web app, end to end (issue 12 items 4 and 5).

The real gateway (its ServiceAccount with deploy/base/gateway/rbac.yaml) on the webhooks stack of
tests/controller/test_webhooks_e2e.py: alice owns namespace ``alice`` (kubeflow-admin), bob is a
view-only contributor (kubeflow-view), mallory has nothing there. Every write goes through a
SubjectAccessReview for the signed-in user, then the admission webhook (tier, userClusters).
A browser drives the create form and watches the status change without a reload.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

from dask_kubeflow.gateway import GatewayConfig, make_app
from dask_kubeflow.kube.names import OWNER_ANNOTATION, scheduler_service
from tests.controller.conftest import wait_for
from tests.controller.test_webhooks_e2e import INSTALL, NS, STARTUP, Hooks, _binding, hooks, managed  # noqa: F401

pytestmark = pytest.mark.timeout(900)
ENFORCE_NETWORK_POLICY = False
REPO = Path(__file__).resolve().parents[2]
ALICE, BOB, MALLORY = "alice@example.com", "bob@example.com", "mallory@example.com"
API = f"/dask/_api/namespaces/{NS}/clusters"
CHROMIUM = Path("/usr/bin/chromium")


class GatewayThread:
    """The gateway on its own loop in a thread, as its ServiceAccount; stopped in teardown."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig, self.url = kubeconfig, ""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def start(self) -> GatewayThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    async def _start(self) -> None:
        def resolver(namespace: str, name: str, cluster: dict) -> str:
            return f"http://{scheduler_service(name)}.{namespace}:8787"

        app = make_app(GatewayConfig(auth_cache_seconds=0), kubeconfig=str(self.kubeconfig), resolver=resolver)
        self.runner = web.AppRunner(app, access_log=None)  # a thread: see tests/harness/emulator/service.py
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def call(self, method: str, path: str, user: str | None = ALICE, body: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"kubeflow-userid": user} if user else {}
        if method != "GET":
            sent["Origin"] = self.url
        sent.update(headers or {})
        return httpx.request(method, self.url + path, json=body, headers=sent, timeout=60)

    def clusters(self, user: str = ALICE) -> dict[str, dict[str, Any]]:
        response = self.call("GET", API, user)
        assert response.status_code == 200, response.text
        return {c["name"]: c for c in response.json()["clusters"]}


@pytest.fixture(scope="module")
def gateway(managed: Hooks) -> Iterator[GatewayThread]:  # noqa: F811
    emu = managed.emulator
    for obj in yaml.safe_load_all((REPO / "deploy" / "base" / "gateway" / "rbac.yaml").read_text()):
        emu.create(obj)
    emu.create(_binding("RoleBinding", "user-bob-example-com-clusterrole-view", "kubeflow-view",
                        {"kind": "User", "name": BOB, "apiGroup": "rbac.authorization.k8s.io"}, NS))
    running = GatewayThread(emu.service_account(INSTALL, "dask-kubeflow-gateway").kubeconfig).start()
    yield running
    running.stop()


def _running(gateway: GatewayThread, name: str) -> bool:
    row = gateway.clusters().get(name)
    return bool(row and row["phase"].startswith("Running"))


def test_the_shared_cluster_shows_its_real_phase_and_the_tiers_choices(gateway: GatewayThread) -> None:
    wait_for(lambda: _running(gateway, "dask-cluster"), "dask-cluster Running from its pods", timeout=STARTUP)
    state = gateway.call("GET", API).json()
    assert state["mayCreate"] and state["mayDelete"]
    assert state["choices"]["maxWorkers"] == 2 and state["choices"]["workerCpu"][-1] == "1"
    shared = state["clusters"][0]
    assert shared["name"] == "dask-cluster" and shared["managed"]
    assert shared["snippet"] == 'import dask_kubeflow\nclient = dask_kubeflow.connect(cluster_name="dask-cluster")'
    assert not gateway.call("GET", API, BOB).json()["mayCreate"]
    assert gateway.call("GET", API, MALLORY).status_code == 403
    html = gateway.call("GET", f"/dask/?ns={NS}").text
    assert 'id="create"' in html and API in html


def test_create_show_reach_count_and_delete(gateway: GatewayThread, managed: Hooks) -> None:  # noqa: F811
    emu = managed.emulator
    created = gateway.call("POST", API, body={"name": "page-one", "workers": "1", "workerCpu": "500m"})
    assert created.status_code == 201, created.text
    stored = emu.get("daskclusters", "page-one", NS)
    assert stored["metadata"]["annotations"][OWNER_ANNOTATION] == ALICE  # the user the gateway checked
    try:
        wait_for(lambda: _running(gateway, "page-one"), "page-one Running on the page", timeout=STARTUP)
        row = gateway.clusters()["page-one"]
        assert row["owner"] == ALICE and row["userCluster"] and not row["managed"]
        assert row["dashboardUrl"] == f"/dask/{NS}/page-one/status"
        assert gateway.call("GET", f"/dask/{NS}/page-one/status", ALICE).status_code == 200
        assert gateway.call("GET", f"/dask/{NS}/page-one/status", BOB).status_code == 200  # contributors see it
        assert gateway.call("GET", f"/dask/{NS}/page-one/status", MALLORY).status_code == 403

        second = gateway.call("POST", API, body={"name": "page-two"})
        assert second.status_code == 422, second.text
        assert "userClusters.maximum" in second.json()["error"]
        assert "denied the request" not in second.json()["error"]
        wait_for(lambda: any(r["object"] == "page-two" for r in gateway.call("GET", API).json()["refusals"]),
                 "the refusal shown on the page", timeout=30)
    finally:
        deleted = gateway.call("DELETE", f"{API}/page-one")
    assert deleted.status_code == 200, deleted.text
    wait_for(lambda: emu.get("daskclusters", "page-one", NS) is None and emu.get("daskautoscalers", "page-one", NS)
             is None, "page-one and its autoscaler deleted", timeout=60)  # the operator's finalizers first


def test_writes_need_the_users_rights_and_the_pages_origin(gateway: GatewayThread, managed: Hooks) -> None:  # noqa: F811
    emu = managed.emulator
    viewer = gateway.call("POST", API, BOB, body={"name": "bobs"})
    assert viewer.status_code == 403 and "may not create" in viewer.json()["error"]
    assert gateway.call("POST", API, MALLORY, body={"name": "mallorys"}).status_code == 403
    assert gateway.call("POST", API, None, body={"name": "anon"}).status_code == 401
    cross = gateway.call("POST", API, body={"name": "csrf"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "another site" in cross.json()["error"]
    form = httpx.post(gateway.url + API, content="name=csrf", timeout=30,
                      headers={"kubeflow-userid": ALICE, "Origin": gateway.url,
                               "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 403 and "not application/json" in form.json()["error"]
    assert gateway.call("GET", API + "?name=csrf").status_code == 200  # GET changes nothing
    for name in ("bobs", "mallorys", "anon", "csrf"):
        assert emu.get("daskclusters", name, NS) is None
    platform = gateway.call("DELETE", f"{API}/dask-cluster")
    assert platform.status_code == 403 and "shared cluster" in platform.json()["error"]
    assert gateway.call("DELETE", f"{API}/dask-cluster", BOB).status_code == 403
    assert emu.get("daskclusters", "dask-cluster", NS) is not None


def test_a_user_written_cluster_shows_with_its_owner(gateway: GatewayThread, managed: Hooks) -> None:  # noqa: F811
    from tests.controller.test_webhooks_e2e import _cluster

    emu = managed.emulator
    wait_for(lambda: [c["metadata"]["name"] for c in emu.objects("daskclusters", NS)] == ["dask-cluster"],
             "no user cluster left in the namespace's list (what the webhook counts)", timeout=120)
    resp = managed.call("POST", f"/apis/kubernetes.dask.org/v1/namespaces/{NS}/daskclusters", _cluster("hand", 0))
    assert resp.status_code == 201, resp.text
    try:
        row = wait_for(lambda: gateway.clusters().get("hand"), "the hand-written cluster on the page")
        assert row["owner"] == ALICE and not row["managed"]
        assert "--dashboard-prefix" in row["note"]  # make_cluster_spec does not serve under the gateway path
    finally:
        assert gateway.call("DELETE", f"{API}/hand").status_code == 200


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")
def test_the_create_form_and_live_status_in_a_browser(gateway: GatewayThread, managed: Hooks) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    names = lambda: [c["metadata"]["name"] for c in managed.emulator.objects("daskclusters", NS)]  # noqa: E731
    wait_for(lambda: names() == ["dask-cluster"], "no user cluster left in the namespace's list", timeout=120)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_context(extra_http_headers={"kubeflow-userid": ALICE}).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{gateway.url}/dask/?ns={NS}")
            page.wait_for_selector("#create:not([hidden])", timeout=30_000)
            page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
            assert page.locator("#create [name=workers] option").count() == 2  # the tier's maximum
            page.fill("#create [name=name]", "big-one")
            page.click("#create button[type=submit]")  # 2 workers: over userClusters.totalWorkers (1)
            page.wait_for_function("() => document.querySelector('#message').textContent.startsWith('Not created')")
            assert "userClusters.totalWorkers" in page.locator("#message").text_content()
            page.fill("#create [name=name]", "browser-one")
            page.select_option("#create [name=workers]", "1")
            page.click("#create button[type=submit]")
            page.wait_for_function("() => document.querySelector('#message').textContent.startsWith('Created')")
            page.wait_for_selector('tr[data-cluster="browser-one"]', timeout=30_000)
            page.wait_for_function(
                """() => { const c = document.querySelector('tr[data-cluster="browser-one"] td.phase');
                           return c && c.textContent.startsWith('Running'); }""", timeout=int(STARTUP * 1000))
            assert page.evaluate("() => window.sameDocument === true")  # live status: no reload happened
            assert page.locator('tr[data-cluster="browser-one"] td.owner').text_content() == ALICE
            assert 'cluster_name="browser-one"' in page.locator('tr[data-cluster="browser-one"] pre').text_content()
            page.once("dialog", lambda dialog: dialog.accept())
            page.click('tr[data-cluster="browser-one"] button.delete')
            page.wait_for_selector('tr[data-cluster="browser-one"]', state="detached", timeout=60_000)
            assert page.locator('tr[data-cluster="dask-cluster"] button.delete').count() == 0
            assert problems == [], problems
        finally:
            browser.close()
