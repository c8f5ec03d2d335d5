"""The advisor, end to end on real functions: it must tell GIL-bound from GIL-releasing work.

Assertions are on the recommendation, never on timings. The probe that measures the GIL share
is not skewed by a busy machine (see advisor/measure.py), and the contrast is large: a pure-Python
loop holds the GIL all the time, hashing a preallocated buffer and sleeping hold it almost never.
"""

import pytest

import dask_kubeflow
from dask_kubeflow.advisor import advise
from dask_kubeflow.policy import parse_policy

from .workloads import hash_buffer, python_loop, sleep_a_little

POLICY = parse_policy({
    "defaults": {"worker": {"threads": 4, "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}},
    "tiers": [{"name": "big", "match": {"namespaces": ["team-*"]},
               "worker": {"resources": {"limits": {"cpu": "8", "memory": "32Gi"}}}}],
})


def test_a_pure_python_loop_gets_single_threaded_processes():
    advice = advise(python_loop, [200_000] * 8, policy=POLICY)
    assert advice.kind == "GIL-bound"
    assert advice.gil_share >= 0.5
    assert (advice.threads, advice.processes) == (1, 2)
    assert "threads: 1\n    processes: 2" in advice.snippet
    assert advice.snippet.startswith("defaults:\n  worker:")


def test_hashing_a_large_buffer_gets_threads_sized_for_the_tier():
    advice = advise(hash_buffer, [3] * 8, policy=POLICY, tier="big")
    assert advice.kind == "GIL-releasing", str(advice)
    assert advice.gil_share <= 0.2
    assert (advice.threads, advice.processes) == (8, 1)
    assert advice.snippet.startswith("tiers:\n  - name: big\n")
    assert "threads: 8\n      processes: 1" in advice.snippet


def test_waiting_gets_more_threads_than_cores():
    advice = advise(sleep_a_little, [0.02] * 12, policy=POLICY)
    assert advice.kind == "waiting"
    assert advice.processes == 1 and advice.threads >= 4


def test_it_is_reachable_from_the_package_and_refuses_an_empty_sample():
    assert dask_kubeflow.advise is advise
    with pytest.raises(ValueError, match="needs a non-empty sample"):
        advise(python_loop, [], policy=POLICY)
    with pytest.raises(ValueError, match="tier 'nope' is not in the policy"):
        advise(python_loop, [1], policy=POLICY, tier="nope")


def test_a_function_that_cannot_go_to_a_process_is_still_advised():
    import threading

    lock = threading.Lock()  # closures over a lock do not pickle

    def locked(n):
        with lock:
            return python_loop(n)

    advice = advise(locked, [200_000] * 8, policy=POLICY)  # as long a sample as the plain loop's: a busy machine
    assert advice.measurement.processes_s is None
    assert any("could not run" in reason for reason in advice.reasons)
    assert advice.kind == "GIL-bound"
