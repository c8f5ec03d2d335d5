"""Command-line interface. Each module below adds its commands to ``app``."""

from __future__ import annotations

from . import policy_cmd  # noqa: F401  (registers "policy check")
from . import demo_cmd  # noqa: F401  (registers "demo")
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
