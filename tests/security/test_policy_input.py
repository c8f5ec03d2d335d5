"""Issue 11 item 9 — bad policy input crashed ``policy check`` or froze it.

Hostile or broken policy files (an admin's typo, a ConfigMap edited by someone with write access to
the install namespace): each must end in the usual clear error (exit 1, "problem(s)", where, what to
do) with no traceback, within bounded memory. Got through: a traceback, another exit code, an
accepted policy, or (the alias bomb) a child process above the memory bound.

Before this change: tracebacks on non-UTF-8 and 1,000-deep nesting; the 372-byte alias bomb grew the
process past 1.5 GiB.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dask_kubeflow.cli import app
from dask_kubeflow.policy import PolicyError, parse_policy_text
from dask_kubeflow.policy.bounded_yaml import MAX_BYTES

DASK_KUBEFLOW = Path(sys.executable).parent / "dask-kubeflow"
MEMORY_BOUND_MB = 200


def alias_bomb(levels: int = 9) -> str:
    """The classic "billion laughs": 9 levels of 9 aliases each, about 370 bytes, 9**9 values expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijklm"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    lines.append(f"defaults: {{env: {{X: *{previous}}}}}")
    return "\n".join(lines) + "\n"


BAD: dict[str, bytes] = {
    "non-UTF-8 byte": b'defaults:\n  image: "\xff\xfe"\n',
    "UTF-16 file": "defaults: {image: x}\n".encode("utf-16"),
    "latin-1 in a comment": b"# caf\xe9\ndefaults: {}\n",
    "NUL character": b"defaults: {image: \"a\x00b\"}\n",
    "nesting 1,000 deep (flow)": b"defaults: " + b"[" * 1000 + b"]" * 1000 + b"\n",
    "nesting 1,000 deep (block)": b"defaults:\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 1000)) + b"\n",
    "nesting 100,000 deep (flow)": b"defaults: " + b"{a: " * 100_000 + b"}" * 100_000 + b"\n",
    "tier name as a list": b"tiers:\n  - name: [gpu, big]\n    match: {namespaces: [x]}\n",
    "tier name as a map": b"tiers:\n  - name: {gpu: 1}\n    match: {namespaces: [x]}\n",
    "tier name as a number": b"tiers:\n  - name: 7\n    match: {namespaces: [x]}\n",
    "tier name null": b"tiers:\n  - name:\n    match: {namespaces: [x]}\n",
    "alias bomb (372 bytes)": alias_bomb().encode(),
    "alias bomb in a tier": alias_bomb().replace("defaults: {env: {X:", "tiers: [{name: t, match: {namespaces: [x]}, env: {X:").replace(
        "}}\n", "}}]\n").encode(),
    "self-referencing alias": b"defaults: &d {env: {X: *d}}\n",
    "undefined alias": b"defaults: *nowhere\n",
    "integer of 10,000 digits": b"defaults: {worker: {threads: " + b"9" * 10_000 + b"}}\n",
    "python object tag": b"defaults: !!python/object/apply:os.system [echo pwned]\n",
    "unhashable key": b"? [a, b]\n: 1\n",
    "two documents": b"defaults: {}\n---\ntiers: []\n",
    "a list at the top": b"- defaults\n- tiers\n",
    "env value as a map": b"defaults: {env: {X: {a: 1}}}\n",
    "over the size limit": b"defaults: {}\n" + b"#" * (MAX_BYTES + 10) + b"\n",
    "a million values": b"defaults: {nodeSelector: {}, tolerations: [" + b"{}," * 1_000_000 + b"]}\n",
}


