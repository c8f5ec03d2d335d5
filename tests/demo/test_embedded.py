"""The embedded cluster queues one task per single-threaded worker (worker-saturation 1.0)."""

from dask_kubeflow.client.local import LocalLayout, start_local


def saturation(layout: LocalLayout) -> float:
    with start_local(layout, wait_for_workers=layout.n_workers) as client:
        return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)


def test_single_threaded_workers_get_saturation_one_others_keep_the_default():
    assert saturation(LocalLayout(2, 1, 2**30, "test")) == 1.0
    assert saturation(LocalLayout(1, 2, 2**30, "test")) == 1.1
