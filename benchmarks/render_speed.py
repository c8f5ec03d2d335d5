"""Benchmark: rendering one namespace's manifests (pure Python), which bounds controller convergence.

    .venv/bin/python benchmarks/render_speed.py [--number 2000] [--repeat 7]

For namespaces of each tier of deploy/policy.example.yaml, times
  * resolve + render_namespace  (what the controller computes per namespace per reconcile)
  * to_yaml of the result       (only `dask-kubeflow render` pays this)
Each figure is the median over --repeat runs of the mean of --number calls, in microseconds.
Target: resolve + render well under 1 ms per namespace. Writes benchmarks/results/render_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dask_kubeflow.policy import NamespaceFacts, load_policy, resolve  # noqa: E402
from dask_kubeflow.render import render_namespace, to_yaml  # noqa: E402

NAMESPACES = {
    "default tier": NamespaceFacts("kubeflow-user-example-com", {}, "user@example.com"),
    "gpu tier": NamespaceFacts("vision", {"dask.kubeflow.org/gpu": "true"}, "a.b@example.org"),
    "large tier (63-char name)": NamespaceFacts("team-" + "x" * 58, {}, "x.y@example.com"),
}


def per_call_us(stmt, number: int, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = timeit.repeat(stmt, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    policy = load_policy(ROOT / "deploy" / "policy.example.yaml")

    results = {}
    print(f"{'namespace':<28} {'resolve+render':>15} {'to_yaml':>10}")
    for label, facts in NAMESPACES.items():
        manifests = render_namespace(facts, resolve(policy, facts))
        assert len(manifests) == 4
        render_us = per_call_us(lambda f=facts: render_namespace(f, resolve(policy, f)), args.number, args.repeat)
        yaml_us = per_call_us(lambda m=manifests: to_yaml(m), max(1, args.number // 20), args.repeat)
        results[label] = {"resolve_render_us": round(render_us, 1), "to_yaml_us": round(yaml_us, 1)}
        print(f"{label:<28} {render_us:>12.1f} µs {yaml_us:>7.0f} µs")

    worst = max(r["resolve_render_us"] for r in results.values())
    print(f"worst resolve+render: {worst:.1f} µs per namespace "
          f"({'well under' if worst < 500 else 'NOT well under'} the 1 ms target)")
    out = ROOT / "benchmarks" / "results" / "render_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "command": "python benchmarks/render_speed.py " + " ".join(sys.argv[1:]),
        "python": platform.python_version(), "machine": platform.machine(),
        "number": args.number, "repeat": args.repeat, "results": results,
        "worst_resolve_render_us": worst,
    }, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
