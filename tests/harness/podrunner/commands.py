"""What a container runs, turned into a local command line and environment (pure functions).

The local pod runner has no container images: the test venv stands in for every image, so a
container may run only programs installed in it (`dask`, `python`, ...). Legacy Dask entry points
that distributed 2026.8 no longer installs (`dask-scheduler`, `dask-worker`, still emitted by
dask-kubernetes' `make_cluster_spec`) run as `dask scheduler` / `dask worker`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEGACY_DASK_COMMANDS = {"dask-scheduler": "scheduler", "dask-worker": "worker"}
PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")
WILDCARD_HOSTS = {"0.0.0.0", "", "::", "[::]"}
HOST_FLAGS_LEFT_ALONE = ("--interface", "--listen-address", "--contact-address")
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


class UnsupportedContainer(ValueError):
    """The container cannot run locally; the message says why and what would work."""


@dataclass(frozen=True)
class LocalCommand:
    argv: tuple[str, ...]
    role: str | None  # "scheduler" / "worker" for Dask processes, else None


def expand_references(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined variables are replaced, undefined references are kept
    verbatim, `$$` escapes a dollar sign."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, value)


def _field_value(field_path: str, pod: Mapping[str, Any], pod_ip: str) -> str:
    meta = pod.get("metadata", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
    }
    if field_path in simple:
        return simple[field_path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", field_path)
    if match:
        return meta.get(match.group(1), {}).get(match.group(2), "")
    raise UnsupportedContainer(
        f"env fieldRef {field_path!r} is not supported by the local pod runner; use one of "
        f"{sorted(simple)} or metadata.labels['key'] / metadata.annotations['key']"
    )


def container_env(container: Mapping[str, Any], pod: Mapping[str, Any], pod_ip: str) -> dict[str, str]:
    """The variables a container declares, in order, with `$(VAR)` references to earlier ones expanded."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = expand_references(str(item.get("value") or ""), env)
        elif "valueFrom" in item and "fieldRef" in item["valueFrom"]:
            env[name] = _field_value(item["valueFrom"]["fieldRef"]["fieldPath"], pod, pod_ip)
        elif "valueFrom" in item:
            kind = next(iter(item["valueFrom"]), "?")
            raise UnsupportedContainer(
                f"container {container.get('name')!r}: env {name!r} uses valueFrom.{kind}, which the local "
                "pod runner does not resolve; give the value directly or use valueFrom.fieldRef"
            )
        else:
            env[name] = ""
    return env


def _bind_to_pod_address(args: Sequence[str], pod_ip: str) -> list[str]:
    """Make a Dask process listen and advertise on its pod address (`--host 0.0.0.0` would collide
    with every other pod on this machine and advertise an address nobody can reach)."""
    out: list[str] = []
    has_host = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--host" and i + 1 < len(args):
            has_host = True
            value = args[i + 1]
            out += ["--host", pod_ip if value in WILDCARD_HOSTS else value]
            i += 2
            continue
        if arg.startswith("--host="):
            has_host = True
            value = arg.split("=", 1)[1]
            out.append(f"--host={pod_ip if value in WILDCARD_HOSTS else value}")
        else:
            if arg.split("=", 1)[0] in HOST_FLAGS_LEFT_ALONE:
                has_host = True
            out.append(arg)
        i += 1
    if not has_host:
        out += ["--host", pod_ip]
    return out


def local_command(
    container: Mapping[str, Any], env: Mapping[str, str], pod_ip: str, bin_dir: Path
) -> LocalCommand:
    """The argv that runs `container` here: `command` + `args` with `$(VAR)` expanded (the image
    entrypoint is taken to run its arguments, as the Dask images do)."""
    words = [expand_references(str(w), env) for w in (container.get("command") or [])]
    words += [expand_references(str(w), env) for w in (container.get("args") or [])]
    name = container.get("name", "?")
    if not words:
        raise UnsupportedContainer(
            f"container {name!r} has neither command nor args; the local pod runner has no image "
            "entrypoint to fall back on, so give the command explicitly (e.g. args: [dask, scheduler])"
        )
    program = Path(words[0]).name
    rest = words[1:]
    role: str | None = None
    if program in LEGACY_DASK_COMMANDS:
        role = LEGACY_DASK_COMMANDS[program]
        argv = [str(bin_dir / "dask"), role, *rest]
    elif program == "dask":
        role = rest[0] if rest and rest[0] in ("scheduler", "worker") else None
        argv = [str(bin_dir / "dask"), *rest]
    elif PYTHON_NAMES.match(program):
        argv = [str(bin_dir / "python"), *rest]
    elif (bin_dir / program).is_file():
        argv = [str(bin_dir / program), *rest]
    else:
        raise UnsupportedContainer(
            f"container {name!r} runs {words[0]!r}, which is not installed in the test venv "
            f"({bin_dir}); the local pod runner runs only programs from that venv "
            "(dask, dask-scheduler, dask-worker, python, ...)"
        )
    if role is not None:
        head = 2 if program in LEGACY_DASK_COMMANDS or program == "dask" else 1
        argv = argv[:head] + _bind_to_pod_address(argv[head:], pod_ip)
    return LocalCommand(argv=tuple(argv), role=role)
