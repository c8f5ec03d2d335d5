"""A real Dask scheduler (with the dashboard prefix the render uses) and one worker, as processes
the test session owns: started by PID, stopped in teardown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from dask_kubeflow.kube.names import BOKEH_WEBSOCKET_ORIGINS_VALUE, ENV_BOKEH_WEBSOCKET_ORIGINS

DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalDask:
    namespace: str
    cluster: str
    scheduler_port: int
    dashboard_port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"/dask/{self.namespace}/{self.cluster}"

    @property
    def dashboard_base(self) -> str:
        """What the gateway's upstream resolver returns for this cluster."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.scheduler_port}"

    def counts(self) -> dict:
        url = f"{self.dashboard_base}{self.prefix}/json/counts.json"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for(condition, what: str, processes: list[subprocess.Popen], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[:2]} exited with {process.returncode} while waiting for {what}")
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"gave up after {deadline:.0f} s waiting for {what}")


def start_local_dask(namespace: str, cluster: str, *, workers: int = 1, log_dir: Path | None = None) -> LocalDask:
    """Start ``dask scheduler --dashboard-prefix /dask/<ns>/<cluster>`` and ``workers`` workers."""
    dask = LocalDask(namespace, cluster, free_port(), free_port())
    # As render configures schedulers: Bokeh accepts websockets only with the gateway's Origin.
    env = {**os.environ, ENV_BOKEH_WEBSOCKET_ORIGINS: BOKEH_WEBSOCKET_ORIGINS_VALUE}

    def output(name: str):
        if log_dir is None:
            return subprocess.DEVNULL
        log_dir.mkdir(parents=True, exist_ok=True)
        return open(log_dir / f"{cluster}-{name}.log", "wb")

    dask.processes.append(
        subprocess.Popen(
            [
                DASK, "scheduler",
                "--host", "127.0.0.1",
                "--port", str(dask.scheduler_port),
                "--dashboard-address", f"127.0.0.1:{dask.dashboard_port}",
                "--dashboard-prefix", dask.prefix,
            ],
            stdout=output("scheduler"), stderr=subprocess.STDOUT, env=env,
        )
    )
    try:
        _wait_for(lambda: dask.counts() is not None, "the scheduler's dashboard", dask.processes)
        for i in range(workers):
            dask.processes.append(
                subprocess.Popen(
                    [
                        DASK, "worker", dask.address,
                        "--nthreads", "1",
                        "--memory-limit", "512MiB",
                        "--no-dashboard",
                        "--name", f"worker-{i}",
                    ],
                    stdout=output(f"worker-{i}"), stderr=subprocess.STDOUT, env=env,
                )
            )
        _wait_for(lambda: dask.counts()["workers"] == workers, f"{workers} worker(s)", dask.processes)
    except BaseException:
        dask.stop()
        raise
    return dask
