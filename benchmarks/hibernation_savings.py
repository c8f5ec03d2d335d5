"""Reserved resources with and without hibernation on a platform of N profile namespaces.

What Kubernetes holds for Dask, as requests (what the scheduler reserves on nodes whether used or
not): every namespace's scheduler pod, plus the workers of the active ones. With hibernation the
idle namespaces' schedulers are gone. Computed from what render produces for the given policy
(the requests in the rendered DaskCluster), so it follows the policy you pass.

    .venv/bin/python benchmarks/hibernation_savings.py [--namespaces 1000] [--active 0.10]
        [--workers-per-active 2] [--policy deploy/policy.example.yaml] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dask_kubeflow.policy import NamespaceFacts, Policy, load_policy, resolve
from dask_kubeflow.quantity import to_bytes, to_cores
from dask_kubeflow.render import render_namespace


def _requests(container: dict) -> tuple[float, float]:
    requests = (container.get("resources") or {}).get("requests") or {}
    return to_cores(requests.get("cpu", "0")), float(to_bytes(requests.get("memory", "0")))


def measure(policy: Policy, namespaces: int, active: float, workers: int) -> dict:
    facts = NamespaceFacts("sample-namespace")
    cluster = next(o for o in render_namespace(facts, resolve(policy, facts)) if o["kind"] == "DaskCluster")
    s_cpu, s_mem = _requests(cluster["spec"]["scheduler"]["spec"]["containers"][0])
    w_cpu, w_mem = _requests(cluster["spec"]["worker"]["spec"]["containers"][0])
    busy = round(namespaces * active)
    without = (namespaces * s_cpu + busy * workers * w_cpu, namespaces * s_mem + busy * workers * w_mem)
    with_h = (busy * s_cpu + busy * workers * w_cpu, busy * s_mem + busy * workers * w_mem)
    gib = float(1 << 30)
    return {
        "namespaces": namespaces, "active": busy, "workers_per_active": workers,
        "scheduler_requests": {"cpu": s_cpu, "memory_gib": s_mem / gib},
        "worker_requests": {"cpu": w_cpu, "memory_gib": w_mem / gib},
        "without_hibernation": {"cpu": without[0], "memory_gib": without[1] / gib},
        "with_hibernation": {"cpu": with_h[0], "memory_gib": with_h[1] / gib},
        "saved": {"cpu": without[0] - with_h[0], "memory_gib": (without[1] - with_h[1]) / gib,
                  "cpu_fraction": 1 - with_h[0] / without[0], "memory_fraction": 1 - with_h[1] / without[1]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--active", type=float, default=0.10, help="fraction of namespaces in use")
    parser.add_argument("--workers-per-active", type=int, default=2)
    parser.add_argument("--policy", type=Path, default=None, help="policy file (default: built-in defaults)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    policy = load_policy(args.policy) if args.policy else Policy.builtin()
    result = measure(policy, args.namespaces, args.active, args.workers_per_active)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
