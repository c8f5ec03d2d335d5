"""List pagination on the emulator: pages of ``limit``, a ``continue`` token, one resourceVersion for all
pages, and a watch from it that replays what changed while the client was paging."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kr8s
import pytest

from tests.harness.emulator import Emulator

from .test_emulator import aapi, kubectl  # noqa: F401  (aapi: the async kr8s client fixture)


async def _get(api: Any, **params: Any) -> dict[str, Any]:
    async with api.call_api("GET", version="v1", namespace="paged", url="configmaps", params=params) as resp:
        return resp.json()


async def _make(api: Any, count: int) -> None:
    async with api.call_api("POST", version="v1", url="namespaces",
                            content=json.dumps({"metadata": {"name": "paged"}})):
        pass
    for i in range(count):
        body = {"metadata": {"name": f"cm-{i:02d}", "labels": {"even": str(i % 2 == 0).lower()}}}
        async with api.call_api("POST", version="v1", namespace="paged", url="configmaps", content=json.dumps(body)):
            pass


async def test_pages_cover_every_object_once_with_one_resource_version(aapi: Any) -> None:
    await _make(aapi, 7)
    seen: list[str] = []
    versions: set[str] = set()
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        body = await _get(aapi, **params)
        pages += 1
        assert len(body["items"]) <= 3
        seen += [o["metadata"]["name"] for o in body["items"]]
        versions.add(body["metadata"]["resourceVersion"])
        token = body["metadata"].get("continue")
        if not token:
            assert "remainingItemCount" not in body["metadata"]
            break
        assert body["metadata"]["remainingItemCount"] == 7 - len(seen)
        params = {"limit": 3, "continue": token}
    assert pages == 3
    assert seen == [f"cm-{i:02d}" for i in range(7)]
    assert len(versions) == 1  # every page reports the first page's resourceVersion


async def test_paging_composes_with_label_selectors(aapi: Any) -> None:
    await _make(aapi, 7)
    first = await _get(aapi, limit=2, labelSelector="even=true")
    rest = await _get(aapi, limit=10, labelSelector="even=true", **{"continue": first["metadata"]["continue"]})
    names = [o["metadata"]["name"] for o in first["items"] + rest["items"]]
    assert names == ["cm-00", "cm-02", "cm-04", "cm-06"]
    assert "continue" not in rest["metadata"]


async def test_a_change_made_while_paging_is_replayed_by_a_watch_from_the_list_version(aapi: Any) -> None:
    await _make(aapi, 4)
    first = await _get(aapi, limit=2)
    async with aapi.call_api("DELETE", version="v1", namespace="paged", url="configmaps/cm-00"):
        pass
    await _get(aapi, limit=2, **{"continue": first["metadata"]["continue"]})
    params = {"watch": "true", "resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": "1"}
    async with aapi.call_api("GET", version="v1", namespace="paged", url="configmaps", params=params,
                             stream=True, timeout=None) as resp:
        events = [json.loads(line) async for line in resp.aiter_lines() if line.strip()]
    assert ("DELETED", "cm-00") in [(e["type"], e["object"]["metadata"]["name"]) for e in events]


async def test_a_forged_continue_token_is_a_400(aapi: Any) -> None:
    await _make(aapi, 1)
    with pytest.raises(kr8s.ServerError) as info:
        await _get(aapi, limit=1, **{"continue": "not-a-token"})
    assert info.value.response.status_code == 400
    assert "continue" in info.value.response.json()["message"]


def test_kubectl_chunked_get_lists_everything(kubeconfig: Path, emulator: Emulator) -> None:
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "paged"}}]
    items += [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "paged"}}
              for i in range(5)]
    for item in items:
        kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(item))
    out = kubectl(kubeconfig, "-n", "paged", "get", "configmaps", "--chunk-size=2", "-o", "name").stdout.split()
    assert out == [f"configmap/cm-{i}" for i in range(5)]
