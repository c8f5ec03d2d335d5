"""Find the function and sample that ``dask-kubeflow advise`` was pointed at."""

from __future__ import annotations

import glob
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class TargetError(ValueError):
    """A MODULE:NAME that cannot be loaded; the message says what to write instead."""


def load_object(spec: str) -> Any:
    """``package.module:name`` or ``path/to/file.py:name`` -> that object."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise TargetError(f"{spec!r} is not MODULE:NAME; write e.g. mypackage.nlp:tokenize or ./work.py:tokenize")
    module = _load_module(where)
    try:
        return getattr(module, name)
    except AttributeError:
        raise TargetError(f"{where} has no {name!r}; names it defines: "
                          f"{', '.join(n for n in dir(module) if not n.startswith('_'))[:300]}") from None


def _load_module(where: str) -> Any:
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise TargetError(f"{where} is not a file")
        module_name = f"_dask_kubeflow_advise_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # cloudpickle and the process pass find it by name
        sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(where)
    except ImportError as err:
        raise TargetError(f"cannot import {where!r} ({err}); run from the directory that has it, "
                          f"or give the file: ./{where.replace('.', '/')}.py:NAME") from None


def load_sample(spec: str, limit: int | None = None) -> list[Any]:
    """A glob of files (each path is one item), or MODULE:NAME of a list or a no-argument function."""
    if ":" not in spec or glob.has_magic(spec.split(":")[0]):
        items: list[Any] = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not items:
            raise TargetError(f"--sample {spec!r} matches no files; give a glob of input files "
                              f"or MODULE:NAME of a list of arguments")
    else:
        found = load_object(spec)
        items = list(found() if callable(found) else found)
    return items[:limit] if limit else items


def check_callable(func: Any, spec: str) -> Callable[[Any], Any]:
    if not callable(func):
        raise TargetError(f"{spec} is a {type(func).__name__}, not a function")
    return func  # type: ignore[no-any-return]
