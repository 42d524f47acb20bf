"""``allocator bench build``: building allocator's model against a plain PuLP model.

Both start from the same ``Domain`` (the validated inventory as arrays) and stop when
the model is ready to hand to a solver; nothing is solved. allocator's build is
``reduce`` (node groups, replica shapes, compatibility), the pattern pool and the
master formulation, timed in this process as the median of three builds. The PuLP
model (``allocator.bench.pulp_model``) is built once, in a child process with a time
and memory cap; when it hits either, the time it had spent is a lower bound of its cost
and the ratio is reported as "at least".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from allocator.bench.child import run_child
from allocator.bench.instances import LadderInstance
from allocator.bench.machine import planner_fingerprint
from allocator.domain.tables import Domain
from allocator.io.progress import PROGRESS
from allocator.model.formulation import build_formulation
from allocator.model.patterns import enumerate_pool
from allocator.model.reduce import reduce

SIZES = (100, 1000, 10000)
REPEATS = 3


@dataclass(frozen=True)
class AllocatorBuild:
    """Median seconds of each step over the repeats, and the model's size."""

    reduce_s: float
    patterns_s: float
    formulation_s: float
    total_s: float
    columns: int
    rows: int
    nonzeros: int
    all_patterns: bool


@dataclass(frozen=True)
class PulpResult:
    """The plain model's build: finished, or how far it got before the cap."""

    finished: bool
    seconds: float  # the whole build, or the time spent before it was stopped
    stages: dict[str, float]
    variables: int | None
    constraints: int | None
    peak_rss_mib: float
    stopped_by: str  # "", "time cap", "memory cap" or an error


@dataclass(frozen=True)
class BuildComparison:
    nodes: int
    workloads: int
    replicas: int
    compatible_pairs: int
    allocator: AllocatorBuild
    pulp: PulpResult
    ratio: float  # PuLP seconds / allocator seconds
    ratio_is_lower_bound: bool
    # Where PuLP did not finish: its time at the largest size it finished, scaled by the
    # number of (replica, node) pairs (its build is linear in them), and that ratio.
    estimated_pulp_s: float | None = None
    estimated_ratio: float | None = None
    planner_fingerprint: str = ""  # of the model-building code, when this size was built


def time_allocator_build(domain: Domain, repeats: int = REPEATS) -> AllocatorBuild:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        inst = reduce(domain)
        t1 = time.perf_counter()
        pool = enumerate_pool(inst)
        t2 = time.perf_counter()
        form = build_formulation(inst, pool)
        t3 = time.perf_counter()
        runs.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0))
    median = [statistics.median(column) for column in zip(*runs, strict=True)]
    problem = form.problem
    return AllocatorBuild(
        *median, problem.n_cols, problem.n_rows, int(problem.a.nnz), bool(pool.complete.all())
    )


def time_pulp_build(instance: LadderInstance, time_cap: float, memory_cap_mib: int) -> PulpResult:
    child = run_child(
        "pulp",
        {"instance": instance.as_params(), "memory_limit_mib": memory_cap_mib},
        timeout=time_cap,
    )
    reports = child.reports
    final = next((r for r in reports if r.get("stage") == "done"), None)
    stages = {r["stage"]: r["seconds"] for r in reports if "seconds" in r}
    if final is not None:
        return PulpResult(
            finished=True,
            seconds=final["total_s"],
            stages=final["stages"],
            variables=final["variables"],
            constraints=final["constraints"],
            peak_rss_mib=child.peak_rss_mib,
            stopped_by="",
        )
    error = next((r["error"] for r in reports if "error" in r), "")
    if child.timed_out:
        stopped_by = "time cap"
    elif error or "MemoryError" in child.stderr_tail:
        stopped_by = "memory cap"
    else:
        stopped_by = _last_line(child.stderr_tail) or f"exit {child.returncode}"
    # From the start of the build to when it stopped: a lower bound of what it would take.
    began = next((r["received_s"] for r in reports if r.get("stage") == "ready"), 0.0)
    ended = child.wall_s if child.timed_out else (reports[-1]["received_s"] if reports else 0.0)
    return PulpResult(
        False, max(ended - began, 0.0), stages, None, None, child.peak_rss_mib, stopped_by
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_build(
    sizes: Sequence[int] = SIZES,
    fill: float = 0.9,
    seed: int = 0,
    pulp_time_cap: float = 600.0,
    pulp_memory_cap_mib: int = 8192,
    progress: Callable[[BuildComparison], None] | None = None,
) -> list[BuildComparison]:
    results: list[BuildComparison] = []
    fingerprint = planner_fingerprint()  # the code this process loaded
    for nodes in sorted(sizes):
        PROGRESS.task(f"{nodes:,} nodes")
        instance = LadderInstance.of_size(nodes, fill, seed)
        domain = instance.domain()
        ours = time_allocator_build(domain)
        theirs = time_pulp_build(instance, pulp_time_cap, pulp_memory_cap_mib)
        compatible = domain.compatible
        replicas = int(domain.demand.max.sum())
        pairs = int(compatible.sum(axis=1) @ domain.demand.max)
        comparison = BuildComparison(
            nodes=nodes,
            workloads=instance.workloads,
            replicas=replicas,
            compatible_pairs=pairs,
            allocator=ours,
            pulp=theirs,
            ratio=theirs.seconds / max(ours.total_s, 1e-9),
            ratio_is_lower_bound=not theirs.finished,
            planner_fingerprint=fingerprint,
        )
        if not theirs.finished:
            comparison = _with_estimate(comparison, results)
        results.append(comparison)
        if progress is not None:
            progress(comparison)
    return results


def _with_estimate(comparison: BuildComparison, done: list[BuildComparison]) -> BuildComparison:
    finished = [c for c in done if c.pulp.finished and c.compatible_pairs]
    if not finished:
        return comparison
    base = max(finished, key=lambda c: c.compatible_pairs)
    estimate = base.pulp.seconds * comparison.compatible_pairs / base.compatible_pairs
    return replace(
        comparison,
        estimated_pulp_s=estimate,
        estimated_ratio=estimate / max(comparison.allocator.total_s, 1e-9),
    )
