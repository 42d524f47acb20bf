"""``allocator bench ladder``: synthetic fleets of growing size, one backend at a time.

Each (size, backend) runs in its own process (``allocator.bench.child``), so its peak
memory is its own: the resident set of that process and of any solver process it
started. A backend that does not finish at one size within twice the time limit plus a
minute is killed, and skipped at the larger sizes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from allocator.bench.child import ChildRun, run_child
from allocator.bench.instances import LadderInstance
from allocator.bench.planstats import PlanStats, plan_stats_from_dict
from allocator.io.progress import PROGRESS

SOLVERS = ("highs", "cbc", "cpsat", "greedy")
SIZES = (100, 1000, 10000)


@dataclass(frozen=True)
class LadderRun:
    """One (size, backend) run. ``outcome`` is ok, failed, timed out or skipped."""

    nodes: int
    workloads: int
    solver: str
    outcome: str
    reason: str
    plan: PlanStats | None
    objective: float | None  # the last level (cost $/h)
    bound: float | None  # of the last level
    gap: float | None  # the largest relative gap over all levels; None where one has no bound
    peak_rss_mib: float  # the process and any solver process it ran
    process_s: float  # the whole child process: interpreter start, generation, planning
    planner_fingerprint: str | None
    load_average: float = 0.0  # 1-minute load average of the machine when the run started


@dataclass(frozen=True)
class LadderResult:
    fill: float
    time_limit: float
    runs: list[LadderRun]
    gap: float = 1e-6  # relative gap at which a level counts as solved


def run_ladder(
    sizes: Sequence[int] = SIZES,
    solvers: Sequence[str] = SOLVERS,
    fill: float = 0.9,
    time_limit: float = 60.0,
    seed: int = 0,
    progress: Callable[[LadderRun], None] | None = None,
    gap: float = 1e-6,
    mix: str = "plain",
) -> LadderResult:
    """Plan every size with every backend; sizes in increasing order. ``gap`` is the
    relative gap at which each level stops (the planner's default proves optimality);
    ``mix`` "hard" adds gangs, spread and shared GPUs to the fleets."""
    runs: list[LadderRun] = []
    gave_up: dict[str, str] = {}
    for nodes in sorted(sizes):
        instance = LadderInstance.of_size(nodes, fill, seed, mix)
        for solver in solvers:
            PROGRESS.task(f"{nodes:,} nodes, {solver} (in a child process)")
            if solver in gave_up:
                run = _skipped(instance, solver, gave_up[solver])
            else:
                load = os.getloadavg()[0]
                child = run_child(
                    "ladder",
                    {
                        "instance": instance.as_params(),
                        "solver": solver,
                        "time_limit": time_limit,
                        "gap": gap,
                    },
                    timeout=2 * time_limit + 60,
                )
                run = replace(_read(instance, solver, child), load_average=load)
                if run.outcome == "timed out" or "out of memory" in run.reason:
                    gave_up[solver] = f"{run.outcome} at {nodes:,} nodes ({run.reason})"
            runs.append(run)
            if progress is not None:
                progress(run)
    return LadderResult(fill, time_limit, runs, gap)


def _read(instance: LadderInstance, solver: str, child: ChildRun) -> LadderRun:
    last = child.last or {}
    plan = plan_stats_from_dict(last["plan"]) if "plan" in last else None
    if plan is not None and child.ok:
        outcome, reason = "ok", ""
    elif child.timed_out:
        outcome, reason = "timed out", f"killed after {child.wall_s:.0f} s"
    else:
        outcome = "failed"
        reason = last.get("error") or _last_line(child.stderr_tail) or f"exit {child.returncode}"
    return LadderRun(
        nodes=instance.nodes,
        workloads=instance.workloads,
        solver=solver,
        outcome=outcome,
        reason=reason,
        plan=plan,
        objective=plan.final.value if plan else None,
        bound=plan.final.bound if plan else None,
        gap=plan.worst_gap if plan else None,
        peak_rss_mib=child.peak_rss_mib,
        process_s=child.wall_s,
        planner_fingerprint=last.get("planner_fingerprint"),
    )


def _skipped(instance: LadderInstance, solver: str, why: str) -> LadderRun:
    return LadderRun(
        nodes=instance.nodes,
        workloads=instance.workloads,
        solver=solver,
        outcome="skipped",
        reason=why,
        plan=None,
        objective=None,
        bound=None,
        gap=None,
        peak_rss_mib=0.0,
        process_s=0.0,
        planner_fingerprint=None,
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
