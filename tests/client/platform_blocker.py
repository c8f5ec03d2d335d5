"""Run Python as a notebook with only the light install: the platform extra's packages cannot be imported.

``python -c "$(BLOCKER)" ...`` or ``blocked_python(code)``: a meta-path finder refuses every module of
the ``platform`` extra (kopf, aiohttp, prometheus-client, jinja2, cachetools), as if it were not
installed, and records who tried.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

PLATFORM_MODULES = ("kopf", "aiohttp", "prometheus_client", "jinja2")

BLOCKER = f'''
import sys, importlib.abc
class _PlatformBlocker(importlib.abc.MetaPathFinder):
    blocked = {PLATFORM_MODULES!r}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not in the light install)", name=name)
        return None
sys.meta_path.insert(0, _PlatformBlocker())
'''


def blocked_python(code: str, *args: str, env: Mapping[str, str] | None = None,
                   timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -c BLOCKER+code args...`` in a fresh interpreter (own process, waited for)."""
    return subprocess.run([sys.executable, "-c", BLOCKER + code, *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(env if env is not None else os.environ))
