"""The fleet in parts (BENCHMARKS.md, "The fleet in parts"): one ladder fleet planned
whole, then split by zone and at random into K parts planned in parallel on the local
pool and on a Dask LocalCluster, each merged plan checked against the whole inventory
and its cost set against the whole plan's cost and bound (`allocator bench partition`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from allocator.bench.instances import LadderInstance
from allocator.solve.partition import solve_partitioned
from allocator.solve.pipeline import Request, solve_request
from solvers.base import SolveOptions


@dataclass(frozen=True)
class PartitionRun:
    """One plan of the fleet: whole (parts 1) or merged from parts."""

    parts: int
    by: str  # "whole", "zone" or "random"
    engine: str  # "in process", "local" or "dask"
    workers: int
    level: str  # what a zone split cut along (zone, rack, node); "-" otherwise
    wall_s: float  # split, plan every part, merge and check (engine start included)
    slowest_part_s: float
    cost: float
    gap_to_whole: float | None  # (cost - whole cost) / whole cost
    gap_to_bound: float | None  # (cost - whole bound) / whole bound
    unplaced_priority: float
    hard_shortfall: float
    parts_failed: int
    checker: str  # "passed", or the first violation
    load_average: float  # 1-minute load average when the run started


@dataclass(frozen=True)
class PartitionResult:
    nodes: int
    workloads: int
    fill: float
    mix: str
    time_limit: float
    whole_bound: float | None
    runs: list[PartitionRun]


def run_partitioned(
    nodes: int,
    parts: Sequence[int] = (2, 4, 8),
    ways: Sequence[str] = ("zone", "random"),
    engines: Sequence[str] = ("local", "dask"),
    workers: int = 2,
    fill: float = 0.9,
    time_limit: float = 60.0,
    seed: int = 0,
    mix: str = "plain",
    solver: str = "auto",
    progress: Callable[[PartitionRun], None] | None = None,
) -> PartitionResult:
    """Plan the ladder fleet of `nodes` whole, then in each part count, way and engine."""
    instance = LadderInstance.of_size(nodes, fill, seed, mix)
    document = instance.document()
    data = json.dumps(document).encode()
    name = f"{document['name']}.json"
    options = SolveOptions(time_limit=time_limit, seed=seed)
    runs: list[PartitionRun] = []

    load = os.getloadavg()[0]
    started = time.perf_counter()
    whole = solve_request(Request(name, data, solver, options))
    wall = time.perf_counter() - started
    cost, bound = whole.plan.objective.cost_per_hour, whole.plan.solver.bound
    runs.append(
        PartitionRun(
            parts=1,
            by="whole",
            engine="in process",
            workers=1,
            level="-",
            wall_s=wall,
            slowest_part_s=wall,
            cost=cost,
            gap_to_whole=0.0,
            gap_to_bound=_gap(cost, bound),
            unplaced_priority=whole.plan.objective.unplaced_priority,
            hard_shortfall=whole.plan.objective.hard_shortfall,
            parts_failed=0,
            checker="passed" if not whole.violations else str(whole.violations[0]),
            load_average=load,
        )
    )
    if progress is not None:
        progress(runs[-1])
    for engine in engines:
        for by in ways:
            for k in parts:
                load = os.getloadavg()[0]
                out = solve_partitioned(
                    name, k, by, solver, options, engine, workers, inventory=data
                )
                plan = out.plan
                runs.append(
                    PartitionRun(
                        parts=k,
                        by=by,
                        engine=engine,
                        workers=workers,
                        level=out.split.level if by == "zone" else "-",
                        wall_s=out.wall_s,
                        slowest_part_s=max(r.wall_s for r in out.parts),
                        cost=plan.objective.cost_per_hour,
                        gap_to_whole=_gap(plan.objective.cost_per_hour, cost),
                        gap_to_bound=_gap(plan.objective.cost_per_hour, bound),
                        unplaced_priority=plan.objective.unplaced_priority,
                        hard_shortfall=plan.objective.hard_shortfall,
                        parts_failed=sum(r.plan is None for r in out.parts),
                        checker="passed" if not out.violations else str(out.violations[0]),
                        load_average=load,
                    )
                )
                if progress is not None:
                    progress(runs[-1])
    return PartitionResult(instance.nodes, instance.workloads, fill, mix, time_limit, bound, runs)


def _gap(value: float, reference: float | None) -> float | None:
    if reference is None or reference == 0:
        return None
    return (value - reference) / abs(reference)


def partition_table(result: PartitionResult) -> str:
    lines = [
        "| plan | parts | engine | cut along | wall s | slowest part s | load avg | cost $/h |"
        " vs whole | vs whole bound | unplaced priority | required short | checker |",
        "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in result.runs:
        lines.append(
            f"| {r.by} | {r.parts} | {r.engine} | {r.level} | {r.wall_s:.2f} |"
            f" {r.slowest_part_s:.2f} | {r.load_average:.2f} | {r.cost:,.2f} |"
            f" {_percent(r.gap_to_whole)} | {_percent(r.gap_to_bound)} |"
            f" {r.unplaced_priority:,.0f} | {r.hard_shortfall:,.0f} | {r.checker} |"
        )
    return "\n".join(lines)


def _percent(gap: float | None) -> str:
    if gap is None:
        return "-"
    return "0 %" if abs(gap) < 5e-6 else f"{gap * 100:+.3f} %"
