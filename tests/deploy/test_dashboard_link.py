"""The "Dask clusters" menu item is merged into Kubeflow's live dashboard links, never replacing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dask_kubeflow.controller.dashboard_link import (
    DASK_MENU_ITEM,
    LinksError,
    ensure_dashboard_link,
    merge_link,
    remove_dashboard_link,
    remove_link,
)
from dask_kubeflow.kube.api import get_api
from dask_kubeflow.kube.resources import ConfigMap

EXAMPLES = Path(__file__).resolve().parents[2] / "reference" / "kubeflow" / "examples"
VARIANTS = ["centraldashboard-config.yaml", "centraldashboard-config-kserve.yaml"]
CUSTOM = {"type": "item", "link": "/my-team-wiki/", "text": "Team wiki", "icon": "book"}


def links_of(variant: str) -> str:
    return yaml.safe_load((EXAMPLES / variant).read_text())["data"]["links"]


def menu(text: str) -> list[dict]:
    return json.loads(text)["menuLinks"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_merge_adds_one_item_and_keeps_everything_else(variant):
    original = links_of(variant)
    merged = merge_link(original)
    assert menu(merged) == [*menu(original), DASK_MENU_ITEM]
    rest = {k: v for k, v in json.loads(merged).items() if k != "menuLinks"}
    assert rest == {k: v for k, v in json.loads(original).items() if k != "menuLinks"}
    assert merge_link(merged) == merged  # idempotent, byte for byte


def test_the_kserve_item_and_an_admins_item_survive_merge_and_remove():
    data = json.loads(links_of("centraldashboard-config-kserve.yaml"))
    data["menuLinks"].insert(2, CUSTOM)
    original = json.dumps(data)
    merged = merge_link(original)
    texts = [i["text"] for i in menu(merged)]
    assert "KServe Endpoints" in texts and "Team wiki" in texts and texts.count("Dask clusters") == 1
    restored = remove_link(merged)
    assert menu(restored) == data["menuLinks"]
    assert remove_link(restored) == restored


def test_an_admins_edit_of_our_item_is_kept():
    data = json.loads(links_of("centraldashboard-config.yaml"))
    # Renamed and moved into a section: still ours (same link), so nothing is added.
    data["menuLinks"].append({"type": "section", "text": "Compute", "items": [
        {**DASK_MENU_ITEM, "text": "Dask (team clusters)"}]})
    edited = json.dumps(data)
    assert merge_link(edited) == edited
    removed = menu(remove_link(edited))
    assert removed[-1] == {"type": "section", "text": "Compute", "items": []}


def test_empty_or_missing_links_get_just_our_item():
    assert menu(merge_link("")) == [DASK_MENU_ITEM]
    assert json.loads(merge_link('{"externalLinks": []}')) == {"externalLinks": [], "menuLinks": [DASK_MENU_ITEM]}


@pytest.mark.parametrize("text", ["{not json", '{"menuLinks": {}}', "[]"])
def test_unreadable_links_are_refused_with_the_fix(text):
    with pytest.raises(LinksError, match="kubectl -n kubeflow edit configmap centraldashboard-config"):
        merge_link(text)


async def test_ensure_and_remove_patch_only_the_links_of_the_live_configmap(emulator):
    api = await get_api(str(emulator.kubeconfig))
    assert await ensure_dashboard_link(api) == "no-dashboard"  # no Kubeflow namespace / config: nothing to do
    reference = yaml.safe_load((EXAMPLES / "centraldashboard-config-kserve.yaml").read_text())
    reference["metadata"] = {"name": "centraldashboard-config", "namespace": "kubeflow"}
    emulator.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}})
    emulator.create(reference)

    assert await ensure_dashboard_link(api) == "added"
    assert await ensure_dashboard_link(api) == "present"
    live = (await ConfigMap.get("centraldashboard-config", namespace="kubeflow", api=api)).raw["data"]
    assert menu(live["links"]) == [*menu(reference["data"]["links"]), DASK_MENU_ITEM]
    assert live["settings"] == reference["data"]["settings"]

    assert await remove_dashboard_link(api) == "removed"
    assert await remove_dashboard_link(api) == "absent"
    live = (await ConfigMap.get("centraldashboard-config", namespace="kubeflow", api=api)).raw["data"]
    assert menu(live["links"]) == menu(reference["data"]["links"])
