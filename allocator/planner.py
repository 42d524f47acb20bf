"""From a domain to a verified-ready placement: reduce, build, solve level by level, decode.

Objectives are solved lexicographically: each level is minimized, then held at its
value while the next is minimized. A greedy placement is always computed first; it
warm-starts the solver, proves easy levels optimal without a solve, and is what
remains if the solver finds nothing better in time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from allocator.build.decode import columns_from_placement, placement_from_columns
from allocator.build.master import Formulation, build_formulation
from allocator.build.patterns import PatternPool, enumerate_pool, patterns_of_placement
from allocator.build.reduce import PackingInstance, reduce
from allocator.domain import Domain
from allocator.evaluate import level_values
from allocator.heuristics import RULES, greedy_placement
from solvers import registry
from solvers.base import Capability, Solution, SolveOptions, SolverError, Status


@dataclass(frozen=True)
class LevelOutcome:
    name: str
    value: float
    bound: float | None
    status: Status
    wall_s: float
    how: str  # "solver", "warm start meets bound", "no time left", "heuristic"

    @property
    def gap(self) -> float | None:
        return Solution(self.status, "", objective=self.value, bound=self.bound).gap


@dataclass
class PlanningResult:
    domain: Domain
    placement: sp.csr_array  # (nodes x workloads) replica counts
    solver: str
    status: Status
    levels: list[LevelOutcome]
    timings: dict[str, float] = field(default_factory=dict)
    size: dict[str, int | bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log_tail: str = ""

    @property
    def final(self) -> LevelOutcome:
        return self.levels[-1]

    @property
    def hard_shortfall(self) -> float:
        return self.levels[0].value

    @property
    def shortfall_proven(self) -> bool:
        return self.levels[0].status == Status.OPTIMAL


def plan(
    domain: Domain, solver: str = "auto", options: SolveOptions | None = None
) -> PlanningResult:
    """Plan a placement. Raises SolverError when the named backend is unknown or missing."""
    options = options or SolveOptions()
    started = time.perf_counter()
    backend = registry.get(solver)
    inst = reduce(domain)
    seeds = [greedy_placement(inst, rule) for rule in RULES]
    incumbent = min(seeds, key=lambda p: level_values(inst, p))
    if Capability.HEURISTIC in backend.capabilities:
        return _plan_heuristic(inst, backend, options, seeds, started)

    pool = enumerate_pool(inst)
    for seed in seeds:
        pool = pool.with_patterns(*patterns_of_placement(inst, seed))
    form = build_formulation(inst, pool)
    built = time.perf_counter()
    x = columns_from_placement(form, incumbent)
    assert x is not None, "seed patterns are always in the pool"

    deadline = None if options.time_limit is None else started + options.time_limit
    levels, x, notes, log_tail, used = _solve_levels(form, backend, options, x, deadline)
    placement = placement_from_columns(form, x)
    decoded = level_values(inst, placement)
    if not np.allclose(decoded, [lv.value for lv in levels], rtol=1e-9, atol=1e-6):
        raise SolverError(
            f"decoded placement scores {decoded}, model said {[lv.value for lv in levels]}"
        )
    status = (
        Status.OPTIMAL if all(lv.status == Status.OPTIMAL for lv in levels) else Status.FEASIBLE
    )
    finished = time.perf_counter()
    return PlanningResult(
        domain=domain,
        placement=placement,
        solver=used,
        status=status,
        levels=levels,
        timings={
            "build_s": built - started,
            "solve_s": finished - built,
            "total_s": finished - started,
        },
        size=_size(inst, pool, form),
        notes=notes,
        log_tail=log_tail,
    )


def _solve_levels(
    form: Formulation,
    backend: object,
    options: SolveOptions,
    x: np.ndarray,
    deadline: float | None,
) -> tuple[list[LevelOutcome], np.ndarray, list[str], str, str]:
    problem = form.problem
    outcomes: list = []
    notes: list[str] = []
    log_tail = ""
    used = backend.name
    for k, level in enumerate(form.levels):
        level_started = time.perf_counter()
        current = level.value(x)
        trivial = 0.0 if level.name in ("hard_shortfall", "unplaced_priority") else None
        if trivial is not None and current <= trivial + 1e-9:
            outcomes.append(
                LevelOutcome(
                    level.name, current, trivial, Status.OPTIMAL, 0.0, "warm start meets bound"
                )
            )
        elif deadline is not None and time.perf_counter() >= deadline:
            outcomes.append(
                LevelOutcome(level.name, current, None, Status.FEASIBLE, 0.0, "no time left")
            )
        else:
            remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
            solution = backend.solve(
                problem.with_objective(level.cost, level.offset),
                replace(options, time_limit=remaining, warm_start=x),
            )
            used = solution.solver if backend.name == "auto" else backend.name
            log_tail = solution.log_tail
            x, value, how = _accept(problem, level, solution, x, notes)
            status = solution.status if solution.status.has_solution else Status.FEASIBLE
            outcomes.append(
                LevelOutcome(
                    level.name,
                    value,
                    solution.bound,
                    status,
                    time.perf_counter() - level_started,
                    how,
                )
            )
        if k < len(form.levels) - 1:
            value = level.value(x)
            hi = value + 0.5 if level.integral else value + 1e-9 * max(1.0, abs(value))
            row = sp.csr_array(level.cost.reshape(1, -1))
            problem = problem.with_rows(
                row, np.array([-np.inf]), np.array([hi - level.offset]), f"keep_{level.name}"
            )
    if isinstance(backend, registry.AutoSolver):
        notes.extend(f"auto skipped {failure}" for failure in backend.failures)
    return outcomes, x, notes, log_tail, used


def _accept(problem, level, solution: Solution, x: np.ndarray, notes: list[str]):
    """Take the solver's columns if they are feasible and no worse than the incumbent."""
    current = level.value(x)
    if not solution.status.has_solution or solution.x is None:
        notes.append(
            f"{level.name}: {solution.solver} returned {solution.status}; kept the warm start"
        )
        return x, current, "warm start kept"
    candidate = np.where(problem.integer, np.round(solution.x), solution.x)
    broken = problem.violations(candidate)
    if broken:
        notes.append(f"{level.name}: {solution.solver} solution rejected: {broken[0]}")
        return x, current, "warm start kept"
    value = level.value(candidate)
    if value > current + 1e-9 * max(1.0, abs(current)):
        return x, current, "warm start kept"
    return candidate, value, "solver"


