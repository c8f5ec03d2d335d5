"""The layout advisor: threads or processes for *your* function, measured, as a policy snippet.

    import dask_kubeflow
    advice = dask_kubeflow.advise(my_function, sample)   # sample: a list of arguments, a few seconds' work
    print(advice)                                        # verdict, reasons, and the policy YAML
    advice.threads, advice.processes                     # per worker process, per worker pod

It runs ``my_function`` on the sample serially, in N threads and in N processes (N = this machine's
cores), estimates how much of its time holds Python's GIL, and recommends threads per worker and
worker processes per pod for a tier of the policy (``dask-kubeflow advise`` does the same from the
command line). See ``measure`` for how it times and ``recommend`` for how it decides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from ..policy import DEFAULT_TIER, Policy, policy_from_env
from .measure import Measurement, measure
from .recommend import Advice, gil_share, policy_snippet, recommend

__all__ = ["advise", "Advice", "Measurement", "measure", "recommend", "gil_share", "policy_snippet", "tier_shape"]


def tier_shape(policy: Policy | str | os.PathLike[str] | None = None, tier: str | None = None):  # type: ignore[no-untyped-def]
    """The ClusterShape of ``tier`` (default: the policy's defaults) of ``policy`` (as connect() finds it)."""
    resolved = policy_from_env(policy)
    shapes = {shape.tier: shape for shape in resolved.shapes()}
    name = tier or DEFAULT_TIER
    if name not in shapes:
        raise ValueError(f"tier {name!r} is not in the policy ({resolved.source}); its tiers are: "
                         f"{', '.join(shapes)}")
    return shapes[name]


def advise(func: Callable[[Any], Any], sample: Iterable[Any], *, tier: str | None = None,
           policy: Policy | str | os.PathLike[str] | None = None, workers: int | None = None) -> Advice:
    """Measure ``func`` on ``sample`` and recommend threads per worker and processes per pod for ``tier``."""
    shape = tier_shape(policy, tier)
    return recommend(measure(func, sample, workers=workers), shape)
