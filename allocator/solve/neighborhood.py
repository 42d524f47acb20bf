"""Improve a level's placement by re-solving a few node groups at a time.

Over a pool that column generation grew, the level's MIP has an LP bound it cannot raise
(the pool's LP is the bound of every pattern) and a large optimal face, so a whole-model
branch and bound spends its time in the root and in its own sub-MIP heuristics. What
improves the plan instead is a large-neighbourhood search: hold the pattern counts of
most node groups at the incumbent's, solve the MIP over the patterns left free (and where
every workload's replicas go, still free everywhere), keep the result if it is better.
Any improvement is feasible for the whole model, because it is the whole model with some
columns fixed.

A neighbourhood frees whole groups, drawn one after another with a preference for groups
that share workloads with those already drawn (they can trade replicas), until a budget of
free patterns is spent; the group that does not fit whole gives the patterns the incumbent
runs on its nodes (they can give their nodes back) and random others. The budget adapts to
what the backend solves in SUB_LIMIT_S: it grows after a neighbourhood solved to
optimality in a fraction of that, and shrinks after one the limit stopped. Sizing by
groups instead fails both ways on `gpuspec20`: most pairs of groups are solved in under
0.1 s and improve nothing, while a pair holding its largest group (600 to 1,000 patterns)
runs twice its limit in the root's cut loop. Where rules tie many groups together
(storage reads, sites, power), no few groups can move alone: the planner runs the whole
MIP beside this search (`strategy`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from allocator.model.formulation import Formulation
from allocator.model.problem import Problem
from allocator.solve.deadline import Deadline
from solvers.base import Solution, SolveOptions, Solver, Status

FIRST_PATTERNS = 400  # patterns a neighbourhood frees at first (at most half the pool)
LEAST_PATTERNS = 50  # ... and never fewer
# A neighbourhood solved to optimality within a quarter of SUB_LIMIT_S grows the budget by
# GROW, one stopped by its limit shrinks it by SHRINK.
GROW, SHRINK = 1.3, 0.7
SUB_LIMIT_S = 1.0  # most seconds one neighbourhood's MIP may take
# A MIP may end a few tenths of a second past its limit (HiGHS, on `gpuspec20`: 0.2 s
# past 1 s, 0.56 s past 0.38 s), so a neighbourhood (and the level's whole MIP) stops
# this long before the deadline,
MARGIN_S = 0.25
# and a neighbourhood starts only with this much time left for itself: one ran 1 s
# past its 1 s limit (`gpuspec20` seed 49). The whole MIP beside the search goes on to
# its own limit.
LEAST_SUB_S = 2.0


@dataclass(frozen=True)
class SearchResult:
    """The best columns found (the start when nothing improved) and how the search went."""

    x: np.ndarray
    objective: float
    improved: int  # neighbourhoods that improved the incumbent
    tried: int
    most_free: int  # the most patterns a neighbourhood freed
    solver: str  # the backend that solved the neighbourhoods, by the name it reports
    adopted: int = 0  # solutions of another search taken over, better than this one's


def search_groups(
    problem: Problem,
    form: Formulation,
    start: np.ndarray,
    backend: Solver,
    options: SolveOptions,
    deadline: Deadline,
    done: Callable[[float], bool] = lambda value: False,
    found: Callable[[np.ndarray, float], None] | None = None,
    shared: Callable[[], tuple[np.ndarray, float] | None] | None = None,
) -> SearchResult:
    """Improve `start` (columns of `problem`, feasible) until `deadline`, until `done`
    accepts its objective (within the gap asked for of the bound), or until a neighbourhood
    that frees every pattern is solved to optimality. Each better solution goes to `found`
    (columns, objective); `shared` gives the best solution any search found so far, which
    this one goes on from where it is better."""
    patterns = form.patterns.slice
    n_patterns = patterns.stop - patterns.start
    x = start.copy()
    best = float(problem.cost @ x + problem.offset)
    rng = np.random.default_rng(options.seed)
    trading = _trading(form)
    budget = float(max(min(FIRST_PATTERNS, n_patterns // 2), min(LEAST_PATTERNS, n_patterns)))
    improved = tried = adopted = most_free = 0
    solver = backend.name
    while True:
        left = deadline.left(0.0)
        assert left is not None  # the search runs under a time limit
        if left < MARGIN_S + LEAST_SUB_S or done(best):
            break
        offered = shared() if shared is not None else None
        if offered is not None and offered[1] < best - 1e-9 * max(1.0, abs(best)):
            x, best = offered[0].copy(), offered[1]
            adopted += 1
        free = free_patterns(form, x[patterns], int(budget), trading, rng)
        most_free = max(most_free, int(free.sum()))
        lo, hi = problem.col_lo.copy(), problem.col_hi.copy()
        lo[patterns] = np.where(free, lo[patterns], x[patterns])
        hi[patterns] = np.where(free, hi[patterns], x[patterns])
        started = time.perf_counter()
        solution = backend.solve(
            replace(problem, col_lo=lo, col_hi=hi),
            replace(
                options,
                time_limit=min(left - MARGIN_S, SUB_LIMIT_S),
                warm_start=x,
                progress=None,
                log=None,
            ),
        )
        quick = time.perf_counter() - started < SUB_LIMIT_S / 4
        tried += 1
        solver = solution.solver
        proven = solution.status == Status.OPTIMAL
        if proven and quick:
            budget = min(budget * GROW, n_patterns)
        elif not proven:
            budget = max(budget * SHRINK, min(LEAST_PATTERNS, n_patterns))
        candidate = better_columns(problem, _columns(solution), best)
        if candidate is not None:
            x, best = candidate
            improved += 1
            if found is not None:
                found(x, best)
        elif proven and free.all():
            break  # the incumbent is optimal over the whole pool
    return SearchResult(x, best, improved, tried, most_free, solver, adopted)


def free_patterns(
    form: Formulation,
    counts: np.ndarray,
    budget: int,
    trading: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Which patterns a neighbourhood frees (a mask over the pool): whole groups while
    `budget` lasts, drawn one after another with weight 1 + the workloads each shares with
    the groups drawn before (`trading`, groups x groups); then, of the first group that
    does not fit whole, the patterns `counts` (the incumbent's) uses and random others up
    to the budget."""
    group = form.pool.group
    free = np.zeros(len(group), dtype=bool)
    drawn = np.zeros(trading.shape[0], dtype=bool)
    present = np.bincount(group, minlength=trading.shape[0]) > 0
    weight = present.astype(np.float64)
    left = budget
    while left > 0 and (weight > 0).any():
        g = int(rng.choice(len(weight), p=weight / weight.sum()))
        drawn[g] = True
        mine = np.flatnonzero(group == g)
        if len(mine) <= left:
            free[mine] = True
            left -= len(mine)
        else:
            used = counts[mine] > 0.5
            free[mine[used]] = True
            others = mine[~used]
            take = min(len(others), max(left - int(used.sum()), 0))
            free[rng.choice(others, size=take, replace=False)] = True
            break
        weight = np.where(present & ~drawn, 1.0 + trading[drawn].sum(axis=0), 0.0)
    return free


def _trading(form: Formulation) -> np.ndarray:
    """Workloads that could run on both of each pair of groups (groups x groups)."""
    runs_on = np.zeros((int(form.pair_w.max(initial=-1)) + 1, len(form.pool.complete)))
    runs_on[form.pair_w, form.pair_g] = 1.0
    return runs_on.T @ runs_on


def better_columns(
    problem: Problem, x: np.ndarray | None, best: float
) -> tuple[np.ndarray, float] | None:
    """Columns `x` (a solver's, or none) made whole, and their objective, where they are
    feasible and better than `best` (any, where `best` is infinite)."""
    if x is None or len(x) != problem.n_cols:
        return None
    x = np.where(problem.integer, np.round(x), x)
    value = float(problem.cost @ x + problem.offset)
    if math.isfinite(best) and value >= best - 1e-9 * max(1.0, abs(best)):
        return None
    return None if problem.violations(x) else (x, value)


def _columns(solution: Solution) -> np.ndarray | None:
    return solution.x if solution.status.has_solution else None