def _plan_heuristic(
    inst: PackingInstance, backend: object, options: SolveOptions, seeds: list, started: float
) -> PlanningResult:
    pool = PatternPool(
        np.zeros(0, dtype=np.int64),
        np.zeros((0, len(inst.shapes)), dtype=np.int32),
        np.zeros(len(inst.groups), dtype=bool),
    )
    for seed in seeds:
        pool = pool.with_patterns(*patterns_of_placement(inst, seed))
    form = build_formulation(inst, pool)
    solution = backend.solve(form.problem, options)
    placement = solution.placement
    values = level_values(inst, placement)
    levels = []
    for level, value in zip(form.levels, values, strict=True):
        trivial = level.name in ("hard_shortfall", "unplaced_priority") and value <= 1e-9
        levels.append(
            LevelOutcome(
                level.name,
                value,
                0.0 if trivial else None,
                Status.OPTIMAL if trivial else Status.FEASIBLE,
                solution.wall_s,
                "heuristic",
            )
        )
    finished = time.perf_counter()
    return PlanningResult(
        domain=inst.domain,
        placement=placement,
        solver=backend.name,
        status=Status.FEASIBLE,
        levels=levels,
        timings={"build_s": 0.0, "solve_s": finished - started, "total_s": finished - started},
        size=_size(inst, pool, form),
    )


def _size(inst: PackingInstance, pool: PatternPool, form: Formulation) -> dict[str, int | bool]:
    return {
        "nodes": len(inst.domain.fleet),
        "node_groups": len(inst.groups),
        "workloads": len(inst.domain.demand),
        "shapes": len(inst.shapes),
        "patterns": len(pool),
        "columns": form.problem.n_cols,
        "rows": form.problem.n_rows,
        "nonzeros": int(form.problem.a.nnz),
        "all_patterns": bool(pool.complete.all()),
    }
