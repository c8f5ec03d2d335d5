"""The door for hibernated clusters on the API emulator (the local scheduler plays alice/dask-cluster):
who gets which page, who wakes it, what the readiness endpoint says, the 502 that became a waking page."""

from __future__ import annotations

from dask_kubeflow.kube.names import HIBERNATED_ANNOTATION, STATUS_CONFIGMAP, WAKE_REQUESTED_ANNOTATION

from .conftest import CLUSTER, CONTRIBUTOR, NAMESPACE, OWNER, STRANGER, create_cluster

STATUS = f"/dask/{NAMESPACE}/{CLUSTER}/status"
API = f"/dask/_api/namespaces/{NAMESPACE}/clusters/{CLUSTER}"


def as_user(user: str, **extra: str) -> dict[str, str]:
    return {"kubeflow-userid": user, **extra}


async def annotations(name: str = CLUSTER) -> dict[str, str]:
    from dask_kubeflow.kube.resources import DaskCluster

    return dict((await DaskCluster.get(name, namespace=NAMESPACE)).raw["metadata"].get("annotations") or {})


async def annotate(values: dict[str, str | None], name: str = CLUSTER) -> None:
    from dask_kubeflow.kube.resources import DaskCluster

    await (await DaskCluster.get(name, namespace=NAMESPACE)).patch({"metadata": {"annotations": values}})


def patches(emulator) -> int:
    return emulator.request_count(verb="patch", resource="daskclusters")


async def test_the_owner_opening_the_dashboard_wakes_it_and_lands_on_it(kubeflow_namespace, start_gateway, http,
                                                                        emulator):
    # No cached manifest: the local scheduler keeps answering after the annotation (a real one is gone, the
    # proxy's 502 path would then read the cluster afresh).
    gateway = await start_gateway(cluster_cache_seconds=0)
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:  # awake: proxied
        assert response.status == 200
    await annotate({HIBERNATED_ANNOTATION: "2026-12-01T12:00:00Z"})
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER, **{"Sec-Fetch-Site": "none"})) as response:
        page = await response.text()
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert "Waking up dask-cluster" in page and "asked for you just now" in page
    assert WAKE_REQUESTED_ANNOTATION in await annotations()
    asked = patches(emulator)
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:  # reloaded: waits, asks no more
        assert response.status == 503 and "Waking up" in await response.text()
    assert patches(emulator) == asked
    async with http.get(gateway.url + API + "/readiness", headers=as_user(OWNER)) as response:
        state = await response.json()
    assert state["ready"] is False and "controller to start the scheduler" in state["waitingFor"]
    await annotate({HIBERNATED_ANNOTATION: None, WAKE_REQUESTED_ANNOTATION: None})  # what the controller's wake does
    async with http.get(gateway.url + API + "/readiness", headers=as_user(CONTRIBUTOR)) as response:
        state = await response.json()
    assert state["ready"] is True and state["lifecycle"] == "Awake"
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:
        assert response.status == 200 and f"/dask/{NAMESPACE}/{CLUSTER}/static/" in await response.text()


async def test_a_viewer_is_told_who_can_wake_it_and_a_stranger_is_refused(kubeflow_namespace, start_gateway, http,
                                                                          emulator):
    from kr8s.asyncio.objects import Namespace

    namespace = await Namespace.get(NAMESPACE)
    await namespace.patch({"metadata": {"annotations": {"owner": OWNER}}})
    gateway = await start_gateway()
    await annotate({HIBERNATED_ANNOTATION: "2026-12-01T12:00:00Z"})
    before, asked = await annotations(), patches(emulator)
    async with http.get(gateway.url + STATUS, headers=as_user(CONTRIBUTOR)) as response:
        page = await response.text()
    assert response.status == 503 and "dask-cluster is hibernated" in page
    assert f"You ({CONTRIBUTOR}) may view this cluster but not wake it" in page and f"its owner {OWNER}" in page
    async with http.post(gateway.url + API + "/wake", json={}, headers=as_user(CONTRIBUTOR, Origin=gateway.url)) as r:
        assert r.status == 403 and "may not patch" in (await r.json())["error"]
    async with http.get(gateway.url + STATUS, headers=as_user(STRANGER)) as response:
        assert response.status == 403 and "No access to namespace alice" in await response.text()
    assert await annotations() == before and patches(emulator) == asked


async def test_the_wake_button_and_a_request_from_another_site(kubeflow_namespace, start_gateway, http):
    gateway = await start_gateway()
    await annotate({HIBERNATED_ANNOTATION: "2026-12-01T12:00:00Z"})
    cross = as_user(OWNER, **{"Sec-Fetch-Site": "cross-site"})
    async with http.get(gateway.url + STATUS, headers=cross) as response:
        page = await response.text()
    assert response.status == 503 and 'id="wake"' in page and "nothing was started" in page
    assert WAKE_REQUESTED_ANNOTATION not in await annotations()
    async with http.get(f"{gateway.url}/dask/_api/namespaces/{NAMESPACE}/clusters", headers=as_user(OWNER)) as r:
        state = await r.json()
    row = state["clusters"][0]
    assert row["phase"] == "Hibernated" and row["lifecycle"] == "Hibernated" and state["mayWake"] is True
    assert state["usageLines"][0]["text"].startswith("Used this month: not recorded yet")
    async with http.post(gateway.url + API + "/wake", json={}, headers=as_user(OWNER, Origin=gateway.url)) as r:
        assert r.status == 202 and (await r.json())["asked"] is True
    assert WAKE_REQUESTED_ANNOTATION in await annotations()


async def test_a_waking_cluster_that_does_not_answer_yet_gets_the_waking_page_not_a_502(kubeflow_namespace,
                                                                                       start_gateway, http):
    from kr8s.asyncio.objects import ConfigMap

    await create_cluster(NAMESPACE, "other", managed=True)  # resolves to a port where nothing listens
    gateway = await start_gateway()
    async with http.get(f"{gateway.url}/dask/{NAMESPACE}/other/status", headers=as_user(OWNER)) as response:
        assert response.status == 502  # not hibernated, not waking: the scheduler is down
    await (await ConfigMap({"metadata": {"name": STATUS_CONFIGMAP, "namespace": NAMESPACE},
                            "data": {"phase": "Ready", "lifecycle": "Waking"}})).create()
    async with http.get(f"{gateway.url}/dask/{NAMESPACE}/other/status", headers=as_user(OWNER)) as response:
        page = await response.text()
    assert response.status == 503 and "Waking up other" in page


async def test_a_woken_cluster_is_served_though_the_cached_copy_and_the_status_record_lag(kubeflow_namespace,
                                                                                         start_gateway, http):
    from kr8s.asyncio.objects import ConfigMap

    gateway = await start_gateway(cluster_cache_seconds=60)
    await annotate({HIBERNATED_ANNOTATION: "2026-12-01T12:00:00Z"})
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:  # caches the hibernated copy
        assert response.status == 503 and "Waking up" in await response.text()
    await annotate({HIBERNATED_ANNOTATION: None, WAKE_REQUESTED_ANNOTATION: None})  # the controller woke it ...
    await (await ConfigMap({"metadata": {"name": STATUS_CONFIGMAP, "namespace": NAMESPACE},
                            "data": {"phase": "Ready", "lifecycle": "Waking"}})).create()  # ... and says Awake later
    async with http.get(gateway.url + API + "/readiness", headers=as_user(OWNER)) as response:
        assert (await response.json())["ready"] is True
    async with http.get(gateway.url + STATUS, headers=as_user(OWNER)) as response:  # so the reload lands
        assert response.status == 200
