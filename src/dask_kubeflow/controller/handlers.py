"""kopf handlers: the operator's life cycle, its probes, and the Profiles it serves.

Profiles are kopf's: each event updates the controller's view of that Profile and queues its
namespace. The handler is ``on.event`` (stores no progress annotations on the Profile: the
controller never writes to objects it does not own) and ``async`` (kopf runs sync handlers in a
thread pool). Everything else the reconcile reads comes from the lighter ``informer``.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
import kr8s.asyncio

from .engine import Controller
from .watched import profile_facts

__all__ = ["build_registry"]

log = logging.getLogger("dask_kubeflow.controller")
PROFILES = ("kubeflow.org", "v1", "profiles")


def build_registry() -> kopf.OperatorRegistry:
    """A fresh registry (not kopf's global one), so importing the upstream operator does not mix."""
    registry = kopf.OperatorRegistry()

    @kopf.on.event(*PROFILES, id="profile_changed", registry=registry)
    async def profile_changed(name: str, body: Any, type: str | None, memo: Any, **_: Any) -> None:
        controller: Controller = memo.controller
        controller.profile_changed(name, None if type == "DELETED" else profile_facts(body))

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> Any:
        """In a pod: the service account; elsewhere: $KUBECONFIG / ~/.kube/config (as kr8s does)."""
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(id="start", registry=registry)
    async def start(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        controller: Controller = memo.controller
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 30
        settings.posting.enabled = False  # the controller posts its own, user-facing Events
        api = await kr8s.asyncio.api()
        api.timeout = controller.settings.request_timeout  # kr8s waits forever by default
        controller.attach(api)
        await controller.start()
        log.info("dask-kubeflow controller started: %d workers, policy from ConfigMap %s/%s key %s",
                 controller.settings.workers, controller.settings.policy_namespace,
                 controller.settings.policy_name, controller.settings.policy_key)

    @kopf.on.cleanup(id="stop", registry=registry)
    async def stop(memo: Any, **_: Any) -> None:
        await memo.controller.stop()

    @kopf.on.probe(id="policy", registry=registry)
    async def policy_probe(memo: Any, **_: Any) -> str:
        controller: Controller = memo.controller
        return controller.policy.version if controller.policy else "starting"

    return registry
