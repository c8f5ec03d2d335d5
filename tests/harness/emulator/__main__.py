"""`python -m tests.harness.emulator --kubeconfig PATH [--port N]`: serve until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .service import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.emulator",
                                     description="Serve the Kubernetes API emulator and write a kubeconfig for it.")
    parser.add_argument("--kubeconfig", required=True, type=Path, help="where to write the kubeconfig")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--crd", action="append", type=Path, default=None,
                        help="CRD YAML file to register (repeatable; default: dask-kubernetes + Kubeflow CRDs)")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with Emulator(crds=args.crd, port=args.port, kubeconfig=args.kubeconfig) as emulator:
        print(f"Kubernetes API emulator serving {emulator.url}; kubeconfig written to {emulator.kubeconfig}",
              flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
