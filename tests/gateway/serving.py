"""Start a gateway app in the test's own event loop, on a free loopback port, with the production
server options and access log `dask-kubeflow gateway` uses (shared by tests/gateway and tests/security)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dask_kubeflow.gateway import GatewayConfig, make_app
from dask_kubeflow.gateway.access_log import ACCESS_LOGGER, JsonAccessLogger

try:
    from dask_kubeflow.gateway.server import handler_options
except ImportError:  # running the security suite against the build before issue 11 (docs/security.md "before")
    def handler_options(config: Any) -> dict[str, Any]:  # type: ignore[misc]
        return {}


async def serve(config: GatewayConfig, kubeconfig: str, resolver: Callable[[str, str, dict], str],
                runners: list[web.AppRunner]) -> tuple[web.Application, int]:
    """The app and its port; the runner is appended to ``runners`` for the fixture to clean up."""
    app = make_app(config, kubeconfig=kubeconfig, resolver=resolver)
    runner = web.AppRunner(app, access_log=logging.getLogger(ACCESS_LOGGER), access_log_class=JsonAccessLogger,
                           **handler_options(config))
    await runner.setup()
    runners.append(runner)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return app, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
