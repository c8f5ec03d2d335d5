"""``pip install dask-kubeflow`` is what a notebook needs; ``[platform]`` adds the controller and gateway.

Nothing is installed here: the platform packages are blocked in a fresh interpreter by a meta-path
finder (``platform_blocker.py``), and the notebook's paths (connect(), the CLI, status, doctor, the
embedded cluster) must work without them. (pip would still bring kopf and aiohttp, jinja2 and
cachetools along as dependencies of dask-kubernetes, distributed and kr8s: what matters is that
dask-kubeflow's own notebook code never needs them, so they can leave as soon as those do.)
"""

from __future__ import annotations

import ast
import os
import tomllib
from pathlib import Path

from tests.client.platform_blocker import PLATFORM_MODULES, blocked_python

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "dask_kubeflow"
PLATFORM_DISTRIBUTIONS = {"kopf", "aiohttp", "prometheus-client", "jinja2", "cachetools"}
PLATFORM_CODE = ("controller/", "gateway/", "cli/controller_cmd.py", "cli/gateway_cmd.py")


def _requirement_names(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].split(";")[0].strip().lower() for r in requirements}


def _platform_importers() -> dict[str, set[str]]:
    """Module path -> the platform packages it imports (anywhere in the file)."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        if hit := names & set(PLATFORM_MODULES) | names & {"cachetools"}:
            found[str(path.relative_to(SRC))] = hit
    return found


def test_dependencies_are_the_notebooks_and_the_platform_extra_the_servers():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not _requirement_names(project["dependencies"]) & PLATFORM_DISTRIBUTIONS
    extras = project["optional-dependencies"]
    assert _requirement_names(extras["platform"]) == PLATFORM_DISTRIBUTIONS
    assert "dask-kubeflow[platform]" in extras["test"] and "dask-labextension" in _requirement_names(extras["test"])
    # Only the controller and the gateway (and their commands) import the platform's packages.
    outside = {m: p for m, p in _platform_importers().items() if not m.startswith(PLATFORM_CODE)}
    assert outside == {}


LIGHT_PATHS = """
import sys
import dask_kubeflow, dask_kubeflow.cli
from dask_kubeflow.client import connect, kubernetes, direct, probe, cluster_api, doctor, labextension
from dask_kubeflow.cli import app
from typer.testing import CliRunner
for args in (["--help"], ["connect", "--help"], ["status", "--help"], ["doctor"], ["--version"]):
    result = CliRunner().invoke(app, args)
    print("CLI", " ".join(args), "exit", result.exit_code, type(result.exception).__name__ if result.exception
          and not isinstance(result.exception, SystemExit) else "")
client = connect(local=True, layout="threads")
print("RESULT", client.submit(sum, [1, 2, 3]).result())
client.close()
print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in ("kopf", "aiohttp", "prometheus_client")))
"""


def test_notebook_paths_work_without_the_platform_packages(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_KUBERNETES__", "DASK_KUBEFLOW_", "KUBE"))}
    env.update(KUBECONFIG=str(tmp_path / "missing"), HOME=str(tmp_path), DASK_KUBEFLOW_NAMESPACE_FILE="/nonexistent")
    run = blocked_python(LIGHT_PATHS, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    for args in ("--help", "connect --help", "status --help", "--version"):
        assert f"CLI {args} exit 0 \n" in out, out
    assert "CLI doctor exit 1 \n" in out  # no Kubernetes here: failing checks, no exception
    assert "RESULT 6" in out and "LOADED []" in out


def test_the_blocker_really_blocks():
    run = blocked_python("import kopf")
    assert run.returncode == 1 and "blocked: not in the light install" in run.stderr


def test_the_servers_credential_check_does_not_load_distributed():
    """``controller`` and ``gateway`` check their credentials with client.cluster_api before they start:
    that must not import distributed (their memory stays down)."""
    run = blocked_python("import sys\nfrom dask_kubeflow.client.cluster_api import check_api\n"
                         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'distributed'))\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
