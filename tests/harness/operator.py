"""The real upstream Dask Kubernetes operator (`kopf run -m dask_kubernetes.operator.controller`),
run as a subprocess against the emulator, as its Helm chart runs it in a cluster.

It gets the pod runner's cluster DNS (like a pod of the cluster, it reaches schedulers by
`<cluster>-scheduler.<namespace>`), a kopf liveness endpoint that tells when it is up, and a log
file that the fixtures show when a test fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .podrunner.processes import stop_process

OPERATOR_MODULE = "dask_kubernetes.operator.controller"
BACKPORTS_MODULE = "tests.harness.operator_backports"  # see that module: upstream #968 / #977
COOLDOWN_MODULE = "tests.harness.operator_cooldown"  # see that module: the autoscaler's 15 s cooldown
# The harness's autoscaler cooldown (upstream: 15 s). One tick of the upstream's 5 s autoscaler timer:
# every tick may take one scale step. DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN overrides it for a run
# (`upstream` = the upstream's own 15 s, without the harness module).
COOLDOWN_ENV = "DASK_KUBEFLOW_HARNESS_AUTOSCALER_COOLDOWN"
HARNESS_AUTOSCALER_COOLDOWN = 5.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_autoscaler_cooldown() -> float | None:
    """The run's autoscaler cooldown in seconds, None for the upstream's own (see COOLDOWN_ENV)."""
    chosen = os.environ.get(COOLDOWN_ENV, "").strip()
    if not chosen:
        return HARNESS_AUTOSCALER_COOLDOWN
    if chosen == "upstream":
        return None
    try:
        return float(chosen)
    except ValueError:
        raise ValueError(f"{COOLDOWN_ENV}={chosen!r} is neither a number of seconds nor 'upstream'") from None


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UpstreamOperator:
    """One running `kopf run` process of the dask-kubernetes operator; `stop()` ends it and its children.

    `autoscaler_cooldown`: seconds between the DaskAutoscaler's scale steps (the harness default, see
    `default_autoscaler_cooldown`); None runs the upstream's hard-coded 15 s (no harness module)."""

    def __init__(
        self,
        kubeconfig: str | Path,
        log_path: str | Path,
        extra_env: Mapping[str, str] | None = None,
        *,
        backports: bool = True,
        autoscaler_cooldown: float | None | str = "default",
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.backports = backports
        self.autoscaler_cooldown = (
            default_autoscaler_cooldown() if autoscaler_cooldown == "default" else autoscaler_cooldown
        )
        self.log_path = Path(log_path)
        self.extra_env = dict(extra_env or {})
        self.liveness_url = f"http://127.0.0.1:{_free_loopback_port()}/healthz"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the operator was not started"
        return self.process.pid

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "kopf", "run",
            "-m", OPERATOR_MODULE,
            *(["-m", BACKPORTS_MODULE] if self.backports else []),
            *(["-m", COOLDOWN_MODULE] if self.autoscaler_cooldown is not None else []),
            "--all-namespaces",
            "--standalone",
            f"--liveness={self.liveness_url}",
        ]

    def start(self, timeout: float = 60.0) -> UpstreamOperator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "KUBECONFIG", "PYTHONPATH"))}
        env.update(KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
        if self.autoscaler_cooldown is not None:
            env[COOLDOWN_ENV] = str(self.autoscaler_cooldown)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO_ROOT)) if p)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- starting the upstream operator: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the upstream dask-kubernetes operator exited with code {self.process.returncode} "
                    f"before it was up; its log:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.liveness_url, timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"the upstream dask-kubernetes operator did not answer its liveness probe {self.liveness_url} "
            f"within {timeout:.0f}s; its log:\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace_seconds=10.0)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> UpstreamOperator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["BACKPORTS_MODULE", "COOLDOWN_MODULE", "OPERATOR_MODULE", "UpstreamOperator", "default_autoscaler_cooldown"]
