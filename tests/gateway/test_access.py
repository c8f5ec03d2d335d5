"""Who gets a dashboard: the authorization matrix on the emulator's SubjectAccessReview, the trust
boundary, unknown names, and what users are told when they are turned away."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest
from yarl import URL

from .conftest import CLUSTER, CONTRIBUTOR, NAMESPACE, OWNER, STRANGER, create_cluster

INGRESS = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
STATUS = f"/dask/{NAMESPACE}/{CLUSTER}/status"
COUNTS = f"/dask/{NAMESPACE}/{CLUSTER}/json/counts.json"  # cheap: no Bokeh session is made


def as_user(user: str, **extra: str) -> dict[str, str]:
    return {"kubeflow-userid": user, **extra}


def sar_count(emulator) -> int:
    return emulator.request_count(verb="create", resource="subjectaccessreviews")


async def test_owner_and_contributor_get_the_dashboard(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:
        body = await response.text()
    assert response.status == 200
    # The scheduler's own page, with asset URLs under the kept prefix.
    assert f"/dask/{NAMESPACE}/{CLUSTER}/static/js/bokeh.min.js" in body
    async with http.get(gateway.url + COUNTS, headers=as_user(CONTRIBUTOR)) as response:
        assert response.status == 200 and (await response.json())["workers"] == 1


async def test_another_user_is_told_who_they_are_and_how_to_get_access(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    async with http.get(gateway.url + STATUS, headers=as_user(STRANGER)) as response:
        body = await response.text()
    assert response.status == 403
    assert f"signed in as {STRANGER}" in body
    assert "Manage Contributors" in body and f"owner of {NAMESPACE}" in body
    assert "bokeh" not in body


async def test_no_identity_header_gets_401(kubeflow_namespace, start_gateway, http, emulator):
    gateway = await start_gateway()
    async with http.get(gateway.url + STATUS) as response:
        body = await response.text()
    assert response.status == 401 and "Sign in required" in body
    assert sar_count(emulator) == 0


async def test_spoofed_header_from_an_untrusted_address_is_ignored(kubeflow_namespace, start_gateway, http, emulator):
    # The test client connects from 127.0.0.1; this gateway only trusts its (pretend) ingress subnet.
    gateway = await start_gateway(trusted_proxies=("10.0.0.0/8",))
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:
        body = await response.text()
    assert response.status == 401
    assert "127.0.0.1" in body and "not a trusted proxy" in body
    assert sar_count(emulator) == 0


async def test_spoofed_header_from_a_mesh_workload_is_ignored(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway(trusted_principals=(INGRESS,))
    workload = "spiffe://cluster.local/ns/mallory/sa/default-editor"
    spoofed = as_user(OWNER, **{"X-Forwarded-Client-Cert": f"By=spiffe://gw;Hash=00;URI={workload}"})
    async with http.get(gateway.url + STATUS, headers=spoofed) as response:
        assert response.status == 401
        assert workload in await response.text()
    via_ingress = as_user(OWNER, **{"X-Forwarded-Client-Cert": f"By=spiffe://gw;Hash=00;URI={INGRESS}"})
    async with http.get(gateway.url + COUNTS, headers=via_ingress) as response:
        assert response.status == 200


async def test_unknown_namespace_and_cluster_get_404(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    async with http.get(gateway.url + "/dask/nobody/dask-cluster/status", headers=as_user(OWNER)) as response:
        body = await response.text()
    assert response.status == 404 and "There is no namespace called nobody" in body
    async with http.get(gateway.url + f"/dask/{NAMESPACE}/typo/status", headers=as_user(OWNER)) as response:
        body = await response.text()
    assert response.status == 404
    assert "has no Dask cluster called typo" in body and f"Clusters in {NAMESPACE}: {CLUSTER}" in body
    async with http.get(gateway.url + f"/dask/{NAMESPACE}/Not.A.Name/status", headers=as_user(OWNER)) as response:
        assert response.status == 404


async def test_cluster_names_are_not_revealed_to_outsiders(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    async with http.get(gateway.url + f"/dask/{NAMESPACE}/typo/status", headers=as_user(STRANGER)) as response:
        body = await response.text()
    assert response.status == 403 and CLUSTER not in body


async def test_access_decisions_are_cached_for_the_configured_time(kubeflow_namespace, start_gateway, http, emulator):
    cached = await start_gateway(auth_cache_seconds=300)
    for _ in range(3):
        async with http.get(cached.url + COUNTS, headers=as_user(OWNER)) as r:
            assert r.status == 200
    assert sar_count(emulator) == 1
    uncached = await start_gateway(auth_cache_seconds=0)
    for _ in range(3):
        async with http.get(uncached.url + COUNTS, headers=as_user(OWNER)) as r:
            assert r.status == 200
    assert sar_count(emulator) == 4


async def test_the_dashboard_is_read_only(kubeflow_namespace, start_gateway, http, local_dask):
    gateway = await start_gateway()
    url = gateway.url + f"/dask/{NAMESPACE}/{CLUSTER}/api/v1/retire_workers"
    async with http.post(url, json={"workers": []}, headers=as_user(CONTRIBUTOR)) as response:
        assert response.status == 405
        assert "client.retire_workers" in await response.text()
    assert local_dask.counts()["workers"] == 1


async def test_websocket_refused_before_upgrade_for_outsiders(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(gateway.url + f"/dask/{NAMESPACE}/{CLUSTER}/status/ws", headers=as_user(STRANGER))
    assert refused.value.status == 403


async def test_scheduler_down_gets_a_502_page_and_counts_an_upstream_error(kubeflow_namespace, start_gateway, http):
    await create_cluster(NAMESPACE, "sleepy")
    gateway = await start_gateway()
    async with http.get(gateway.url + f"/dask/{NAMESPACE}/sleepy/status", headers=as_user(OWNER)) as response:
        body = await response.text()
    assert response.status == 502
    assert "sleepy is not answering" in body and "kubectl -n alice logs deploy/sleepy-scheduler" in body
    assert await gateway.metric(http, "dask_kubeflow_gateway_upstream_errors_total", kind="dashboard") == 1


@pytest.mark.parametrize("failure", [500, "hang"])
async def test_kubernetes_api_failure_gets_a_503_page(kubeflow_namespace, start_gateway, http, emulator, failure):
    gateway = await start_gateway(kubernetes_timeout=1)
    emulator.fault("create", "subjectaccessreviews", status=failure)
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:
        body = await response.text()
    assert response.status == 503 and "could not reach the Kubernetes API" in body
    async with http.get(gateway.url + COUNTS, headers=as_user(OWNER)) as response:
        assert response.status == 200  # a failure is not cached


@pytest.mark.parametrize("failure, says", [
    (403, "refused 'create subjectaccessreviews.authorization.k8s.io' to the gateway's service account"),
    (500, "(HTTP 500)"),
    ("hang", "did not answer within 1 s"),
])
async def test_a_kubernetes_api_failure_is_logged_with_what_to_fix(
        kubeflow_namespace, start_gateway, http, emulator, caplog, failure, says):
    gateway = await start_gateway(kubernetes_timeout=1)
    emulator.fault("create", "subjectaccessreviews", status=failure, count=4)  # kr8s retries a 403 three times
    caplog.set_level(logging.ERROR, logger="dask_kubeflow.gateway")
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:
        assert response.status == 503
    (line,) = [r.getMessage() for r in caplog.records if r.name == "dask_kubeflow.gateway"]
    assert f"user {OWNER} got a 503 page" in line and says in line, line


async def test_health_metrics_and_structured_access_log(kubeflow_namespace, start_gateway, http, caplog):
    gateway = await start_gateway()
    caplog.set_level(logging.INFO, logger="dask_kubeflow.gateway.access")
    async with http.get(gateway.url + "/healthz") as response:
        assert response.status == 200 and await response.text() == "ok\n"
    async with http.get(gateway.url + COUNTS, headers=as_user(OWNER)) as response:
        assert response.status == 200
    async with http.get(gateway.url + STATUS, headers=as_user(STRANGER)) as response:
        assert response.status == 403
    assert await gateway.metric(http, "dask_kubeflow_gateway_requests_total", route="dashboard", code="200") == 1
    assert await gateway.metric(http, "dask_kubeflow_gateway_requests_total", route="dashboard", code="403") == 1
    assert await gateway.metric(http, "dask_kubeflow_gateway_request_duration_seconds_count", route="dashboard") == 2
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "dask_kubeflow.gateway.access"]
    denied = [line for line in lines if line["status"] == 403]
    assert denied and denied[0]["user"] == STRANGER and denied[0]["namespace"] == NAMESPACE
    assert denied[0]["cluster"] == CLUSTER and denied[0]["path"] == STATUS


async def test_short_paths_redirect(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    async with http.get(gateway.url + f"/dask/{NAMESPACE}/{CLUSTER}", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == STATUS
    async with http.get(gateway.url + f"/dask/{NAMESPACE}/", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == f"/dask/?ns={NAMESPACE}"
    # A namespace segment with an encoded line break stays encoded in the Location header.
    async with http.get(URL(gateway.url + "/dask/a%0D%0Ab/", encoded=True), allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/dask/?ns=a%0D%0Ab"