@pytest.mark.parametrize("label", list(BAD))
def test_bad_policy_gets_the_usual_clear_error(label: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(BAD[label])
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{label}: {type(result.exception).__name__}: {result.exception}")
    assert result.exit_code == 1, f"{label}: exit {result.exit_code}\n{output}"
    assert "Traceback" not in output and "problem(s)" in output and str(path) in output.replace("\n", ""), output
    with pytest.raises(PolicyError) as caught:
        parse_policy_text(BAD[label], "ConfigMap x/y key policy.yaml")
    assert all(p.source == "ConfigMap x/y key policy.yaml" and p.message for p in caught.value.problems)


def test_every_bad_input_class_is_refused(tmp_path: Path, attack) -> None:
    for label, data in BAD.items():
        try:
            parse_policy_text(data, "policy.yaml")
        except PolicyError:
            attack.attempt(label, False)
        except BaseException as err:  # noqa: BLE001 — anything else is a crash
            attack.attempt(f"{label}: {type(err).__name__}", True)
        else:
            attack.attempt(f"{label}: accepted", True)
    attack.assert_none_got_through()


def test_where_the_bad_byte_is() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy_text(BAD["non-UTF-8 byte"], "p.yaml")
    [problem] = caught.value.problems
    assert (problem.path, problem.message) == ("byte 20 (line 2)", "not UTF-8 (byte 0xff); save the file as UTF-8")


def test_the_alias_bomb_costs_bounded_memory(tmp_path: Path, attack) -> None:
    """``policy check`` on the bomb in a child process: its peak RSS stays under the bound."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 400
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
        "print(done.returncode, peak)\n"
        "print(done.stdout + done.stderr)\n"
    )
    # A hard cap too, so a regression fails fast instead of taking the machine's memory.
    cap = 1024 * 1024 * 1024
    done = subprocess.run(
        [sys.executable, "-c", probe, str(DASK_KUBEFLOW), "policy", "check", str(path)],
        capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
    )
    first, _, output = done.stdout.partition("\n")
    code, peak_mb = (int(x) for x in first.split())
    assert code == 1 and "aliases" in output, output
    attack.attempt(f"alias bomb: peak {peak_mb} MB (bound {MEMORY_BOUND_MB} MB)", peak_mb >= MEMORY_BOUND_MB)
    attack.assert_none_got_through()


# ----------------------------------------------------------------------------- the controller side


async def test_a_controller_task_that_dies_takes_readiness_down_and_is_restarted() -> None:
    """Before: a policy-watch task that raised something unexpected ended silently (no Event, no log,
    /readyz 200) and later edits were never applied. Now every loop runs under ``Supervisor``."""
    import asyncio

    from dask_kubeflow.controller.supervisor import Supervisor
    from dask_kubeflow.kube.retry import Backoff

    runs: list[int] = []
    posted: list[tuple[str, str]] = []
    resume = asyncio.Event()
    applied = asyncio.Event()

    async def watch() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("an edit nobody expected")
        await resume.wait()
        applied.set()  # "a later valid edit applies"
        await asyncio.Event().wait()

    async def notify(name: str, message: str) -> None:
        posted.append((name, message))

    supervisor = Supervisor(notify, backoff=lambda: Backoff(initial=0.05, maximum=0.1))
    supervisor.start("policy-watch", watch)
    try:
        async def until(condition, what: str) -> None:
            for _ in range(600):
                if condition():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"timed out waiting for {what}")

        await until(lambda: posted, "an Event about the dead task")
        assert posted[0][0] == "policy-watch" and "RuntimeError: an edit nobody expected" in posted[0][1]
        await until(lambda: len(runs) == 2, "the task to be restarted")
        assert supervisor.why_down() is None and supervisor.restarts("policy-watch") == 1
        resume.set()
        await asyncio.wait_for(applied.wait(), timeout=30)
    finally:
        await supervisor.stop()


async def test_readiness_reports_the_dead_task() -> None:
    import asyncio

    from dask_kubeflow.controller.supervisor import Supervisor
    from dask_kubeflow.kube.retry import Backoff

    async def dies() -> None:
        raise KeyError("data")

    supervisor = Supervisor(None, backoff=lambda: Backoff(initial=600, maximum=600))  # stays down
    supervisor.start("informer", dies)
    try:
        for _ in range(600):
            if supervisor.why_down():
                break
            await asyncio.sleep(0.01)
        reason = supervisor.why_down() or ""
        assert reason.startswith("informer: failed: KeyError") and "restart 1 in 600s" in reason
    finally:
        await supervisor.stop()


@pytest.fixture
def start_controller(emulator, tmp_path):
    from tests.controller.conftest import controller_starter

    yield from controller_starter(Path(emulator.kubeconfig), tmp_path)
    emulator.reset()


def _vm_hwm_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.mark.timeout(300)
def test_bad_policy_configmap_edits_leave_the_last_good_policy_and_later_edits_apply(
    emulator, start_controller, attack
) -> None:
    """The real controller process: alias bomb, 1,000-deep nesting, non-UTF-8-like text and a tier name
    map in the policy ConfigMap are each refused with an Event, memory stays bounded, the last good
    policy stays in force, the controller stays ready, and the next valid edit is applied."""
    import kr8s
    import yaml

    from tests.controller.conftest import converged, make_profile, wait_for

    kube = kr8s.api(kubeconfig=str(emulator.kubeconfig))
    kr8s.objects.Namespace({"metadata": {"name": "dask-kubeflow"}}, api=kube).create()
    cm = kr8s.objects.ConfigMap({"metadata": {"name": "dask-kubeflow-policy", "namespace": "dask-kubeflow"},
                                 "data": {"policy.yaml": yaml.safe_dump({"defaults": {"scaling": {"maximum": 3}}})}},
                                api=kube)
    cm.create()
    controller = start_controller()
    make_profile(kube, "fay")
    wait_for(lambda: converged(emulator, "fay"), "fay Ready", controller=controller)
    edits = {
        "alias bomb": alias_bomb(),
        "nesting 1,000 deep": "defaults: " + "[" * 1000 + "]" * 1000 + "\n",
        "tier name as a map": "tiers:\n  - name: {gpu: 1}\n    match: {namespaces: [x]}\n",
        "integer of 10,000 digits": "defaults: {worker: {threads: " + "9" * 10_000 + "}}\n",
    }
    for number, (label, text) in enumerate(edits.items(), 1):
        cm.patch({"data": {"policy.yaml": text}})
        refused = lambda: [e for e in emulator.objects("events", "dask-kubeflow") if e.get("reason") == "PolicyRefused"]
        got = wait_for(lambda: len(refused()) >= number, f"the {label} edit to be refused", controller=controller)
        attack.attempt(f"{label}: controller not ready", not controller.ready())
        attack.attempt(f"{label}: last good policy replaced",
                       emulator.get("daskautoscalers", "dask-cluster", "fay")["spec"]["maximum"] != 3)
        assert got
    peak = _vm_hwm_mb(controller.proc.pid)
    print(f"controller peak RSS after the bad edits: {peak} MB")
    attack.attempt(f"controller peak RSS {peak} MB (bound 400 MB)", peak > 400)
    cm.patch({"data": {"policy.yaml": yaml.safe_dump({"defaults": {"scaling": {"maximum": 7}}})}})
    wait_for(lambda: emulator.get("daskautoscalers", "dask-cluster", "fay")["spec"]["maximum"] == 7,
             "a valid edit after the bad ones to be applied", controller=controller)
    assert "Traceback" not in controller.logs()
    attack.assert_none_got_through()
