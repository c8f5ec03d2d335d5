"""From a ``Measurement`` to a worker layout for a tier, and the policy snippet that sets it. Pure.

The GIL share comes from the probe (see ``measure``): a thread that needs the GIL for a moment at
a time runs its usual share beside a function that leaves the GIL free, and almost never beside
one that holds it, so the held share is ``1 - probe / probe_alone``.

The timings say what that means on this machine: N threads and N processes against serial. They
also give a second estimate by Amdahl's law (N processes show this machine's parallel capacity
``c`` for the function; if a share ``g`` holds the GIL, threads reach ``1 / (g + (1 - g) / c)``),
reported when the two disagree badly (on a busy machine the timings are the less reliable). A
function that mostly waits (I/O, sleeps, network) releases the GIL while it waits: threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..policy import DEFAULT_TIER, ClusterShape
from .measure import Measurement

GIL_BOUND = 0.5  # at least half the time holds the GIL: one thread per process
GIL_FREE = 0.2  # at most a fifth: threads
MIN_CAPACITY = 1.25  # N processes must beat serial by this much for the timings to mean anything
WAITING = 0.5  # CPU time under half the wall time: mostly waiting
SMALL_ITEM_S = 0.005  # per-item work under ~5 ms is dominated by per-task overhead (~1 ms in Dask)


def gil_share(m: Measurement) -> float:
    """Estimated share of the function's time that holds the GIL, from the probe."""
    return min(1.0, max(0.0, 1.0 - m.probe / max(m.probe_alone, 1e-9)))


def gil_share_from_timings(m: Measurement) -> float | None:
    """The Amdahl estimate from the timings; None when N processes were not faster than one."""
    capacity = float(m.workers) if m.cpu_share < WAITING else m.processes_speedup
    if capacity is None or capacity < MIN_CAPACITY:
        return None
    return min(1.0, max(0.0, (capacity / m.threads_speedup - 1) / (capacity - 1)))


@dataclass(frozen=True)
class Advice:
    measurement: Measurement
    gil_share: float
    kind: str  # "GIL-bound", "GIL-releasing", "waiting", "mixed"
    threads: int  # per worker process
    processes: int  # per worker pod
    tier: str
    cores: float  # of one worker pod in that tier
    reasons: list[str] = field(default_factory=list)

    @property
    def snippet(self) -> str:
        return policy_snippet(self.tier, self.threads, self.processes)

    def __str__(self) -> str:
        return report(self)


def _layout(kind: str, cores: int) -> tuple[int, int]:
    """(threads per process, processes per pod) for a pod of ``cores`` cores."""
    if kind == "GIL-bound":
        return 1, cores
    if kind == "waiting":
        return max(4, 2 * cores), 1  # waits overlap: more threads than cores pay off
    if kind == "GIL-releasing":
        return cores, 1
    processes = max(1, cores // 2)  # mixed: a few processes, a few threads each
    return max(1, cores // processes), processes


def _kind(m: Measurement, share: float) -> str:
    if share >= GIL_BOUND:
        return "GIL-bound"
    if m.cpu_share < WAITING:
        return "waiting"
    return "GIL-releasing" if share <= GIL_FREE else "mixed"


def recommend(m: Measurement, shape: ClusterShape) -> Advice:
    share = gil_share(m)
    kind = _kind(m, share)
    cores = max(1, round(shape.worker_cores))
    threads, processes = _layout(kind, cores)
    reasons = [_why(kind, m, share)]
    timed = gil_share_from_timings(m)
    if share is not None and timed is not None and abs(timed - share) > 0.4:
        reasons.append(f"the timings alone suggest ~{timed:.0%}: the machine was probably busy; run it again")
    if m.cpu_wait > 0.3:
        reasons.append(f"this machine was busy: the serial pass spent {m.cpu_wait:.0%} of its time waiting for a CPU")
    if m.seconds_per_item < SMALL_ITEM_S:
        reasons.append(f"each item takes {m.seconds_per_item * 1000:.1f} ms: Dask adds ~1 ms per task, so give each "
                       f"task a batch of items (e.g. a file, not a line)")
    if m.processes_s is None:
        reasons.append(f"the process pass could not run ({m.processes_error}); processes were not measured")
    if processes > 1:
        per_process = shape.worker_memory_bytes // processes
        reasons.append(f"{processes} processes share the pod's memory: {per_process / 2**30:.1f} GiB each")
    return Advice(m, share, kind, threads, processes, shape.tier, shape.worker_cores, reasons)


def _why(kind: str, m: Measurement, share: float) -> str:
    figures = f"{m.workers} threads {m.threads_speedup:.2f}×"
    if m.processes_speedup is not None:
        figures += f", {m.workers} processes {m.processes_speedup:.2f}×"
    figures += f" vs serial; busy on a CPU {m.cpu_share:.0%} of the time"
    held = f"~{share:.0%} of its time holds the GIL"
    return {
        "GIL-bound": f"{held} ({figures}): threads take turns, separate processes run in parallel",
        "GIL-releasing": f"{held} ({figures}): threads run in parallel and share memory; processes add copies",
        "mixed": f"{held} ({figures}): part of it runs in parallel in threads, part needs processes",
        "waiting": f"{held}; it mostly waits ({figures}): waiting releases the GIL, so threads overlap the waits",
    }[kind]


def policy_snippet(tier: str, threads: int, processes: int) -> str:
    """The policy YAML an admin adds (threads and processes keys only; the rest stays as it is)."""
    worker = f"worker:\n      threads: {threads}\n      processes: {processes}"
    if tier == DEFAULT_TIER:
        return "defaults:\n  " + worker.replace("\n    ", "\n  ")
    return f"tiers:\n  - name: {tier}\n    # match: ... (keep the tier's match and other keys)\n    {worker}"


def report(advice: Advice) -> str:
    m = advice.measurement
    lines = [
        f"Measured {m.items} item(s): serial {m.serial_s:.2f} s, {m.workers} threads {m.threads_s:.2f} s"
        + (f", {m.workers} processes {m.processes_s:.2f} s" if m.processes_s is not None else ""),
        f"Verdict: {advice.kind}. " + " ".join(r[:1].upper() + r[1:] + "." for r in advice.reasons),
        f"Recommended for tier {advice.tier!r} ({advice.cores:g} cores per worker pod): "
        f"{advice.threads} thread(s) per process × {advice.processes} process(es) per pod",
        "Policy snippet:",
        advice.snippet,
    ]
    return "\n".join(lines)
