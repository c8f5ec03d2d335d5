"""Do the notebook, the scheduler and the workers run the same software? One table says (pure).

The reports are Dask's own: ``distributed.versions.get_versions`` on each side, fetched together by
``Client.get_versions`` (the same machinery as ``client.get_versions(check=True)``). What this module
adds is the choice of rows — the packages whose mismatch breaks (un)pickling or the wire protocol,
plus those the platform admin lists in the policy (``versions.packages``; the PodDefault passes them
as ``$DASK_KUBEFLOW_VERSION_PACKAGES``) — and one table for the warning, the error and ``doctor``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..kube.names import ENV_VERSION_PACKAGES

__all__ = ["ENV_VERSION_CHECK", "ENV_VERSION_PACKAGES", "PACKAGES", "MODES", "VersionReport", "check_mode", "extra_packages", "version_report"]

ENV_VERSION_CHECK = "DASK_KUBEFLOW_VERSION_CHECK"
PACKAGES = ("python", "dask", "distributed", "numpy", "pandas", "cloudpickle", "msgpack")
MODES = ("warn", "error", "off")
MISSING = "-"


def check_mode(environ: Mapping[str, str] | None = None) -> str:
    """``warn`` (default, as Dask does), ``error`` or ``off``, from ``$DASK_KUBEFLOW_VERSION_CHECK``."""
    value = (os.environ if environ is None else environ).get(ENV_VERSION_CHECK, "warn").strip().lower()
    return value if value in MODES else "warn"


def extra_packages(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The admin's extra packages (comma-separated in ``$DASK_KUBEFLOW_VERSION_PACKAGES``)."""
    raw = (os.environ if environ is None else environ).get(ENV_VERSION_PACKAGES, "")
    return tuple(p.strip() for p in raw.split(",") if p.strip() and p.strip() not in PACKAGES)


@dataclass(frozen=True)
class VersionReport:
    """One row per package: (package, client, scheduler, workers); ``mismatched`` names the rows that differ."""

    rows: tuple[tuple[str, str, str, str], ...]
    mismatched: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatched

    def table(self) -> str:
        from distributed.utils import asciitable

        marked = [(f"{p} ✗" if p in self.mismatched else p, c, s, w) for p, c, s, w in self.rows]
        return asciitable(["package", "client", "scheduler", "workers"], marked)

    def mismatches(self) -> dict[str, tuple[str | None, str | None]]:
        """{package: (client, scheduler)} of the mismatched rows (what the error names and pins)."""
        return {p: (None if c == MISSING else c, None if s == MISSING else s)
                for p, c, s, _ in self.rows if p in self.mismatched}


def _version(report: Mapping[str, Any] | None, package: str) -> str:
    if not isinstance(report, Mapping):
        return MISSING
    if package == "python":
        value = (report.get("packages") or {}).get("python") or (report.get("host") or {}).get("python")
        return ".".join(str(value).split(".")[:3]) if value else MISSING
    return str((report.get("packages") or {}).get(package) or MISSING)


def _comparable(package: str, value: str) -> str:
    # Python: the minor version decides (pickles and bytecode); patch releases interoperate.
    return ".".join(value.split(".")[:2]) if package == "python" and value != MISSING else value


def version_report(versions: Mapping[str, Any], extra: Iterable[str] = ()) -> VersionReport:
    """The table for ``Client.get_versions()``'s answer (``client``, ``scheduler``, ``workers``).

    A package differs when the client, the scheduler or any worker has another version; a package
    missing everywhere is not a mismatch, missing on one side is (``-``). Workers with different
    versions from each other show as ``a | b``.
    """
    workers = list((versions.get("workers") or {}).values())
    rows, mismatched = [], []
    for package in (*PACKAGES, *extra):
        client = _version(versions.get("client"), package)
        scheduler = _version(versions.get("scheduler"), package)
        on_workers = sorted({_version(w, package) for w in workers})
        seen = {_comparable(package, v) for v in (client, scheduler, *on_workers)}
        if len(seen) > 1:
            mismatched.append(package)
        rows.append((package, client, scheduler, " | ".join(on_workers) if on_workers else "(no workers)"))
    return VersionReport(tuple(rows), tuple(mismatched))
