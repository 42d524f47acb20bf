"""Column generation: grow the pattern pool of groups whose patterns are too many to list.

Solve the LP over the current pool, read the value of a slot of each shape in each
group from its duals, and ask each incomplete group's pricing problem for a node pattern
worth more than the node costs; add those and repeat. When no group has one, the LP is
optimal over every pattern there is, so its objective bounds the MIP. When time runs out
first, the Lagrangian bound LP + sum over groups of (group size x most negative reduced
cost, bounded through the pricing MIPs' own bounds) is still valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocator.build.master import Formulation
from allocator.build.patterns import PatternPool, shape_bounds
from allocator.build.pricing import pricing_problem, read_pattern
from allocator.build.reduce import PackingInstance
from allocator.problem import Problem
from solvers import registry
from solvers.base import SolveOptions, SolverError

_EPS = 1e-7


@dataclass
class ColumnGeneration:
    pool: PatternPool
    bound: float | None  # valid lower bound of the level over every pattern
    converged: bool
    rounds: int
    lp_s: float
    pricing_s: float


def generate_columns(
    inst: PackingInstance,
    pool: PatternPool,
    level_problem: Callable[[PatternPool], tuple[Formulation, Problem]],
    deadline: float | None,
    max_rounds: int = 200,
) -> ColumnGeneration:
    """Extend `pool` until the LP of `level_problem(pool)` cannot improve (or time runs out)."""
    lp_solver = registry.get("highs")
    bounds = shape_bounds(inst)
    incomplete = np.flatnonzero(~pool.complete & (bounds.sum(axis=1) > 0))
    lp_s = pricing_s = 0.0
    bound = None
    for rounds in range(1, max_rounds + 1):
        form, problem = level_problem(pool)
        started = time.perf_counter()
        lp = lp_solver.solve(problem.with_lp_relaxation(), SolveOptions(time_limit=_left(deadline)))
        lp_s += time.perf_counter() - started
        if lp.duals is None or lp.objective is None:
            raise SolverError(f"column generation: the LP ended {lp.status}")
        slot_dual = np.zeros((len(inst.groups), len(inst.shapes)))
        slot_dual[form.slot_g, form.slot_s] = lp.duals[problem.row_block("slots").slice]
        node_dual = lp.duals[problem.row_block("nodes").slice]
        started = time.perf_counter()
        found, lagrangian = [], 0.0
        for g in incomplete:
            value = np.maximum(-slot_dual[g], 0.0)
            threshold = -node_dual[g]
            pricing = pricing_problem(inst, g, value, bounds[g])
            result = registry.get("highs").solve(
                pricing.problem, SolveOptions(time_limit=_left(deadline, cap=30.0))
            )
            if result.x is not None and -result.objective > threshold + _EPS:
                found.append((g, read_pattern(pricing, result.x, len(inst.shapes))))
            best_possible = -result.bound if result.bound is not None else np.inf
            lagrangian += inst.groups.count[g] * min(0.0, threshold - best_possible)
        pricing_s += time.perf_counter() - started
        bound = lp.objective + lagrangian
        if not found:
            return ColumnGeneration(pool, lp.objective, True, rounds, lp_s, pricing_s)
        for g, (whole, gpu_configs, configs) in found:
            pool = pool.with_patterns(np.array([g]), whole, gpu_configs, configs)
        if deadline is not None and time.perf_counter() >= deadline:
            break
    return ColumnGeneration(pool, bound, False, rounds, lp_s, pricing_s)


def _left(deadline: float | None, cap: float | None = None) -> float | None:
    if deadline is None:
        return cap
    left = max(deadline - time.perf_counter(), 0.05)
    return min(left, cap) if cap else left
