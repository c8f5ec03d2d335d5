"""Loaded at start-up by every process the local pod runner starts (it is on their PYTHONPATH):
gives the process the pod's view of the network (cluster DNS, its own pod address). See ../podnet.py."""

import importlib.util
import os
import sys

_NAME = "_dask_kubeflow_harness_podnet"
_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "podnet.py")

if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
    _module.install_from_environ()
