"""pytest fixtures of the Kubernetes harness.

Emulator fixtures: one API emulator per test session (`emulator_server`), reset before each test that
asks for `emulator`, which also points KUBECONFIG at it. Pod-runner/operator fixtures follow below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.emulator import Emulator
from tests.harness.emulator.certs import CertificateAuthority

# --------------------------------------------------------------------------- API emulator


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The session's API emulator (CRDs loaded). Prefer `emulator`, which resets it for each test."""
    kubeconfig = tmp_path_factory.mktemp("emulator") / "kubeconfig"
    with Emulator(kubeconfig=kubeconfig) as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_server: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """A fresh-looking cluster for this test: objects, SAR rules, faults and counters reset; KUBECONFIG set."""
    emulator_server.reset()
    monkeypatch.setenv("KUBECONFIG", str(emulator_server.kubeconfig))
    return emulator_server


@pytest.fixture
def kubeconfig(emulator: Emulator) -> Path:
    """Path of the kubeconfig whose current context is the (reset) emulator, namespace `default`."""
    return emulator.kubeconfig


@pytest.fixture(scope="session")
def certificate_authority() -> CertificateAuthority:
    """A self-signed test CA: `.bundle` for a webhook's caBundle, `.issue([...])` for serving certificates."""
    return CertificateAuthority("dask-kubeflow-test-ca")


# --------------------------------------------------------------------------- pod runner, operator, stack
# Defined in tests/harness/stack.py (module scope): pod_runner, cluster_dns, dask_operator, k8s, and the
# report hook that shows their logs when a test fails.
from tests.harness.stack import (  # noqa: E402,F401
    cluster_dns,
    dask_operator,
    k8s,
    pod_runner,
    pytest_runtest_makereport,
)
