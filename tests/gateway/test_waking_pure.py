"""The door for hibernated clusters, pure: lifecycle, which door, what the page and the clusters page say."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from dask_kubeflow.controller.accounting import usage_body
from dask_kubeflow.controller.usage import Ledger, budget_state
from dask_kubeflow.gateway.clusters_page import cluster_rows, page_state, render_clusters_page, usage_lines
from dask_kubeflow.gateway.waking import (AWAKE, HIBERNATED, WAKING, Door, caused_by_this_site, door_for,
                                          lifecycle_of, readiness, waking_page)
from dask_kubeflow.kube.names import HIBERNATED_ANNOTATION, WAKE_REQUESTED_ANNOTATION
from dask_kubeflow.kube.usage_record import namespace_totals
from dask_kubeflow.policy.lifecycle import Budget

from .conftest import daskcluster_manifest


def cluster(*annotations: str, managed: bool = True) -> dict:
    manifest = daskcluster_manifest("alice", "dask-cluster", managed=managed)
    manifest["metadata"]["annotations"] = {a: "2026-12-01T12:00:00Z" for a in annotations}
    return manifest


class TestLifecycle:
    def test_from_the_annotations(self):
        assert lifecycle_of(cluster(), None) == AWAKE
        assert lifecycle_of(cluster(HIBERNATED_ANNOTATION), None) == HIBERNATED
        assert lifecycle_of(cluster(HIBERNATED_ANNOTATION, WAKE_REQUESTED_ANNOTATION), None) == WAKING

    def test_the_status_record_says_waking_for_the_managed_cluster_only(self):
        assert lifecycle_of(cluster(), {"lifecycle": "Waking"}) == WAKING
        assert lifecycle_of(cluster(managed=False), {"lifecycle": "Waking"}) == AWAKE
        assert lifecycle_of(cluster(), {"lifecycle": "Awake"}) == AWAKE

    def test_a_stale_wake_request_on_an_awake_cluster_is_awake(self):
        assert lifecycle_of(cluster(WAKE_REQUESTED_ANNOTATION), None) == AWAKE


class TestDoor:
    @pytest.mark.parametrize("lifecycle, may_wake, this_site, method, expected", [
        (AWAKE, True, True, "GET", Door.PROXY),
        (AWAKE, False, False, "GET", Door.PROXY),
        (WAKING, False, False, "GET", Door.WAIT),  # already asked: nobody needs a right to wait
        (HIBERNATED, True, True, "GET", Door.WAKE),
        (HIBERNATED, True, True, "HEAD", Door.CONFIRM),  # HEAD never changes anything
        (HIBERNATED, True, False, "GET", Door.CONFIRM),  # another site caused it: a button, no wake
        (HIBERNATED, False, True, "GET", Door.SLEEPING),
    ])
    def test_which_door(self, lifecycle, may_wake, this_site, method, expected):
        assert door_for(lifecycle, may_wake=may_wake, this_site=this_site, method=method) is expected

    @pytest.mark.parametrize("headers, expected", [
        ({}, True),  # no browser: no ambient login either
        ({"Sec-Fetch-Site": "none"}, True),  # address bar, bookmark
        ({"Sec-Fetch-Site": "same-origin"}, True),  # the central dashboard, the clusters page
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),  # a sibling subdomain is another site's page
    ])
    def test_who_caused_the_request(self, headers, expected):
        assert caused_by_this_site(headers) is expected


class TestReadiness:
    def test_ready_only_when_the_scheduler_answers_and_the_mark_is_gone(self):
        assert readiness(AWAKE, "Running (0 workers ready)", True, False)["ready"]
        assert not readiness(WAKING, "Starting", True, True)["ready"]  # answers, still marked: reload would loop
        assert not readiness(WAKING, "Starting: scheduler pod Pending", False, False)["ready"]

    def test_it_says_what_it_waits_for(self):
        assert readiness(HIBERNATED, "Starting", False, True)["waitingFor"].startswith("a wake request")
        assert "controller to start the scheduler" in readiness(WAKING, "Starting", False, True)["waitingFor"]
        waiting = readiness(WAKING, "Starting: pod dask-cluster-scheduler-x is ContainerCreating", False, False)
        assert waiting["waitingFor"] == "the scheduler pod to start (pod dask-cluster-scheduler-x is ContainerCreating)"
        probing = "Not running: pod dask-cluster-scheduler-x is running but not ready (Readiness probe failed: …)"
        assert readiness(WAKING, probing, False, False)["waitingFor"] == \
            "the scheduler pod to become ready (it runs; its readiness probe does not pass yet)"
        assert readiness(WAKING, "Not running: image pull failed", False, False)["waitingFor"] == \
            "the scheduler pod, which is not starting: image pull failed"
        assert readiness(WAKING, "Running (0 workers ready)", False, False)["waitingFor"] == \
            "the scheduler's dashboard to answer"
        assert readiness(AWAKE, "Running", True, False) == {
            "lifecycle": AWAKE, "ready": True, "phase": "Running", "waitingFor": "nothing: the scheduler is answering"}


class TestPage:
    def test_the_waking_page_polls_and_falls_back_to_a_refresh(self):
        html = waking_page(Door.WAKE, user="alice@example.com", namespace="alice", cluster="dask-cluster", elapsed=3)
        assert "Waking up dask-cluster" in html and "asked for you just now" in html
        assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
        assert '"/dask/_api/namespaces/alice/clusters/dask-cluster/readiness"' in html
        assert "location.reload()" in html and 'id="elapsed">3 s' in html
        assert 'id="wake"' not in html

    def test_a_viewer_is_told_who_can_wake_it(self):
        html = waking_page(Door.SLEEPING, user="bob@example.com", namespace="alice", cluster="dask-cluster",
                           owner="alice@example.com")
        assert "dask-cluster is hibernated" in html
        assert "You (bob@example.com) may view this cluster but not wake it" in html
        assert "its owner alice@example.com" in html and "dask-kubeflow cluster wake -n alice" in html
        assert re.search(r'id="progress"\s+hidden', html) and 'id="wake"' not in html

    def test_a_request_from_another_site_gets_a_button(self):
        html = waking_page(Door.CONFIRM, user="alice@example.com", namespace="alice", cluster="dask-cluster")
        assert 'id="wake"' in html and "nothing was started" in html
        assert '"/dask/_api/namespaces/alice/clusters/dask-cluster/wake"' in html

    def test_what_users_control_is_escaped(self):
        html = waking_page(Door.SLEEPING, user='<img src=x onerror=alert(1)>"', namespace="alice",
                           cluster="dask-cluster", owner="</script><script>alert(2)</script>")
        assert "<img src=x" not in html and "<script>alert(2)" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def _record(used_core_seconds: float, limit: float | None) -> dict[str, str]:
    """The usage ConfigMap's data exactly as the controller writes it."""
    ledger = Ledger("2026-12", {"dask-cluster/worker": (used_core_seconds, used_core_seconds / 2),
                                "dask-cluster/scheduler": (360.0, 360.0)})
    state = budget_state(ledger, Budget(core_hours=limit, contact="platform@example.com"), "default")
    announced = replace(ledger, budget=state.state or "ok")  # the controller records the state it announced
    return usage_body("alice", announced, state)["data"]


