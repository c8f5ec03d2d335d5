"""The first worker's autoscaler hold lives in Kubernetes: a controller restarted mid-wake goes on holding.

``FirstWorker``'s three writes (the worker group, the DaskCluster's first-worker-since mark, the
DaskAutoscaler's cooldown) are recorded instead of sent; the wall clock is a number the test moves.
The harness test in ``test_lifecycle_e2e.py`` runs the same writes against the emulator and operator.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dask_kubeflow.controller.first_worker import FirstWorker
from dask_kubeflow.controller.lifecycle import OPERATOR_COOLDOWN, WARM_LIMIT
from dask_kubeflow.kube.names import FIRST_WORKER_SINCE_ANNOTATION

NS, CLUSTER, HOLD = "kubeflow-alice", "dask-cluster", 20.0
WOKEN = 1_800_000_000.0


class Recorded(FirstWorker):
    """A FirstWorker whose writes land in ``writes`` (and in ``annotations``, as the DaskCluster's)."""

    def __init__(self, now: list[float], annotations: dict[str, str]) -> None:
        super().__init__(api=None, hold=HOLD, wall=lambda: now[0])
        self.writes: list[tuple[str, Any]] = []
        self.annotations = annotations

    async def _scale_group(self, namespace: str, cluster: str, workers: int) -> bool:
        self.writes.append(("group", workers))
        return True

    async def _since(self, namespace: str, cluster: str, value: str | None) -> None:
        self.writes.append(("since", value))
        if value is None:
            self.annotations.pop(FIRST_WORKER_SINCE_ANNOTATION, None)
        else:
            self.annotations[FIRST_WORKER_SINCE_ANNOTATION] = value

    async def _cooldown(self, namespace: str, cluster: str, until: float) -> bool:
        self.writes.append(("cooldown", until))
        return True


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_restart_mid_wake_renews_the_hold_and_ends_it_once_both_are_ready() -> None:
    now, annotations = [WOKEN], {}
    before = Recorded(now, annotations)
    assert run(before.start(NS, CLUSTER, 1))
    assert before.writes == [("group", 1), ("since", f"{WOKEN:.3f}"), ("cooldown", WOKEN + HOLD)]

    # The controller restarts 12 s in: a new process, nothing in memory, the mark on the DaskCluster.
    now[0] = WOKEN + 12
    after = Recorded(now, annotations)
    assert not after.warming(NS)
    after.resume(NS, dict(annotations))
    assert after.warming(NS)
    run(after.look(NS, CLUSTER, (True, False)))  # the worker is still starting: held again at once
    assert after.writes == [("cooldown", WOKEN + 12 + HOLD)]

    now[0] = WOKEN + 20
    run(after.look(NS, CLUSTER, (True, True)))  # both Ready: one operator-sized pause, then the mark goes
    assert after.writes[1:] == [("cooldown", WOKEN + 20 + OPERATOR_COOLDOWN), ("since", None)]
    assert not after.warming(NS) and FIRST_WORKER_SINCE_ANNOTATION not in annotations


def test_a_stale_copy_of_the_removed_mark_does_not_start_the_hold_again() -> None:
    now, annotations = [WOKEN], {}
    first = Recorded(now, annotations)
    run(first.start(NS, CLUSTER, 1))
    stale = dict(annotations)  # what the informer still shows just after the removal
    now[0] = WOKEN + 5
    run(first.look(NS, CLUSTER, (True, True)))
    writes = len(first.writes)
    first.resume(NS, stale)
    assert not first.warming(NS)
    run(first.look(NS, CLUSTER, (True, True)))
    assert len(first.writes) == writes


def test_a_mark_older_than_the_warm_limit_is_removed_without_holding() -> None:
    now, annotations = [WOKEN + WARM_LIMIT + 60], {FIRST_WORKER_SINCE_ANNOTATION: f"{WOKEN:.3f}"}
    restarted = Recorded(now, annotations)
    restarted.resume(NS, dict(annotations))
    run(restarted.look(NS, CLUSTER, (False, False)))
    assert restarted.writes == [("since", None)] and not restarted.warming(NS)


def test_a_mark_that_is_not_a_number_is_removed_not_obeyed() -> None:
    now, annotations = [WOKEN], {FIRST_WORKER_SINCE_ANNOTATION: "yesterday"}
    restarted = Recorded(now, annotations)
    stale = dict(annotations)
    restarted.resume(NS, stale)
    run(restarted.look(NS, CLUSTER, (False, False)))
    assert restarted.writes == [("since", None)]
    restarted.resume(NS, stale)  # the informer's copy, still showing it just after the removal
    assert not restarted.warming(NS)


def test_no_worker_started_means_no_mark() -> None:
    class Busy(Recorded):
        async def _scale_group(self, namespace: str, cluster: str, workers: int) -> bool:
            return False  # the group already had workers (the JSON patch's test failed)

    busy = Busy([WOKEN], {})
    assert not run(busy.start(NS, CLUSTER, 1))
    assert busy.writes == [] and not busy.warming(NS)
    assert not run(Recorded([WOKEN], {}).start(NS, CLUSTER, 0))
