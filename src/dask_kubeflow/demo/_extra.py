"""The demo's optional packages (``pip install 'dask-kubeflow[demo]'``), imported with a useful error."""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRA_HINT = "pip install 'dask-kubeflow[demo]' (on the workers' image too, for a remote cluster)"


class MissingExtra(ImportError):
    """A package of the ``demo`` extra is not installed here."""


def require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(
            f"the NLP demo needs the {module!r} package, which is not installed in {_where()}; "
            f"install the demo's extras: {EXTRA_HINT}"
        ) from err


def _where() -> str:
    import sys

    return f"this Python ({sys.executable})"
