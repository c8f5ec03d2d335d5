"""No tracebacks: every failure of the API, the network, the kubeconfig or a missing cluster is one or
two lines and a non-zero exit, in ``connect``, ``status`` and ``doctor`` (and a ``ConnectError`` with
``problem`` and ``fix`` from ``dask_kubeflow.connect()``).

The API servers are real sockets (``tests/client/broken_api.py``): a dead port, HTTPS with a
certificate the kubeconfig does not trust, 401, 403, 404 for everything, and one that accepts and
never answers (the API timeout is set to 1 s so the test stays fast).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import dask_kubeflow
from dask_kubeflow.client.errors import (
    ConnectError,
    KubeconfigError,
    KubernetesAPIError,
    KubernetesUnreachableError,
    NoKubernetesError,
    PermissionDeniedError,
)
from typer.testing import CliRunner

from dask_kubeflow.cli import app, cluster_cmd
from tests.cli.helpers import invoke
from tests.client.broken_api import BrokenAPI, dead_port, write_kubeconfig

NS = "kf-alice"
CASES = ["dead-port", "tls", 401, 403, 404, "hang"]
EXPECTED: dict[object, tuple[type[ConnectError], str, str]] = {
    # case: (error type, in the problem, in the fix)
    "dead-port": (KubernetesUnreachableError, "cannot reach the Kubernetes API at http://127.0.0.1:", "server URL"),
    "tls": (KubernetesUnreachableError, "CERTIFICATE_VERIFY_FAILED", "certificate-authority"),
    401: (KubeconfigError, "HTTP 401 Unauthorized", "kubectl get pods"),
    403: (PermissionDeniedError, "may not list pods", "Role allowing verb 'list'"),
    404: (KubernetesAPIError, "answered HTTP 404", "server URL"),
    "hang": (KubernetesUnreachableError, "no answer within 1 s", "server URL"),
}


@pytest.fixture(params=CASES, ids=str)
def broken(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """KUBECONFIG pointing at a server that fails one way; yields the case."""
    case = request.param
    server = None
    if case == "dead-port":
        url = f"http://127.0.0.1:{dead_port()}"
    else:
        server = BrokenAPI(case, tmp_path)
        url = server.url
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, namespace=NS)
    for var in [v for v in os.environ if v.startswith(("DASK_KUBERNETES__", "DASK_KUBEFLOW_", "NB_PREFIX", "KUBERNETES_SERVICE"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("DASK_KUBEFLOW_NAMESPACE_FILE", "/nonexistent")
    # Small only where it is waited for (the hung server); generous elsewhere (a busy machine).
    monkeypatch.setenv("DASK_KUBEFLOW_API_TIMEOUT", "1" if case == "hang" else "30")
    try:
        yield case
    finally:
        if server is not None:
            server.close()


def test_connect_raises_a_connect_error_with_problem_and_fix(broken: object) -> None:
    kind, problem, fix = EXPECTED[broken]
    with pytest.raises(ConnectError) as info:
        dask_kubeflow.connect(timeout=5)  # namespace from the kubeconfig's context
    err = info.value
    assert isinstance(err, kind), repr(err)
    assert problem in err.problem and fix in err.fix


@pytest.mark.parametrize("command", ["connect", "status"])
def test_connect_and_status_print_two_lines_and_exit_1(broken: object, command: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, problem, fix = EXPECTED[broken]
    result = invoke(monkeypatch, command, "--timeout", "5")  # exceptions propagate: a traceback fails the test
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    if broken == 403 and command == "status":  # status asks discovery first: the 403 is on that request
        problem, fix = "answered HTTP 403", "kubectl auth can-i"
    assert lines[0].startswith("error: ") and problem in lines[0]
    assert lines[1].strip().startswith("fix:") and fix in lines[1]


def test_doctor_fails_the_api_check_with_its_fix(broken: object, monkeypatch: pytest.MonkeyPatch) -> None:
    _, problem, fix = EXPECTED[broken]
    if broken == 403:  # doctor asks discovery first: the 403 is on that request
        problem, fix = "answered HTTP 403", "kubectl auth can-i"
    for console in (cluster_cmd.console, cluster_cmd.err_console):  # narrow: one line per check
        monkeypatch.setattr(console, "_width", 100)
    result = CliRunner().invoke(app, ["doctor", "--timeout", "5"], catch_exceptions=False)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("✗ fail  Kubernetes API reachable:")]
    assert failed, result.stdout
    assert problem in lines[failed[0]] and lines[failed[0] + 1].strip().startswith("fix:")
    assert fix in lines[failed[0] + 1]
    assert "1 check(s) failed" in result.stderr


def test_doctor_json_fails_the_api_check_with_its_fix(broken: object) -> None:
    """``doctor -o json``: the same failing check, as a document on stdout, and exit 1."""
    import json

    _, problem, fix = EXPECTED[broken]
    if broken == 403:
        problem, fix = "answered HTTP 403", "kubectl auth can-i"
    result = CliRunner().invoke(app, ["doctor", "--timeout", "5", "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 1, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["passed"] is False and document["namespace"] == NS
    check = next(c for c in document["checks"] if c["name"] == "Kubernetes API reachable")
    assert check["result"] == "fail" and problem in check["detail"] and fix in check["fix"]


def test_the_console_script_shows_no_traceback(tmp_path: Path) -> None:
    """The installed ``dask-kubeflow`` itself, against a dead port and a corrupt kubeconfig."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "NB_PREFIX", "KUBERNETES_SERVICE"))}
    env.update(HOME=str(tmp_path), DASK_KUBEFLOW_NAMESPACE_FILE="/nonexistent", DASK_KUBEFLOW_API_TIMEOUT="2")
    corrupt = tmp_path / "corrupt"
    corrupt.write_text("apiVersion: v1\nkind: Config\n")  # no contexts, no current-context
    dead = write_kubeconfig(tmp_path / "dead", f"http://127.0.0.1:{dead_port()}", namespace=NS)
    script = str(Path(sys.executable).parent / "dask-kubeflow")
    for kubeconfig, expected in ((dead, "cannot reach the Kubernetes API"),
                                 (corrupt, "cannot use the Kubernetes credentials")):
        for command in ("connect", "status"):
            run = subprocess.run([script, command, "-n", NS, "--timeout", "5"], env={**env, "KUBECONFIG": str(kubeconfig)},
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode == 1, run.stderr
            assert "Traceback" not in run.stderr and expected in run.stderr, run.stderr
            assert len(run.stderr.strip().splitlines()) <= 3, run.stderr


def test_connect_local_false_without_kubernetes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DASK_KUBEFLOW_NAMESPACE_FILE", "/nonexistent")
    for var in [v for v in os.environ if v.startswith(("DASK_KUBERNETES__", "NB_PREFIX", "KUBERNETES_SERVICE"))]:
        monkeypatch.delenv(var)
    with pytest.raises(NoKubernetesError) as info:
        dask_kubeflow.connect(local=False)
    assert "found no Kubernetes cluster" in info.value.problem and "local=False" in info.value.fix


def _cli(args: list[str], env_update: dict[str, str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "NB_PREFIX", "KUBERNETES_SERVICE", "KUBECONFIG"))}
    env.update(HOME=str(tmp_path), DASK_KUBEFLOW_NAMESPACE_FILE="/nonexistent", DASK_KUBEFLOW_API_TIMEOUT="2",
               **env_update)
    return subprocess.run([str(Path(sys.executable).parent / "dask-kubeflow"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_gateway_controller_and_demo_show_no_traceback(tmp_path: Path) -> None:
    """The server commands check their credentials before they start; the demo says why it cannot connect."""
    from tests.gateway.dask_processes import free_port

    dead = write_kubeconfig(tmp_path / "dead", f"http://127.0.0.1:{dead_port()}", namespace=NS)
    cases = [
        (["gateway", "--kubeconfig", str(tmp_path / "nonexistent"), "--port", str(free_port())], {},
         f"kubeconfig {tmp_path / 'nonexistent'} does not exist"),
        (["gateway", "--port", str(free_port())], {"KUBECONFIG": str(dead)}, "cannot reach the Kubernetes API"),
        (["controller", "--metrics-port", "0", "--liveness", ""], {"KUBECONFIG": str(dead)},
         "cannot reach the Kubernetes API"),
        (["demo", "--no-local"], {"KUBECONFIG": str(tmp_path / "missing")}, "found no Kubernetes cluster"),
        (["demo"], {"KUBECONFIG": str(dead)}, "cannot reach the Kubernetes API"),  # namespace from the context
    ]
    for args, env, expected in cases:
        run = _cli(args, env, tmp_path)
        assert run.returncode == 1, (args, run.stdout[-1500:], run.stderr[-1500:])
        assert "Traceback" not in run.stderr + run.stdout, (args, run.stderr[-3000:])
        assert expected in run.stderr, (args, run.stderr)
        assert "fix:" in run.stderr and len(run.stderr.strip().splitlines()) <= 3, (args, run.stderr)


def test_demo_in_a_namespace_without_a_cluster(tmp_path: Path) -> None:
    from tests.harness.emulator import Emulator

    with Emulator(kubeconfig=tmp_path / "kubeconfig") as emu:  # context namespace "default": no DaskCluster
        run = _cli(["demo"], {"KUBECONFIG": str(emu.kubeconfig)}, tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "no Dask cluster named 'dask-cluster' in namespace 'default'" in run.stderr and "fix:" in run.stderr


def test_version_option(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, "--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"dask-kubeflow {dask_kubeflow.__version__}"


def test_server_commands_without_the_platform_packages(tmp_path: Path) -> None:
    from tests.client.platform_blocker import blocked_python

    code = "import sys\nfrom dask_kubeflow.cli import main\nsys.argv = ['dask-kubeflow', *sys.argv[1:]]\nmain()\n"
    for command in (["gateway", "--port", "18099"], ["controller", "--metrics-port", "0"]):
        run = blocked_python(code, *command, env={**os.environ, "HOME": str(tmp_path)})
        assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
        assert "needs the platform packages" in run.stderr and "pip install 'dask-kubeflow[platform]'" in run.stderr
