"""The "Dask clusters" item of Kubeflow's central dashboard menu, merged into the live links.

Kubeflow keeps the menu in ConfigMap ``centraldashboard-config`` (namespace ``kubeflow``), key
``links``: a JSON document whose ``menuLinks`` list the dashboard shows. A default install already
differs from the base file (the kserve overlay adds "KServe Endpoints") and admins edit it, so the
install never replaces it: the item is merged in (added once; every other item, their order and
any edit of ours - renamed, re-iconed, moved into a section - are kept) and taken out again on
uninstall. ``merge_link`` / ``remove_link`` are pure; ``ensure_dashboard_link`` reads and patches
the one ConfigMap (RBAC: get/patch on it by ``resourceNames``, deploy/overlays/kubeflow).

The controller runs ``keep_dashboard_link`` at start when ``--dashboard-link=NAMESPACE/NAME`` is set
(the kubeflow overlay sets ``kubeflow/centraldashboard-config``): transient API errors are retried
with ``kube.retry`` backoff; a forbidden or missing ConfigMap is one log line, never a failure.

Uninstall (docs/install-kubeflow.md): ``python -m dask_kubeflow.controller.dashboard_link --remove``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.names import DASHBOARD_ROOT, KUBEFLOW_NAMESPACE
from ..kube.resources import ConfigMap
from ..kube.retry import Backoff

__all__ = ["DASHBOARD_NAMESPACE", "DASHBOARD_CONFIGMAP", "DASK_MENU_ITEM", "LinkChange", "LinksError", "merge_link",
           "remove_link", "ensure_dashboard_link", "keep_dashboard_link", "parse_location", "remove_dashboard_link"]

log = logging.getLogger("dask_kubeflow.controller")

DASHBOARD_NAMESPACE: Final = KUBEFLOW_NAMESPACE  # where Kubeflow's central dashboard runs by default
DASHBOARD_CONFIGMAP: Final = "centraldashboard-config"
LINKS_KEY: Final = "links"
DASK_MENU_ITEM: Final = {"type": "item", "link": f"{DASHBOARD_ROOT}/", "text": "Dask clusters",
                         "icon": "device:developer-board"}

# What one add/remove did to the live menu.
LinkChange = Literal["added", "present", "removed", "absent", "no-dashboard"]


class LinksError(ValueError):
    """The dashboard's links document cannot be read; the message says what to fix."""


def _load(links_json: str) -> dict[str, Any]:
    try:
        data = json.loads(links_json) if links_json.strip() else {}
    except json.JSONDecodeError as err:
        raise LinksError(
            f"the central dashboard links (ConfigMap {DASHBOARD_CONFIGMAP}, key {LINKS_KEY}) are not valid "
            f"JSON ({err}); the dashboard cannot show them either: fix the JSON with "
            f"`kubectl -n {DASHBOARD_NAMESPACE} edit configmap {DASHBOARD_CONFIGMAP}`") from None
    menu = data.get("menuLinks", []) if isinstance(data, dict) else None
    if not isinstance(menu, list):
        raise LinksError(
            f"the central dashboard links (ConfigMap {DASHBOARD_CONFIGMAP}) must be a JSON object whose "
            f"menuLinks is a list; found {type(menu if isinstance(data, dict) else data).__name__}: fix it "
            f"with `kubectl -n {DASHBOARD_NAMESPACE} edit configmap {DASHBOARD_CONFIGMAP}`")
    return data


def _items(menu: list[Any]) -> list[dict[str, Any]]:
    """Every menu item, top-level and inside sections (``{"type": "section", "items": [...]}``)."""
    out = []
    for entry in menu:
        if isinstance(entry, dict):
            out.append(entry)
            if isinstance(entry.get("items"), list):
                out += [i for i in entry["items"] if isinstance(i, dict)]
    return out


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=4, ensure_ascii=False)


def merge_link(links_json: str, item: dict[str, Any] = DASK_MENU_ITEM) -> str:
    """``links_json`` with ``item`` in ``menuLinks`` once. Identified by its ``link``: if any item
    (also inside a section) already points there, the text is returned unchanged, byte for byte."""
    data = _load(links_json)
    if any(i.get("link") == item["link"] for i in _items(data.get("menuLinks", []))):
        return links_json
    data["menuLinks"] = [*data.get("menuLinks", []), dict(item)]
    return _dump(data)


def _without(entries: list[Any], link: str) -> list[Any]:
    out = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("link") == link:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("items"), list):
            entry = {**entry, "items": _without(entry["items"], link)}
        out.append(entry)
    return out


def remove_link(links_json: str, link: str = DASK_MENU_ITEM["link"]) -> str:
    """``links_json`` without any menu item pointing at ``link``; unchanged text if there is none."""
    data = _load(links_json)
    if not any(i.get("link") == link for i in _items(data.get("menuLinks", []))):
        return links_json
    data["menuLinks"] = _without(data["menuLinks"], link)
    return _dump(data)


