"""`python -m tests.harness.podrunner --kubeconfig PATH [--workdir DIR]`: run pods until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from pathlib import Path

from .runner import PodRunner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True, type=Path, help="kubeconfig of the (emulated) API server")
    parser.add_argument("--workdir", type=Path, default=None, help="pod logs and the cluster DNS table (default: a temp dir)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pod-runner-"))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with PodRunner(args.kubeconfig, workdir) as runner:
        print(f"pod runner running; logs in {workdir}; cluster DNS table {runner.dns_table_path}", flush=True)
        print(f"give another process the cluster DNS with: {runner.dns_environment()}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
