"""The Dockerfile: what it copies is enough to build the package, and it runs as the pods expect.

No Docker here: the build stage's step (``pip wheel .`` over exactly the COPY'd files) is run on
a copy of those files, and the wheel is checked for what the controller and scheduler need.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_build_stage_copies_enough_to_build_a_complete_wheel(tmp_path):
    copied = [p for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE)
              for p in line.split()[:-1]]
    assert copied == ["pyproject.toml", "README.md", "src"]
    context = tmp_path / "context"
    context.mkdir()
    for name in copied:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, context / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path / "wheels"), str(context)], check=True, capture_output=True)
    [wheel] = (tmp_path / "wheels").glob("dask_kubeflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        # render inlines this file's text into every DaskCluster: it must ship.
        assert "dask_kubeflow/render/scheduler_preload.py" in names
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "dask-kubeflow = dask_kubeflow.cli:main" in archive.read(entry_points).decode()


def test_runs_the_cli_as_a_numeric_non_root_user():
    assert re.search(r'^ENTRYPOINT \["dask-kubeflow"\]$', DOCKERFILE, re.MULTILINE)
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user and user[-1].isdigit() and int(user[-1]) != 0  # runAsNonRoot needs a numeric UID


def test_python_version_is_one_the_package_supports():
    versions = set(re.findall(r"^FROM python:(\d+\.\d+)", DOCKERFILE, re.MULTILINE))
    assert versions == {"3.12"}
    requires = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (REPO / "pyproject.toml").read_text())
    assert requires and (3, 12) >= (int(requires[1]), int(requires[2]))