async def _update(api: Any, namespace: str, name: str, change: Any, verb: str) -> bool | None:
    """Apply the pure ``change`` to the live links; True if patched, False if unchanged, None if the
    ConfigMap does not exist (no central dashboard). The patch carries the resourceVersion read, so
    a concurrent edit is a 409 (transient: try again), never overwritten."""
    what = f"{verb} the Dask item in the central dashboard links (ConfigMap {namespace}/{name})"
    # A GET of the one object (kr8s' ConfigMap.get would LIST with a field selector, which RBAC's
    # resourceNames for get/patch does not allow).
    configmap = ConfigMap({"metadata": {"name": name, "namespace": namespace}}, api=api)
    try:
        await configmap.refresh()
    except API_ERRORS as err:
        error = from_exception(err, verb="get", resource="configmaps", namespace=namespace, what=what)
        if error.not_found:
            return None
        raise error from err
    current = (configmap.raw.get("data") or {}).get(LINKS_KEY, "")
    updated = change(current)
    if updated == current:
        return False
    body = {"metadata": {"resourceVersion": configmap.metadata["resourceVersion"]}, "data": {LINKS_KEY: updated}}
    try:
        await configmap.patch(body, type="merge")
    except API_ERRORS as err:
        raise from_exception(err, verb="patch", resource="configmaps", namespace=namespace, what=what) from err
    return True


async def ensure_dashboard_link(api: Any, namespace: str = DASHBOARD_NAMESPACE, name: str = DASHBOARD_CONFIGMAP,
                                item: dict[str, Any] = DASK_MENU_ITEM) -> LinkChange:
    """Merge ``item`` into the live menu: "added", "present" (nothing written) or "no-dashboard"
    (no such ConfigMap: not a Kubeflow cluster, nothing to do). Raises KubeError / LinksError."""
    changed = await _update(api, namespace, name, lambda text: merge_link(text, item), "add")
    return "no-dashboard" if changed is None else "added" if changed else "present"


async def remove_dashboard_link(api: Any, namespace: str = DASHBOARD_NAMESPACE, name: str = DASHBOARD_CONFIGMAP,
                                link: str = DASK_MENU_ITEM["link"]) -> LinkChange:
    """Take the item out of the live menu (uninstall): "removed", "absent" or "no-dashboard"."""
    changed = await _update(api, namespace, name, lambda text: remove_link(text, link), "remove")
    return "no-dashboard" if changed is None else "removed" if changed else "absent"


def parse_location(value: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` of the dashboard ConfigMap -> (namespace, name); ValueError says the form."""
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"--dashboard-link {value!r} must be NAMESPACE/NAME of Kubeflow's central dashboard "
                         f"ConfigMap, e.g. {DASHBOARD_NAMESPACE}/{DASHBOARD_CONFIGMAP} ('' = off)")
    return namespace, name


async def keep_dashboard_link(api: Any, location: str, *, backoff: Backoff | None = None,
                              sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> LinkChange | None:
    """The controller's start-up step: merge the item, retrying transient API errors (backoff) until it
    is done. Forbidden, a missing ConfigMap or unreadable links are logged once and given up (None):
    the menu item is a convenience, the controller's work does not depend on it."""
    namespace, name = parse_location(location)
    backoff = backoff or Backoff(initial=1.0, maximum=60.0)
    where = f"ConfigMap {namespace}/{name}"
    while True:
        try:
            change = await ensure_dashboard_link(api, namespace, name)
        except KubeError as err:
            if err.transient:
                delay = backoff.next()
                log.warning("central dashboard link: %s; retrying in %.0f s", err, delay)
                await sleep(delay)
                continue
            if err.forbidden():
                log.warning("central dashboard link: not allowed to read or patch %s, so the menu has no "
                            "'Dask clusters' item; grant get/patch on it (deploy/overlays/kubeflow/"
                            "dashboard-link-rbac.yaml) or set --dashboard-link='' to stop trying (%s)", where, err)
            else:
                log.warning("central dashboard link: %s; the menu has no 'Dask clusters' item", err)
            return None
        except LinksError as err:
            log.warning("central dashboard link: %s", err)
            return None
        if change == "no-dashboard":
            log.info("central dashboard link: no %s (no Kubeflow central dashboard here): nothing to add; "
                     "set --dashboard-link='' on clusters without Kubeflow", where)
        else:
            log.info("central dashboard link: %s", "added the 'Dask clusters' menu item" if change == "added"
                     else "the 'Dask clusters' menu item is already there")
        return change


def main(argv: list[str] | None = None) -> int:
    """``python -m dask_kubeflow.controller.dashboard_link [--remove]``: the uninstall step (and a
    manual add), with the current kubeconfig."""
    from ..kube.api import get_api
    from ..kube.sync import run

    parser = argparse.ArgumentParser(prog="python -m dask_kubeflow.controller.dashboard_link",
                                     description="Add (or --remove) the Dask clusters item of the central dashboard.")
    parser.add_argument("--remove", action="store_true", help="take the item out (uninstall)")
    parser.add_argument("--namespace", default=DASHBOARD_NAMESPACE)
    parser.add_argument("--kubeconfig", default=None)
    args = parser.parse_args(argv)

    async def go() -> LinkChange:
        api = await get_api(args.kubeconfig)
        action = remove_dashboard_link if args.remove else ensure_dashboard_link
        return await action(api, args.namespace)

    try:
        outcome = run(go(), 60)
    except (KubeError, LinksError) as err:
        print(f"error: {err}")
        return 1
    print({"added": "added the Dask clusters item", "present": "the Dask clusters item is already there",
           "removed": "removed the Dask clusters item", "absent": "no Dask clusters item to remove",
           "no-dashboard": f"no ConfigMap {args.namespace}/{DASHBOARD_CONFIGMAP}: nothing to do"}[outcome])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
