"""kopf handlers: the operator's life cycle (login, startup, cleanup) and its probes.

Every input of the reconcile — Profiles included — comes through the controller's own
``informer``, not kopf watches: kopf's per-object worker tasks cost CPU and memory that grow with
the number of Profiles (see ``informer``). kopf runs the operator: login, the startup and cleanup
handlers, the liveness endpoint and probes. This registry is the place to add more kopf handlers
(admission webhooks: ``@kopf.on.validate`` / ``@kopf.on.mutate`` with ``registry=registry``). All
handlers are ``async`` (kopf runs sync ones in a thread pool).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ..kube.api import get_api, get_watch_api
from .engine import Controller
from .webhooks import register_webhooks

__all__ = ["build_registry"]

log = logging.getLogger("dask_kubeflow.controller")


def build_registry() -> kopf.OperatorRegistry:
    """A fresh registry (not kopf's global one), so importing the upstream operator does not mix."""
    registry = kopf.OperatorRegistry()

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
        api = await get_api()
        api.timeout = controller.settings.request_timeout  # kr8s waits forever by default
        controller.attach(api, watch_api=await get_watch_api())  # watches in a pool of their own
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

    register_webhooks(registry)  # admission webhooks, when a serving certificate is mounted (webhooks.py)
    return registry
