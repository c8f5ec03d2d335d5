"""What the pod runner knows about the pods it runs: the processes it started, per container and pod."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .commands import LocalCommand
from .processes import process_tree
from .status import ContainerView


@dataclass(frozen=True)
class PodProcess:
    """One container process the runner started (the PID of the container's main process)."""

    namespace: str
    pod: str
    container: str
    pid: int
    pod_ip: str
    argv: tuple[str, ...]
    labels: Mapping[str, str]
    log_path: Path

    def tree(self) -> list[int]:
        """The PID and its live descendants (a Dask worker's nanny spawns the worker)."""
        return process_tree(self.pid)


@dataclass
class ContainerRun:
    """One container of an admitted pod: its command, its current process, restart bookkeeping."""

    spec: dict[str, Any]
    command: LocalCommand | None
    env: dict[str, str]
    log_path: Path
    error: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    started_at: float | None = None
    restart_count: int = 0
    exit_code: int | None = None
    finished_at: float | None = None
    next_start: float = 0.0
    backoff: float = 0.0
    ready: bool = False
    done: bool = False
    probe_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return str(self.spec.get("name", "?"))

    def view(self) -> ContainerView:
        image = str(self.spec.get("image", ""))
        if self.error:
            return ContainerView(self.name, image, "waiting", False, 0, reason="RunContainerError", message=self.error)
        if self.popen is not None and self.popen.poll() is None:
            return ContainerView(
                self.name, image, "running", self.ready, self.restart_count, started_at=self.started_at, pid=self.popen.pid
            )
        if self.done:
            return ContainerView(
                self.name, image, "terminated", False, self.restart_count,
                exit_code=self.exit_code, finished_at=self.finished_at,
                reason="Completed" if self.exit_code == 0 else "Error",
            )
        if self.exit_code is not None:
            return ContainerView(
                self.name, image, "waiting", False, self.restart_count, reason="CrashLoopBackOff",
                message=f"back-off restarting: exited with code {self.exit_code}; log {self.log_path}",
            )
        return ContainerView(self.name, image, "waiting", False, self.restart_count, reason="ContainerCreating")


@dataclass
class PodRun:
    """One admitted pod: its address, its containers, the times its conditions last changed."""

    namespace: str
    name: str
    uid: str
    ip: str
    labels: dict[str, str]
    restart_policy: str
    grace: float
    start_time: float
    containers: list[ContainerRun]
    transitions: dict[str, float] = field(default_factory=dict)
    last_ready: bool | None = None
    stopping: bool = False
