"""``allocator bench openb``: the online schedulers and allocator's batch plan on the same
tasks of Alibaba's openb trace.

For each trace and seed, in one run:

- every online baseline (``allocator.heuristics.online``) replays the simulator's seeded arrivals
  and reports the figure the paper reports: the mean allocation over the arrivals whose
  arrived GPU request rounds to 100 % of capacity;
- allocator plans, as a batch, the tasks that arrived by the point where their GPU
  request first reaches 100 % of capacity (``allocator.interop.openb.importer``), with HiGHS and
  the seed; its allocation is counted from the checked plan's placements.

The upper bound comes from a lower bound on the ``unplaced_priority`` level (see
BOUND_RULE): the plan's own, and, with a bound limit, the LP over all node patterns
(``allocator.solve.strategy.level_bound``), computed apart from the plan with its own limit, since
a plan under a minute cannot afford to run column generation to the end.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from allocator.bench.datasets import find_dataset
from allocator.bench.machine import planner_fingerprint
from allocator.bench.planstats import PlanStats
from allocator.bench.published import DEFAULT_POLICIES, TRACES, published
from allocator.bench.stats import Summary
from allocator.domain.build import build_domain
from allocator.domain.units import MILLI
from allocator.heuristics.online import simulate
from allocator.interop.openb import OpenbTrace, build_arrivals, load_trace
from allocator.interop.openb.importer import ArrivedTasks, openb_inventory
from allocator.io.progress import PROGRESS
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import SolveOutcome, solve_domain
from allocator.solve.strategy import level_bound
from solvers.base import SolveOptions

DEFAULT_DATA = find_dataset("openb") or Path("data") / "openb"
SOLVER = "highs"
BOUND_RULE = (
    "priority is a task's GPU request in milli-GPU (1 for a CPU-only task), so "
    "unplaced_priority = (arrived - allocated milli-GPU) + unplaced CPU-only tasks; it is "
    ">= any lower bound B on the level, hence allocated <= arrived + CPU-only tasks - B. "
    "B is the better of the plan's own bound and, with --bound-limit, the LP over all node "
    "patterns (column generation run apart from the plan, up to that limit). "
    "Upper bound = min(that, arrived, capacity) / capacity; without a bound, "
    "min(arrived, capacity) / capacity."
)


@dataclass(frozen=True)
class BaselineRun:
    policy: str
    reported: float | None  # %: mean over the arrivals whose request rounds to 100 % (None: no
    # arrival does, which happens only on clusters of a few GPUs)
    at_crossing: float  # %: at the arrival that first reaches 100 %
    published: float | None  # the paper's mean over seeds 42..51
    seconds: float


@dataclass(frozen=True)
class AllocatorRun:
    """allocator's plan of the arrived tasks; ``error`` is set when planning failed."""

    ratio: float | None  # % of the cluster's GPUs allocated in the checked plan
    upper_bound: float | None  # %, from the unplaced_priority level's bound
    allocated_milli: int | None
    upper_bound_milli: float | None
    unplaced_value: float | None
    unplaced_bound: float | None
    matches_objective: bool | None  # allocation from placements agrees with the level value
    plan: PlanStats | None
    wall_s: float  # import, plan, decode and check
    error: str = ""
    pattern_lp_bound: float | None = None  # of unplaced_priority, apart from the plan
    bound_s: float = 0.0  # time that took (not in wall_s)

    @property
    def checker_passed(self) -> bool:
        return self.plan is not None and self.plan.checker_passed


@dataclass(frozen=True)
class OpenbSeedRun:
    trace: str
    seed: int
    arrived: ArrivedTasks
    baselines: list[BaselineRun]
    allocator: AllocatorRun
    load_average: float = 0.0  # 1-minute load average of the machine when the seed started

    def baseline(self, policy: str) -> BaselineRun | None:
        return next((b for b in self.baselines if b.policy == policy), None)


@dataclass(frozen=True)
class OpenbTraceSummary:
    """Mean, min and max over the seeds of one trace; differences in percentage points."""

    trace: str
    seeds: list[int]
    baselines: dict[str, Summary]
    published: dict[str, float | None]
    allocator: Summary
    upper_bound: Summary
    allocator_minus_fgd: Summary
    bound_minus_allocator: Summary
    checker_passed: int
    failed: int
    wall_s: Summary
    build_s: Summary
    column_generation_s: Summary
    solve_s: Summary


@dataclass(frozen=True)
class OpenbResult:
    data: str
    solver: str
    time_limit: float
    policies: list[str]
    bound_rule: str
    planner_fingerprint: str = ""  # of the planner code this process loaded, at the start
    runs: list[OpenbSeedRun] = field(default_factory=list)
    traces: list[OpenbTraceSummary] = field(default_factory=list)


def run_openb(
    data: str | Path = DEFAULT_DATA,
    traces: Sequence[str] = TRACES,
    seeds: Sequence[int] = tuple(range(42, 52)),
    time_limit: float = 60.0,
    policies: Sequence[str] = DEFAULT_POLICIES,
    progress: Callable[[OpenbSeedRun], None] | None = None,
    bound_limit: float = 0.0,
) -> OpenbResult:
    """Every trace and seed: the baselines and allocator's plan, then per-trace summaries."""
    result = OpenbResult(
        str(data), SOLVER, time_limit, list(policies), BOUND_RULE, planner_fingerprint()
    )
    for trace_name in traces:
        trace = load_trace(data, trace_name)
        runs = []
        for seed in seeds:
            PROGRESS.task(f"trace {trace_name}, seed {seed}")
            run = run_seed(trace, trace_name, seed, time_limit, policies, bound_limit)
            runs.append(run)
            if progress is not None:
                progress(run)
        result.runs.extend(runs)
        result.traces.append(summarize(trace_name, runs, policies))
    return result


