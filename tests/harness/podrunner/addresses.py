"""Loopback addresses for pods: each runner owns one 127.N.0.0/16 block for its lifetime.

Linux routes all of 127.0.0.0/8 to the loopback interface, so every pod can have its own address
and listen on the standard Dask ports. Several test sessions may run at once on one machine, so a
runner takes an exclusive lock file per block; addresses are never reused within a runner (no
clashes with sockets of a deleted pod still in TIME_WAIT).
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path
from typing import IO

LOCK_DIR = Path(tempfile.gettempdir()) / "dask-kubeflow-podnet"
FIRST_BLOCK, LAST_BLOCK = 16, 250  # second octet; 127.0.x.x and 127.255.x.x stay untouched


class LoopbackBlock:
    """Hands out 127.N.x.y addresses from a block no other runner on this machine holds."""

    def __init__(self, lock_dir: Path = LOCK_DIR) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        candidates = list(range(FIRST_BLOCK, LAST_BLOCK + 1))
        random.shuffle(candidates)
        for octet in candidates:
            fh: IO[str] = open(lock_dir / f"127.{octet}.lock", "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            fh.write(str(os.getpid()))
            fh.flush()
            self.octet = octet
            self._lock = fh
            self._next = 1
            return
        raise RuntimeError(
            f"every loopback block 127.{FIRST_BLOCK}-{LAST_BLOCK}.0.0/16 is held by another pod runner "
            f"(lock files in {lock_dir}); stop the other test sessions or remove stale locks"
        )

    def allocate(self) -> str:
        n = self._next
        self._next += 1
        third, fourth = divmod(n, 254)
        if third > 255:
            raise RuntimeError(f"loopback block 127.{self.octet}.0.0/16 is exhausted")
        return f"127.{self.octet}.{third}.{fourth + 1}"

    def close(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
