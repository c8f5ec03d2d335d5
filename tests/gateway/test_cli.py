"""``dask-kubeflow gateway`` as users run it: a process serving the real app, logging JSON access lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from .conftest import NAMESPACE, OWNER, STRANGER
from .dask_processes import free_port

CLI = str(Path(sys.executable).with_name("dask-kubeflow"))


def test_bad_flag_is_refused_naming_the_flag():
    from typer.testing import CliRunner

    from dask_kubeflow.cli import app

    result = CliRunner().invoke(app, ["gateway", "--trusted-proxies", "10.0.0.0/33"])
    assert result.exit_code == 1
    assert "--trusted-proxies: '10.0.0.0/33' is not an IP network" in " ".join(result.output.split())


async def test_gateway_command_serves_the_clusters_page(kubeflow_namespace, emulator, tmp_path):
    port = free_port()
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [CLI, "gateway", "--host", "127.0.0.1", "--port", str(port), "--kubeconfig", str(emulator.kubeconfig)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "USERID_PREFIX": "accounts.example:"},
        )
    try:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    async with http.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the gateway did not answer /healthz within 60 s:\n{log.read_text()}")
                await asyncio.sleep(0.2)
            headers = {"kubeflow-userid": f"accounts.example:{OWNER}"}
            async with http.get(f"{url}/dask/", params={"ns": NAMESPACE}, headers=headers) as response:
                assert response.status == 200
                assert 'data-cluster="dask-cluster"' in await response.text()
            async with http.get(f"{url}/dask/", params={"ns": NAMESPACE},
                                headers={"kubeflow-userid": f"accounts.example:{STRANGER}"}) as response:
                assert response.status == 403
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert {(line["user"], line["status"]) for line in lines if line["path"] == "/dask/"} == {
        (OWNER, 200), (STRANGER, 403)
    }
    assert "no --trusted-principal set" in log.read_text()
