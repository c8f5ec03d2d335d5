"""The embedded cluster: shaped by the policy, fitted to the machine, owned by its Client."""

import os
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