def run_seed(
    trace: OpenbTrace,
    name: str,
    seed: int,
    time_limit: float,
    policies: Sequence[str],
    bound_limit: float = 0.0,
) -> OpenbSeedRun:
    load = os.getloadavg()[0]
    arrivals = build_arrivals(trace.tasks, trace.nodes, seed)
    baselines = []
    for policy in policies:
        PROGRESS.stage(f"online scheduler {policy}")
        online = simulate(trace.nodes, trace.tasks, arrivals, policy)
        reported = online.reported_allocation_ratio(100)
        baselines.append(
            BaselineRun(
                policy,
                None if math.isnan(reported) else reported,
                online.allocation_ratio(1.0),
                published(name, policy),
                online.wall_seconds,
            )
        )
    arrived, planned = plan_arrived(trace, name, seed, time_limit, bound_limit)
    return OpenbSeedRun(name, seed, arrived, baselines, planned, load)


def plan_arrived(
    trace: OpenbTrace, name: str, seed: int, time_limit: float, bound_limit: float = 0.0
) -> tuple[ArrivedTasks, AllocatorRun]:
    """Import the tasks arrived by 100 % of capacity, plan them, measure the plan; with a
    bound limit, then bound what any plan could allocate."""
    started = time.perf_counter()
    imported = openb_inventory(trace, seed=seed, arrived=1.0, name=f"openb-{name}-s{seed}")
    arrived = imported.arrived
    assert arrived is not None
    try:
        domain = build_domain(imported.inventory, name=imported.inventory.name or name)
        options = SolveOptions(time_limit=time_limit, seed=seed)
        outcome = solve_domain(domain, InventoryRef(name=domain.name), SOLVER, options)
    except Exception as exc:  # a failed plan is a result to report, not the end of the run
        error = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=-3)[-600:]}"
        return arrived, AllocatorRun(
            None, None, None, None, None, None, None, None, time.perf_counter() - started, error
        )
    wall = time.perf_counter() - started
    bound, bound_s = None, 0.0
    if bound_limit > 0:
        started = time.perf_counter()
        bound = level_bound(domain, "unplaced_priority", bound_limit)
        bound_s = time.perf_counter() - started
    return arrived, measure(outcome, arrived, wall, pattern_lp_bound=bound, bound_s=bound_s)


def measure(
    outcome: SolveOutcome,
    arrived: ArrivedTasks,
    wall_s: float,
    pattern_lp_bound: float | None = None,
    bound_s: float = 0.0,
) -> AllocatorRun:
    """Allocated milli-GPU from the plan's placements, and the upper bound from the level's
    best lower bound."""
    demand = outcome.domain.demand
    milli = (demand.gpus * MILLI + demand.gpu_milli).tolist()
    per_replica = dict(zip(demand.ids.tolist(), milli, strict=True))
    allocated = int(sum(per_replica[p.workload] for p in outcome.plan.placements))
    plan = PlanStats.of(outcome, wall_s)
    level = plan.level("unplaced_priority")
    capacity = arrived.capacity_milli
    upper = float(min(arrived.gpu_request_milli, capacity))
    matches = None
    if level is not None:
        cpu_placed = int(sum(1 for p in outcome.plan.placements if per_replica[p.workload] == 0))
        unplaced_cpu = arrived.cpu_only - cpu_placed
        matches = bool(
            np.isclose(arrived.gpu_request_milli - allocated + unplaced_cpu, level.value)
        )
        bounds = [b for b in (level.bound, pattern_lp_bound) if b is not None]
        if bounds:
            upper = min(upper, arrived.gpu_request_milli + arrived.cpu_only - max(bounds))
    return AllocatorRun(
        ratio=100.0 * allocated / capacity,
        upper_bound=100.0 * upper / capacity,
        allocated_milli=allocated,
        upper_bound_milli=upper,
        unplaced_value=level.value if level else None,
        unplaced_bound=level.bound if level else None,
        matches_objective=matches,
        plan=plan,
        wall_s=wall_s,
        pattern_lp_bound=pattern_lp_bound,
        bound_s=bound_s,
    )


def summarize(trace: str, runs: list[OpenbSeedRun], policies: Sequence[str]) -> OpenbTraceSummary:
    mine = [r.allocator for r in runs]
    fgd = [_reported(r, "fgd") for r in runs]
    plans = [a.plan for a in mine]
    return OpenbTraceSummary(
        trace=trace,
        seeds=[r.seed for r in runs],
        baselines={p: Summary.of(_reported(r, p) for r in runs) for p in policies},
        published={p: published(trace, p) for p in policies},
        allocator=Summary.of(a.ratio for a in mine),
        upper_bound=Summary.of(a.upper_bound for a in mine),
        allocator_minus_fgd=Summary.of(_minus(a.ratio, f) for a, f in zip(mine, fgd, strict=True)),
        bound_minus_allocator=Summary.of(_minus(a.upper_bound, a.ratio) for a in mine),
        checker_passed=sum(a.checker_passed for a in mine),
        failed=sum(bool(a.error) for a in mine),
        wall_s=Summary.of(a.wall_s for a in mine),
        build_s=Summary.of(p.build_s if p else None for p in plans),
        column_generation_s=Summary.of(p.column_generation_s if p else None for p in plans),
        solve_s=Summary.of(p.solve_s if p else None for p in plans),
    )


def _reported(run: OpenbSeedRun, policy: str) -> float | None:
    found = run.baseline(policy)
    return found.reported if found else None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
