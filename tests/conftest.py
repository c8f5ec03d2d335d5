"""Shared fixtures. The Kubernetes harness (API emulator, local pod runner, upstream operator)
lives in tests/harness and is registered here so every test layer can use it.

The suite runs on two pytest-xdist workers, one test module at a time per worker (`-n 2 --dist
loadfile` in pyproject.toml: a module's tests stay together and in order, so its module-scoped stack
is started once). Modules that start processes — a Kubernetes stack, the controller, a browser —
take longest; they are handed out first, so that the end of the run is not one worker finishing a
long end-to-end module alone while the other sits idle. Test order inside a module never changes.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.harness.fixtures"]

# Fixtures that start long-lived processes (directly or through the fixtures they use).
PROCESS_FIXTURES = frozenset({"pod_runner", "dask_operator", "k8s", "start_controller"})


def _starts_processes(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & PROCESS_FIXTURES) or item.get_closest_marker("browser") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist: modules that start processes first (stable: collection order otherwise kept)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    heavy_modules = {item.nodeid.split("::", 1)[0] for item in items if _starts_processes(item)}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.nodeid.split("::", 1)[0], index)
    items.sort(key=lambda item: (item.nodeid.split("::", 1)[0] not in heavy_modules,
                                 first_seen[item.nodeid.split("::", 1)[0]]))
