"""The dashboard gateway: Dask dashboards behind the Kubeflow login, for each namespace's owner and
contributors only, plus the "Dask clusters" page of the central dashboard.

``make_app`` builds the aiohttp application; ``serve`` runs it with structured access logs.
"""

from __future__ import annotations

from .app import make_app
from .config import ConfigError, GatewayConfig, config_from_env
from .server import serve

__all__ = ["ConfigError", "GatewayConfig", "config_from_env", "make_app", "serve"]
