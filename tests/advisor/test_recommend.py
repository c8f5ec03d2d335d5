"""The decision, on made-up measurements: every branch, no timing."""

import pytest

from dask_kubeflow.advisor.measure import Measurement
from dask_kubeflow.advisor.recommend import gil_share, gil_share_from_timings, policy_snippet, recommend
from dask_kubeflow.policy import parse_policy

SHAPE = parse_policy({"defaults": {"worker": {"resources": {"limits": {"cpu": "4", "memory": "8Gi"}}}}}).default_shape()


def m(probe, *, threads_s=5.0, processes_s=5.5, cpu_s=9.5, serial_s=10.0, items=20):
    return Measurement(items, 2, serial_s, cpu_s, threads_s, processes_s, probe=probe)


@pytest.mark.parametrize(("probe", "kind", "layout"), [
    (0.1, "GIL-bound", (1, 4)),  # the probe ran 10% of its usual share: 90% held
    (0.6, "mixed", (2, 2)),  # 40% held
    (0.95, "GIL-releasing", (4, 1)),
])
def test_layout_follows_the_gil_share(probe, kind, layout):
    advice = recommend(m(probe), SHAPE)
    assert advice.kind == kind
    assert (advice.threads, advice.processes) == layout


def test_gil_share_from_the_probe_and_from_the_timings():
    assert gil_share(m(0.0)) == 1.0 and gil_share(m(1.0)) == 0.0
    assert gil_share(Measurement(1, 2, 1.0, 1.0, 1.0, 1.0, probe=0.05, probe_alone=0.2)) == 0.75
    assert gil_share_from_timings(m(0.5, threads_s=10.0, processes_s=5.0)) == 1.0  # threads 1×, processes 2×
    assert gil_share_from_timings(m(1.0, threads_s=5.0, processes_s=5.0)) == 0.0
    assert gil_share_from_timings(m(1.0, processes_s=9.5)) is None  # processes did not help: cannot tell


def test_disagreement_busy_machine_small_items_and_memory_are_reported():
    advice = recommend(Measurement(2000, 2, 4.0, 3.8, 2.0, 2.0, cpu_wait=0.6, probe=0.0), SHAPE)
    text = " ".join(advice.reasons)
    assert "the timings alone suggest ~0%: the machine was probably busy" in text
    assert "this machine was busy: the serial pass spent 60% of its time waiting for a CPU" in text
    assert "2.0 ms: Dask adds ~1 ms per task" in text
    assert "4 processes share the pod's memory: 2.0 GiB each" in text


def test_waiting_work_gets_threads_even_if_processes_were_not_measured():
    advice = recommend(Measurement(10, 2, 1.0, 0.01, 0.5, None, "PicklingError: no", probe=1.0), SHAPE)
    assert advice.kind == "waiting" and (advice.threads, advice.processes) == (8, 1)
    assert "could not run (PicklingError: no)" in " ".join(advice.reasons)


def test_snippets_parse_as_policy():
    parse_policy(__import__("yaml").safe_load(policy_snippet("default", 1, 4)))
    tier = policy_snippet("nlp", 1, 4).replace("    # match: ... (keep the tier's match and other keys)\n",
                                               "    match: {namespaces: [nlp-*]}\n")
    policy = parse_policy(__import__("yaml").safe_load(tier))
    assert policy.tiers[0].settings.worker.processes == 4


def test_the_report_reads_top_down():
    text = str(recommend(m(0.0), SHAPE))
    lines = text.splitlines()
    assert lines[0].startswith("Measured 20 item(s): serial 10.00 s, 2 threads 5.00 s, 2 processes 5.50 s")
    assert lines[1].startswith("Verdict: GIL-bound. ~100% of its time holds the GIL")
    assert "1 thread(s) per process × 4 process(es) per pod" in lines[2]
    assert lines[3] == "Policy snippet:" and lines[4] == "defaults:"
