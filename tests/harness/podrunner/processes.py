"""Start and stop the local process of one container, owning its whole process tree.

Each container process leads its own session (process group), so a Dask worker's nanny and the
worker it spawns are stopped together: SIGTERM to the group, a grace period, then SIGKILL to the
group and to any descendant that left it. Stopping waits until every process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil


def start_process(argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- local pod runner: starting {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (empty when `pid` is gone)."""
    try:
        proc = psutil.Process(pid)
        return [pid, *(child.pid for child in proc.children(recursive=True))]
    except psutil.Error:
        return []


def is_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process(popen: subprocess.Popen[bytes], grace_seconds: float) -> int | None:
    """Stop the process group of `popen` (SIGTERM, then SIGKILL after `grace_seconds`); return its exit code."""
    tree = [psutil.Process(pid) for pid in process_tree(popen.pid) if _exists(pid)]
    if popen.poll() is None:
        _signal_group(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if popen.poll() is not None and not any(_running(p) for p in tree):
            break
        time.sleep(0.05)
    else:
        _signal_group(popen.pid, signal.SIGKILL)
        for proc in tree:
            if _running(proc):
                try:
                    proc.kill()
                except psutil.Error:
                    pass
    code = popen.wait()
    deadline = time.monotonic() + 10
    while any(_running(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    return code


def _exists(pid: int) -> bool:
    try:
        psutil.Process(pid)
        return True
    except psutil.Error:
        return False


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
