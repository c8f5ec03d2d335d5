"""The embedded cluster: a LocalCluster shaped like the platform's default tier, fitted to this machine.

On a laptop or in CI there is no ``dask-cluster`` to connect to, so ``connect()`` starts one here with
the same worker layout (threads per worker, worker processes, memory per worker) as the policy, as far
as the machine allows. The Client owns the cluster: closing the Client stops every process it started.
"""

from __future__ import annotations

import math
import multiprocessing.process
import sys
from dataclasses import dataclass
from typing import Literal

import dask
import dask.system
from dask.utils import format_bytes
from distributed import Client
from distributed.system import MEMORY_LIMIT

from .. import single_threaded
from ..policy import ClusterShape
from .errors import MainGuardError

Layout = Literal["policy", "processes", "threads"]
LAYOUTS: tuple[Layout, ...] = ("policy", "processes", "threads")

# Leave room for the scheduler, the client and the OS when sharing out the machine's memory.
_MEMORY_SHARE = 0.8


@dataclass(frozen=True)
class LocalLayout:
    """How many worker processes, threads each and memory each the embedded cluster gets."""

    n_workers: int
    threads_per_worker: int
    memory_limit: int  # bytes per worker process
    why: str

    def describe(self) -> str:
        return (
            f"{self.n_workers} worker(s) × {self.threads_per_worker} thread(s), "
            f"{format_bytes(self.memory_limit)} each ({self.why})"
        )


def machine_cores() -> int:
    """Cores this process may use: CPU affinity and the container's cgroup CPU quota, as Dask counts
    them (``dask.system.CPU_COUNT``; ``os.cpu_count()`` and psutil see the whole host)."""
    return max(1, int(dask.system.CPU_COUNT or 1))


def machine_memory() -> int:
    """Bytes this process may use: the cgroup memory limit of the container (a notebook pod's
    ``limits.memory``) or the host's, whichever is smaller (``distributed.system.MEMORY_LIMIT``)."""
    return int(MEMORY_LIMIT)


def fit_layout(
    shape: ClusterShape,
    layout: Layout = "policy",
    *,
    cores: int | None = None,
    memory: int | None = None,
) -> LocalLayout:
    """Fit the policy's worker shape to a machine with ``cores`` and ``memory`` bytes.

    ``policy`` keeps the tier's threads and processes per pod and runs as many pods as whole
    pod-sized slices of the machine allow (at least one, at most the tier's maximum).
    ``processes`` runs one single-threaded worker per core: the layout that wins for GIL-bound
    pure-Python work (see benchmarks/README.md). ``threads`` runs one worker with a thread per
    core: best for NumPy/pandas work that releases the GIL.
    """
    cores = cores or machine_cores()
    memory = memory or machine_memory()
    worker = shape.settings.worker
    maximum_processes = shape.settings.scaling.maximum * worker.processes

    if layout == "processes":
        n_workers, threads = min(cores, maximum_processes), 1
        why = "one single-threaded process per core, for GIL-bound work"
    elif layout == "threads":
        n_workers, threads = 1, cores
        why = "one process with a thread per core, for GIL-releasing work"
    elif layout == "policy":
        pods = max(1, min(shape.settings.scaling.maximum, math.floor(cores / max(shape.worker_cores, 1e-9))))
        n_workers, threads = pods * worker.processes, worker.threads
        why = f"tier {shape.tier!r}: {worker.threads} thread(s) × {worker.processes} process(es) per worker pod"
    else:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")

    machine_share = int(memory * _MEMORY_SHARE / n_workers)
    memory_limit = min(shape.worker_memory_limit_per_process, machine_share)
    return LocalLayout(n_workers=n_workers, threads_per_worker=threads, memory_limit=memory_limit, why=why)


def start_local(fitted: LocalLayout, *, wait_for_workers: int = 0) -> Client:
    """Start the embedded cluster ``fit_layout`` sized; the Client owns it (closing it stops the cluster)."""
    # Client() with no address starts its own LocalCluster from these keywords and closes it on close.
    # Single-threaded workers: one queued task each, and quieter background callbacks (the nannies and
    # workers take dask's config with them when they start).
    tuned = single_threaded.embedded() if fitted.threads_per_worker == 1 else {}
    refuse_bootstrap_phase()
    with dask.config.set(tuned):
        try:
            client = Client(
                n_workers=fitted.n_workers,
                threads_per_worker=fitted.threads_per_worker,
                memory_limit=fitted.memory_limit,
                processes=True,
                dashboard_address=":0",
                set_as_default=True,
            )
        except RuntimeError as err:
            if "bootstrapping phase" in str(err) or ("failed to start" in str(err) and _called_at_script_level()):
                raise MainGuardError(_script()) from None
            raise
    if wait_for_workers:
        client.wait_for_workers(min(wait_for_workers, fitted.n_workers))
    return client


def _script() -> str | None:
    main = sys.modules.get("__main__")
    return getattr(main, "__file__", None)


def _called_at_script_level() -> bool:
    """Whether connect() was called from the top level of the ``__main__`` script (where a missing
    ``if __name__ == "__main__":`` guard makes every worker process run it again)."""
    script = _script()
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_code.co_filename == script:
            return True
        frame = frame.f_back
    return False


def refuse_bootstrap_phase() -> None:
    """In a worker process that multiprocessing is still starting (``spawn`` re-running a script
    without a ``__main__`` guard) starting a cluster can only fail: exit quietly; the parent's
    ``connect()`` raises the MainGuardError that says what to change."""
    if getattr(multiprocessing.process.current_process(), "_inheriting", False):
        raise SystemExit(1)
