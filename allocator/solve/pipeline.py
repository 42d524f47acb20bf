"""The whole job for one inventory: load, plan, decode, explain, verify.

This is what the CLI and batch runs call. No plan leaves it unchecked: the independent
checker runs on the plan file exactly as it will be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from allocator.domain.build import build_domain
from allocator.domain.tables import Domain
from allocator.evaluate.check import Violation, check_plan
from allocator.evaluate.levels import level_values
from allocator.inventory.load import load_inventory
from allocator.inventory.schema import Inventory, expanded_node_ids, row_id
from allocator.io.errors import ExitCode, InputError, InputProblem
from allocator.model.reduce import reduce
from allocator.output.plan import (
    InventoryRef,
    LevelReport,
    PlanFile,
    SolverReport,
    load_plan,
    row_key,
    sha256_of,
)
from allocator.output.planfile import plan_file
from allocator.solve.strategy import PlanningResult, plan
from solvers.base import Solution, SolveOptions, Status


@dataclass
class SolveOutcome:
    domain: Domain
    result: PlanningResult
    plan: PlanFile
    violations: list[Violation]

    @property
    def exit_code(self) -> ExitCode:
        """0 all required replicas placed; 3 proven impossible; 4 not found in time."""
        if self.violations:
            return ExitCode.INTERNAL
        if self.result.hard_shortfall > 0:
            return ExitCode.UNPLACED if self.result.shortfall_proven else ExitCode.NO_PLAN
        return ExitCode.OK


def load_domain(path: str | Path) -> Domain:
    return build_domain(load_inventory(path), name=Path(path).stem)


def solve_file(
    path: str | Path,
    solver: str = "auto",
    options: SolveOptions | None = None,
    current_plan: str | Path | None = None,
) -> SolveOutcome:
    """Plan an inventory file; with `current_plan`, what runs now is that plan's placement
    (instead of the inventory's `current_placement`)."""
    inventory = load_inventory(path)
    if current_plan is not None:
        running = current_from_plan(inventory, current_plan)
        inventory = inventory.model_copy(update={"current_placement": running})
    domain = build_domain(inventory, name=Path(path).stem)
    ref = InventoryRef(name=domain.name, path=str(path), sha256=sha256_of(path))
    return solve_domain(domain, ref, solver, options)


def current_from_plan(inventory: Inventory, path: str | Path) -> dict[str, list[str]]:
    """Where a previous plan put each replica, checked against the inventory."""
    plan = load_plan(path)
    rows = {w.id for w in inventory.workloads}
    rows |= {row_id(w.id, v.name) for w in inventory.workloads for v in w.variants}
    nodes = {n for ids in expanded_node_ids(inventory) for n in ids}
    problems: list[InputProblem] = []
    running: dict[str, list[str]] = {}
    for k, p in enumerate(plan.placements):
        if row_key(p) not in rows:
            what = f"variant {p.variant!r} of " if p.variant else ""
            problems.append(
                InputProblem(
                    str(path),
                    f"{what}workload {p.workload!r} is not in the inventory",
                    entry=f"placements[{k}]",
                )
            )
        elif p.node not in nodes:
            problems.append(
                InputProblem(
                    str(path), f"node {p.node!r} is not in the inventory", entry=f"placements[{k}]"
                )
            )
        else:
            running.setdefault(row_key(p), []).append(p.node)
    if problems:
        raise InputError(problems)
    return running


def solve_domain(
    domain: Domain, ref: InventoryRef, solver: str = "auto", options: SolveOptions | None = None
) -> SolveOutcome:
    options = options or SolveOptions()
    result = plan(domain, solver, options)
    written = plan_file(domain, ref, result.placement, solver_report(result, options))
    return SolveOutcome(domain, result, written, check_plan(domain, written))


def solver_report(result: PlanningResult, options: SolveOptions) -> SolverReport:
    """How the plan was found: backend, status, every objective level, timings, size. Each
    level states its value in the plan itself (a later level may improve an earlier one
    that was not proven optimal), with the bound and status its own solve reached."""
    values = level_values(reduce(result.domain), result.placement)
    levels = [
        LevelReport(
            name=lv.name,
            value=value,
            bound=lv.bound,
            gap=_gap(value, lv.bound),
            status=str(lv.status),
            how=lv.how,
        )
        for lv, value in zip(result.levels, values, strict=True)
    ]
    return SolverReport(
        name=result.solver,
        status=str(result.status),
        objective=levels[-1].value,
        bound=levels[-1].bound,
        gap=levels[-1].gap,
        time_limit_s=options.time_limit,
        build_s=result.timings.get("build_s", 0.0),
        column_generation_s=result.timings.get("column_generation_s", 0.0),
        solve_s=result.timings.get("solve_s", 0.0),
        total_s=result.timings.get("total_s", 0.0),
        levels=levels,
        model=result.size,
        notes=result.notes,
    )


def _gap(value: float, bound: float | None) -> float | None:
    return Solution(Status.FEASIBLE, "", objective=value, bound=bound).gap
