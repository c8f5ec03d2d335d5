"""The dashboard gateway: Dask dashboards behind the Kubeflow login, for each namespace's owner and
contributors only, plus the "Dask clusters" page of the central dashboard. See README.md here.

``make_app`` builds the aiohttp application; ``serve`` runs it with structured access logs. Both are
imported on first use, so ``dask-kubeflow`` commands other than ``gateway`` don't load the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ConfigError, GatewayConfig, config_from_env

if TYPE_CHECKING:
    from .app import make_app
    from .server import serve

__all__ = ["ConfigError", "GatewayConfig", "config_from_env", "make_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "make_app":
        from .app import make_app

        return make_app
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
