"""Single-threaded embedded workers: one queued task each (worker-saturation 1.0), quieter background work."""

import dask

from dask_kubeflow import single_threaded
from dask_kubeflow.client.local import LocalLayout, start_local

KEYS = ("distributed.worker.profile.interval", "distributed.worker.memory.monitor-interval", "distributed.admin.tick.interval")


def settings(layout: LocalLayout) -> tuple[float, float, set[tuple[str, ...]]]:
    """The scheduler's saturation, its tick, and what each worker process read for ``KEYS``."""
    with start_local(layout, wait_for_workers=layout.n_workers) as client:
        saturation = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)
        tick = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler._tick_interval)
        workers = client.run(lambda: tuple(str(dask.config.get(k)) for k in KEYS))
        return saturation, tick, set(workers.values())


def test_single_threaded_workers_get_saturation_one_and_quiet_background_others_keep_the_defaults():
    saturation, tick, workers = settings(LocalLayout(2, 1, 2**30, "test"))
    assert saturation == 1.0
    assert tick == 0.5
    assert workers == {tuple(str(single_threaded.WORKER[k]) for k in KEYS)}

    saturation, tick, workers = settings(LocalLayout(1, 2, 2**30, "test"))
    assert saturation == 1.1
    assert tick == 0.02
    assert workers == {("10ms", "100ms", "20ms")}  # distributed's defaults


def test_env_names_are_the_ones_dask_reads():
    env = single_threaded.as_env(single_threaded.embedded())
    read = dask.config.collect(paths=[], env=env)  # what a worker pod's dask reads from that env
    for key, value in single_threaded.embedded().items():
        assert dask.config.get(key, config=read) == value, key