class TestUsage:
    def test_used_this_month_and_no_budget(self):
        lines = usage_lines(namespace_totals("alice", _record(3600.0, None)))
        assert [line["text"] for line in lines] == [
            "Used this month (2026-12): 1.10 core-hours, 0.60 GiB-hours of memory (requests × time running, "
            "schedulers and workers)."]

    def test_the_budget_line_warns_then_says_it_is_spent_and_whom_to_ask(self):
        ok, warning, spent = (usage_lines(namespace_totals("alice", _record(s, 10.0)))[1]
                              for s in (3600.0, 8.5 * 3600, 11 * 3600))
        assert ok == {"class": "", "text": "Budget: 1.10 of 10 core-hours used in 2026-12 (tier 'default')"}
        assert warning["class"] == "warn" and warning["text"].startswith("Budget nearly spent: 8.60 of 10")
        assert spent["class"] == "spent" and spent["text"].startswith("Budget spent: 11.10 of 10 core-hours")
        assert spent["text"].endswith("ask platform@example.com")

    def test_no_record_yet(self):
        assert usage_lines(None)[0]["text"].startswith("Used this month: not recorded yet")


def test_the_clusters_page_shows_a_hibernated_cluster_with_its_usage():
    rows = cluster_rows("alice", [cluster(HIBERNATED_ANNOTATION)], [], {}, [], [], {"lifecycle": "Hibernated"})
    assert rows[0].phase == "Hibernated" and rows[0].lifecycle == HIBERNATED
    assert "Hibernated (idle)" in rows[0].note
    totals = namespace_totals("alice", _record(11 * 3600, 10.0))
    state = page_state("alice", rows, {}, [], may_create=True, may_delete=True, may_wake=True, usage=totals)
    assert state["mayWake"] and state["clusters"][0]["lifecycle"] == "Hibernated"
    assert state["usageLines"][1]["class"] == "spent"
    html = render_clusters_page("alice", "alice@example.com", rows, totals)
    assert "Used this month (2026-12): 11.10 core-hours" in html and 'class="usage spent"' in html
    assert "b.className = \"wake\"" in html and "/wake`" in html
    waking = cluster_rows("alice", [cluster()], [], {}, [], [], {"lifecycle": "Waking"})[0]
    assert waking.phase.startswith("Waking: ") and waking.lifecycle == WAKING


def test_the_clusters_page_shows_clusters_left_above_a_lowered_tier():
    from dask_kubeflow.admission.exceeded import Exceedance
    from dask_kubeflow.kube.namespace_status import status_data

    big = Exceedance("big", "scaling.maximum", "cluster 'big' may run 5 workers; tier 'default' now allows 2")
    many = Exceedance("*", "userClusters.maximum", "2 user clusters; tier 'default' now allows 1")
    status = status_data(phase="Ready", tier="default", message="", last_error="", objects=[], contributors=(),
                         policy="", exceeded=[big.as_dict(), many.as_dict()])
    rows = cluster_rows("alice", [cluster(managed=False) | {"metadata": {"name": "big", "namespace": "alice"}},
                                  cluster()], [], {}, [], [], status)
    by_name = {r.name: r for r in rows}
    assert by_name["big"].above_tier == (big.message,)
    assert by_name["dask-cluster"].above_tier == ()
    state = page_state("alice", rows, {}, [], may_create=True, may_delete=True, status=status)
    assert state["aboveTier"] == [many.message]
    assert {c["name"]: c["aboveTier"] for c in state["clusters"]} == {"big": [big.message], "dask-cluster": []}
    html = render_clusters_page("alice", "alice@example.com", rows)
    assert 'id="above-tier"' in html and "Above the tier: " in html
    nothing = cluster_rows("alice", [cluster()], [], {}, [], [], None)
    assert nothing[0].above_tier == () and page_state("alice", nothing, {}, [], may_create=False,
                                                      may_delete=False)["aboveTier"] == []
