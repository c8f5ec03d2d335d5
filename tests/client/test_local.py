"""The embedded cluster: shaped by the policy, fitted to the machine, owned by its Client."""

import os
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from dask_kubeflow import connect
from dask_kubeflow.client.local import fit_layout
from dask_kubeflow.policy import Policy, parse_policy

GiB = 2**30


def shape(**worker):
    return parse_policy({"defaults": {"worker": worker}} if worker else {}).default_shape()


def test_policy_layout_keeps_the_tier_shape_and_fits_whole_pods():
    # Default worker pod: 2 cpu limit, 4 threads, 1 process, 4Gi.
    fitted = fit_layout(Policy.builtin().default_shape(), "policy", cores=8, memory=64 * GiB)
    assert (fitted.n_workers, fitted.threads_per_worker, fitted.memory_limit) == (4, 4, 4 * GiB)
    # A machine smaller than one pod still gets one pod.
    assert fit_layout(Policy.builtin().default_shape(), "policy", cores=1, memory=64 * GiB).n_workers == 1


def test_policy_layout_splits_pod_memory_between_processes_and_caps_by_maximum():
    s = parse_policy({"defaults": {"worker": {"processes": 2, "threads": 1,
                                              "resources": {"limits": {"cpu": "2", "memory": "8Gi"}}},
                                   "scaling": {"maximum": 2}}}).default_shape()
    fitted = fit_layout(s, "policy", cores=64, memory=1024 * GiB)
    assert (fitted.n_workers, fitted.threads_per_worker, fitted.memory_limit) == (4, 1, 4 * GiB)


def test_memory_is_capped_by_the_machine():
    fitted = fit_layout(Policy.builtin().default_shape(), "processes", cores=4, memory=4 * GiB)
    assert fitted.n_workers == 4
    assert fitted.memory_limit == int(4 * GiB * 0.8 / 4)


def test_processes_and_threads_layouts():
    base = Policy.builtin().default_shape()
    assert (fit_layout(base, "processes", cores=6, memory=64 * GiB).n_workers,
            fit_layout(base, "processes", cores=6, memory=64 * GiB).threads_per_worker) == (4, 1)  # maximum 4
    threads = fit_layout(base, "threads", cores=6, memory=64 * GiB)
    assert (threads.n_workers, threads.threads_per_worker) == (1, 6)
    with pytest.raises(ValueError, match="unknown layout 'fast'"):
        fit_layout(base, "fast", cores=2, memory=GiB)  # type: ignore[arg-type]


def _descendants() -> set[int]:
    """Child processes, less multiprocessing's resource tracker (one per interpreter, not per cluster)."""
    return {p.pid for p in psutil.Process().children(recursive=True)
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_connect_local_starts_the_resolved_shape_and_stops_it_on_close(tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    document = {"defaults": {"worker": {"threads": 3, "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                                    "limits": {"cpu": "1", "memory": "1Gi"}}},
                             "scaling": {"maximum": 2}}}
    policy.write_text(yaml.safe_dump(document))
    before = _descendants()
    with connect(policy=policy, local=True) as client:
        assert "starting an embedded local cluster" in capsys.readouterr().err
        client.wait_for_workers(1)
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        expected = fit_layout(parse_policy(document).default_shape())
        assert len(workers) == expected.n_workers
        assert {w["nthreads"] for w in workers} == {3}
        assert {w["memory_limit"] for w in workers} == {expected.memory_limit}
        assert expected.memory_limit <= GiB
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert client.dashboard_link.startswith("http://")
        started = _descendants() - before
        worker_pids = set(client.run(os.getpid).values())
        assert worker_pids and worker_pids <= started
    # Leaving the with block closed the client, which owns and stops the cluster.
    deadline = time.monotonic() + 60
    while not all(_gone(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in started), f"stray processes: {[p for p in started if not _gone(p)]}"


def test_connect_rejects_unknown_layout():
    with pytest.raises(ValueError, match="layout='fast' is not one of policy, processes, threads"):
        connect(local=True, layout="fast")  # type: ignore[arg-type]


def test_the_embedded_cluster_fits_the_containers_cgroup_limits(monkeypatch):
    """A notebook pod limited to 2 CPUs and 3 GiB on a 64-core host: Dask's cgroup-aware counts decide."""
    import dask.system

    from dask_kubeflow.client import local

    monkeypatch.setattr(dask.system, "CPU_COUNT", 2)
    monkeypatch.setattr(local, "MEMORY_LIMIT", 3 * GiB)
    assert local.machine_cores() == 2 and local.machine_memory() == 3 * GiB
    fitted = fit_layout(Policy.builtin().default_shape(), "processes")
    assert fitted.n_workers == 2 and fitted.memory_limit == int(3 * GiB * 0.8 / 2)


GUARDLESS_SCRIPT = """
import dask_kubeflow
client = dask_kubeflow.connect(local=True, layout="processes")
print("RESULT", client.submit(sum, [1, 2]).result())
client.close()
"""


def test_a_script_without_a_main_guard_is_told_what_to_add(tmp_path):
    script = tmp_path / "analysis.py"
    script.write_text(GUARDLESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "KUBE"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "missing"), DASK_KUBEFLOW_NAMESPACE_FILE="/nonexistent")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert run.returncode == 1
    assert "MainGuardError" in run.stderr and f"re-running {script}" in run.stderr
    assert 'if __name__ == "__main__":' in run.stderr
    assert run.stderr.count("starting an embedded local cluster") == 1  # the worker processes stayed quiet
    guarded = tmp_path / "guarded.py"
    guarded.write_text('if __name__ == "__main__":\n' + "".join(f"    {line}\n" for line in GUARDLESS_SCRIPT.strip().splitlines()))
    run = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "RESULT 3" in run.stdout
