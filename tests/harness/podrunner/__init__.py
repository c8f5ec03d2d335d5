"""The local pod runner: a stand-in kubelet that runs Dask pods as local processes. See runner.py and
tests/harness/README.md for what it does and does not emulate."""

from .runner import PodRunner, running_pids
from .state import PodProcess

__all__ = ["PodProcess", "PodRunner", "running_pids"]
