"""The child side of ``allocator.bench.child``: one measurement per process.

    python -m allocator.bench.worker ladder '{"nodes": 1000, "solver": "highs", ...}'
    python -m allocator.bench.worker pulp '{"nodes": 1000, "memory_limit_mib": 16384}'

Each reports JSON lines on stdout (``child.report``).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from allocator.bench.child import report
from allocator.bench.instances import LadderInstance
from allocator.bench.machine import planner_fingerprint


def ladder(params: dict[str, Any]) -> None:
    """Generate the instance, plan it with one backend, report the plan's figures."""
    from allocator.bench.planstats import PlanStats
    from allocator.bench.results import to_jsonable
    from allocator.output.plan import InventoryRef
    from allocator.solve.pipeline import solve_domain
    from solvers.base import SolveOptions

    fingerprint = planner_fingerprint()  # the code this process has just loaded
    instance = LadderInstance(**params["instance"])
    started = time.perf_counter()
    domain = instance.domain()
    ready = time.perf_counter()
    options = SolveOptions(
        time_limit=params["time_limit"], rel_gap=params.get("gap", 1e-6), seed=instance.seed
    )
    outcome = solve_domain(domain, InventoryRef(name=domain.name), params["solver"], options)
    done = time.perf_counter()
    report(
        {
            "generate_s": ready - started,
            "plan": to_jsonable(PlanStats.of(outcome, done - ready)),
            "self_peak_rss_mib": _self_peak_mib(),
            "planner_fingerprint": fingerprint,
        }
    )


def pulp(params: dict[str, Any]) -> None:
    """Build the plain PuLP model of the instance, reporting after each step."""
    from allocator.bench.pulp_model import build_pulp_model

    limit = params.get("memory_limit_mib")
    if limit:
        size = int(limit) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    domain = LadderInstance(**params["instance"]).domain()
    report({"stage": "ready"})
    built = build_pulp_model(domain, lambda stage, s: report({"stage": stage, "seconds": s}))
    report(
        {
            "stage": "done",
            "stages": built.stages,
            "total_s": built.total_s,
            "variables": built.variables,
            "constraints": built.constraints,
            "self_peak_rss_mib": _self_peak_mib(),
        }
    )


def _self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


TASKS = {"ladder": ladder, "pulp": pulp}


def main(argv: list[str]) -> int:
    task, params = argv[0], json.loads(argv[1])
    try:
        TASKS[task](params)
    except MemoryError:
        report({"error": "out of memory (MemoryError)"})
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
