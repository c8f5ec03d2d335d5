"""Command-line interface. Each module below adds its commands to ``app``."""

from __future__ import annotations

from . import policy_cmd  # noqa: F401  (registers "policy check")
from . import render_cmd  # noqa: F401  (registers "render")
from . import demo_cmd  # noqa: F401  (registers "demo")
from . import advise_cmd  # noqa: F401  (registers "advise")
from . import gateway_cmd  # noqa: F401  (registers "gateway")
from . import controller_cmd  # noqa: F401  (registers "controller")
from . import cluster_cmd  # noqa: F401  (registers "connect", "status", "doctor")
from . import lifecycle_cmd  # noqa: F401  (registers "cluster wake")
from . import usage_cmd  # noqa: F401  (registers "usage")
from . import user_clusters_cmd  # noqa: F401  (registers "cluster create|list|delete")
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
