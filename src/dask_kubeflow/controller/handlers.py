"""kopf handlers: watches that feed indexes and turn every relevant event into "look at namespace X".

Handlers here never write. ``on.event`` handlers store nothing on the objects they watch (no
kopf progress annotations on Profiles); indexes hold what the reconcile needs, so a resync
reads nothing from the API. kopf fills every index before any event handler runs, so after a
restart the controller knows all of its objects before it decides anything.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
import kr8s.asyncio

from ..render import MANAGED_BY, MANAGED_BY_LABEL
from .engine import Controller
from .kinds import MANAGED_KINDS, STATUS_KIND, Kind
from .livestate import snapshot
from .settings import COMPONENT_LABEL, STATUS_CONFIGMAP

__all__ = ["build_registry"]

log = logging.getLogger("dask_kubeflow.controller")
PROFILES = ("kubeflow.org", "v1", "profiles")
NAMESPACES = ("", "v1", "namespaces")
ROLEBINDINGS = ("rbac.authorization.k8s.io", "v1", "rolebindings")
QUOTAS = ("", "v1", "resourcequotas")
_OURS = {MANAGED_BY_LABEL: MANAGED_BY}


def _managed_id(kind: Kind) -> str:
    return f"managed_{kind.plural}"


def build_registry() -> kopf.OperatorRegistry:
    """A fresh registry (not kopf's global one), so importing the upstream operator does not mix."""
    registry = kopf.OperatorRegistry()

    # -- indexes: what the reconcile reads --------------------------------------------------------
    @kopf.index(*PROFILES, id="profiles", registry=registry)
    def profiles(name: str, spec: Any, meta: Any, **_: Any) -> dict[str, dict[str, Any]]:
        owner = (spec.get("owner") or {}).get("name")
        return {name: {"name": name, "uid": meta.get("uid"), "owner": owner}}

    @kopf.index(*NAMESPACES, id="namespaces", registry=registry)
    def namespaces(name: str, labels: Any, annotations: Any, meta: Any, **_: Any) -> dict[str, dict[str, Any]]:
        return {name: {"labels": dict(labels), "owner": annotations.get("owner"),
                       "terminating": bool(meta.get("deletionTimestamp"))}}

    @kopf.index(*ROLEBINDINGS, id="contributors", annotations={"user": kopf.PRESENT, "role": kopf.PRESENT},
                registry=registry)
    def contributors(namespace: str, annotations: Any, **_: Any) -> dict[str, str]:
        return {namespace: annotations["user"]}

    @kopf.index(*QUOTAS, id="quotas", registry=registry)
    def quotas(namespace: str, name: str, spec: Any, **_: Any) -> dict[str, dict[str, Any]]:
        return {namespace: {"name": name, "hard": dict(spec.get("hard") or {})}}

    def _register_managed(kind: Kind) -> None:
        labels = dict(_OURS)
        if kind == STATUS_KIND:
            labels[COMPONENT_LABEL] = "status"

        def index_managed(namespace: str, body: Any, **_: Any) -> dict[str, dict[str, Any]]:
            return {namespace: snapshot(body)}

        def managed_changed(namespace: str, body: Any, type: str | None, memo: Any, **_: Any) -> None:
            controller: Controller = memo.controller
            if type != "DELETED" and controller.live_state.is_echo(body):
                return  # our own write coming back through the watch: nothing new to look at
            controller.enqueue(namespace)

        filters: dict[str, Any] = {"labels": labels}
        if kind == STATUS_KIND:
            filters["field"] = "metadata.name"
            filters["value"] = STATUS_CONFIGMAP
        kopf.index(kind.group, kind.version, kind.plural, id=_managed_id(kind), registry=registry,
                   **filters)(index_managed)
        kopf.on.event(kind.group, kind.version, kind.plural, id=f"{_managed_id(kind)}_changed",
                      registry=registry, **filters)(managed_changed)

    for kind in MANAGED_KINDS:
        _register_managed(kind)

    # -- events: what to look at again -------------------------------------------------------------
    @kopf.on.event(*PROFILES, id="profile_changed", registry=registry)
    def profile_changed(name: str, memo: Any, **_: Any) -> None:
        _seen(memo.controller)
        memo.controller.enqueue(name)

    @kopf.on.event(*NAMESPACES, id="namespace_changed", registry=registry)
    def namespace_changed(name: str, memo: Any, **_: Any) -> None:
        controller: Controller = memo.controller
        _seen(controller)
        if name in controller.profiles or any(name in index for index in controller.managed):
            controller.enqueue(name)

    @kopf.on.event(*ROLEBINDINGS, id="contributor_changed", annotations={"user": kopf.PRESENT, "role": kopf.PRESENT},
                   registry=registry)
    def contributor_changed(namespace: str, memo: Any, **_: Any) -> None:
        memo.controller.enqueue(namespace)

    @kopf.on.event(*QUOTAS, id="quota_changed", registry=registry)
    def quota_changed(namespace: str, memo: Any, **_: Any) -> None:
        if namespace in memo.controller.profiles:
            memo.controller.enqueue(namespace)

    # -- lifecycle -------------------------------------------------------------------------------
    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> Any:
        """In a pod: the service account; elsewhere: $KUBECONFIG / ~/.kube/config (as kr8s does)."""
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(id="start", registry=registry)
    async def start(settings: kopf.OperatorSettings, memo: Any, **kwargs: Any) -> None:
        controller: Controller = memo.controller
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        for kind in MANAGED_KINDS:  # server-side filtering: only our objects are listed and watched
            extra = f",{COMPONENT_LABEL}=status" if kind == STATUS_KIND else ""
            settings.watching.label_selectors[kind.group, kind.version, kind.plural] = selector + extra
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 30
        settings.posting.enabled = False  # the controller posts its own, user-facing Events
        api = await kr8s.asyncio.api()
        api.timeout = controller.settings.request_timeout  # kr8s waits forever by default
        controller.attach(
            api,
            profiles=kwargs["profiles"],
            namespaces=kwargs["namespaces"],
            contributors=kwargs["contributors"],
            quotas=kwargs["quotas"],
            managed=[kwargs[_managed_id(kind)] for kind in MANAGED_KINDS],
        )
        await controller.start()
        log.info("dask-kubeflow controller started: %d workers, policy from ConfigMap %s/%s key %s",
                 controller.settings.workers, controller.settings.policy_namespace,
                 controller.settings.policy_name, controller.settings.policy_key)

    @kopf.on.cleanup(id="stop", registry=registry)
    async def stop(memo: Any, **_: Any) -> None:
        await memo.controller.stop()

    @kopf.on.probe(id="policy", registry=registry)
    def policy_probe(memo: Any, **_: Any) -> str:
        controller: Controller = memo.controller
        return controller.policy.version if controller.policy else "starting"

    return registry


def _seen(controller: Controller) -> None:
    """Event handlers run only once kopf has filled every index: the watches have listed all."""
    if not controller.indexed:
        controller.indexed = True
        controller.requeue_all()
