"""Improve a level's placement by re-solving a few node groups at a time.

Over a pool that column generation grew, the level's MIP has an LP bound it cannot raise
(the pool's LP is the bound of every pattern) and a large optimal face, so a whole-model
branch and bound spends its time in the root and in its own sub-MIP heuristics. What
improves the plan instead is a large-neighbourhood search over node groups: hold the
pattern counts of every group but k at the incumbent's, release some of the nodes of the
k groups left free (they may take any pattern of their group, and every workload's
replicas may go anywhere), solve that MIP and keep the result if it is better. Any
improvement it finds is feasible for the whole model, because it is the whole model with
some columns bounded.

How many nodes a neighbourhood releases adapts to what its MIP can solve in SUB_LIMIT_S:
a share of each freed group's nodes in use, drawn at random, that grows after a
neighbourhood solved to the end without a better plan and shrinks after one that ran out
of time. Whole large groups (hundreds of nodes) give MIPs that a second does not solve;
part of several groups at once lets replicas move along chains of groups that a pair
cannot hold.

Sets of groups are visited in a random order (seeded, so a run can be repeated); when a
whole cycle of them, with whole groups released, improves nothing, the neighbourhoods grow
by one group, up to all groups but one. Where rules tie many groups together (storage
reads, sites, power), no few groups can move alone: the planner runs the whole MIP beside
this search (`strategy`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from allocator.model.formulation import Formulation
from allocator.model.problem import Problem
from allocator.solve.deadline import Deadline
from solvers.base import Solution, SolveOptions, Solver, Status

FEWEST_GROUPS = 3  # to search: a pair of groups to free and one to hold
FIRST_SIZE = 4  # groups freed per neighbourhood at first (fewer where there are fewer)
# The share of each freed group's nodes in use that a neighbourhood releases: it starts
# at FIRST_SHARE, grows by GROW after each neighbourhood solved to the end without a better
# plan and shrinks by SHRINK after each that ran out of time; at 1, whole groups are freed.
FIRST_SHARE = 0.1
LEAST_SHARE = 0.01
GROW, SHRINK = 1.25, 1.5
SUB_LIMIT_S = 1.0  # most seconds one neighbourhood's MIP may take
# A MIP may end a few tenths of a second past its limit (HiGHS, on `gpuspec20`: 0.2 s
# past 1 s, 0.56 s past 0.38 s), so a neighbourhood (and the level's whole MIP) stops
# this long before the deadline,
MARGIN_S = 0.25
# and a neighbourhood gets at most half of the time left less that (one ran 1 s past its
# 1 s limit, `gpuspec20` seed 49; one 0.9 s past 0.52 s, `gpushare100` seed 48), and is
# left behind at twice its limit, so that it ends (or is left) before the deadline; it
# starts only where that is at least LEAST_SUB_S. The whole MIP beside the search goes on
# to its own limit.
LEAST_SUB_S = 0.5


@dataclass(frozen=True)
class SearchResult:
    """The best columns found (the start when nothing improved) and how the search went."""

    x: np.ndarray
    objective: float
    improved: int  # neighbourhoods that improved the incumbent
    tried: int
    size: int  # groups the last neighbourhoods freed
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
    progress: Callable[[np.ndarray, float], None] | None = None,
    shared: Callable[[], tuple[np.ndarray, float] | None] | None = None,
) -> SearchResult:
    """Improve `start` (columns of `problem`, feasible) until `deadline`, until `done`
    accepts its objective (within the gap asked for of the bound), or until no set of all
    groups but one improves it. `shared` gives the best solution another search found so
    far (columns, objective), which this one goes on from where it is better."""
    patterns = form.patterns.slice
    group = form.pool.group
    groups = np.unique(group)
    x = start.copy()
    best = float(problem.cost @ x + problem.offset)
    rng = np.random.default_rng(options.seed)
    improved = tried = adopted = 0
    solver = backend.name
    size, share = first_size(len(groups)), FIRST_SHARE
    while size < len(groups):
        failures = 0
        for free in _neighbourhoods(form, groups, size, rng):
            left = deadline.left(0.0)
            assert left is not None  # the search runs under a time limit
            limit = min((left - MARGIN_S) / 2, SUB_LIMIT_S)
            if limit < LEAST_SUB_S or done(best):
                return SearchResult(x, best, improved, tried, size, solver, adopted)
            offered = shared() if shared is not None else None
            if offered is not None and offered[1] < best - 1e-9 * max(1.0, abs(best)):
                x, best = offered[0].copy(), offered[1]
                adopted += 1
                failures = 0
            lo, hi = problem.col_lo.copy(), problem.col_hi.copy()
            lo[patterns] = _held(x[patterns], group, free, share, rng)
            hi[patterns] = np.where(np.isin(group, free), hi[patterns], x[patterns])
            solution = backend.solve(
                replace(problem, col_lo=lo, col_hi=hi),
                replace(
                    options,
                    time_limit=limit,
                    warm_start=x,
                    progress=None,
                    log=None,
                    # one that runs on past its limit is left behind at twice it, still
                    # MARGIN_S before the deadline
                    grace_s=limit,
                ),
            )
            tried += 1
            solver = solution.solver
            candidate = better_columns(problem, _columns(solution), best)
            if candidate is not None:
                x, best = candidate
                improved += 1
                failures = 0
                if progress is not None:
                    progress(x, best)
            elif solution.status != Status.OPTIMAL:
                share = max(share / SHRINK, LEAST_SHARE)  # too large to solve in time
            elif share < 1.0:
                share = min(share * GROW, 1.0)  # solved, and nothing better in it
            else:
                failures += 1
                if failures >= math.comb(len(groups), size):
                    break  # a whole cycle without improvement: grow the neighbourhoods
        size += 1
    return SearchResult(x, best, improved, tried, size - 1, solver, adopted)


def first_size(n_groups: int) -> int:
    """Groups freed per neighbourhood at first, among `n_groups`: one stays held."""
    return min(FIRST_SIZE, n_groups - 1)


def _held(
    counts: np.ndarray, group: np.ndarray, free: np.ndarray, share: float, rng: np.random.Generator
) -> np.ndarray:
    """Lower bounds on the pattern counts `counts` (one per pattern column, of node
    groups `group`): every count of the groups not in `free`; in each group of `free`,
    the counts less a random `share` of its nodes in use (at least one where any is),
    drawn alike from all of them. The nodes released, with the group's idle ones, may take
    any pattern."""
    held = np.round(counts).astype(np.int64)
    for g in free:
        mine = np.flatnonzero(group == g)
        in_use = int(held[mine].sum())
        released = math.ceil(share * in_use - 1e-9)  # one at least, all at most (share <= 1)
        held[mine] -= rng.multivariate_hypergeometric(held[mine], released)
    return held.astype(float)


def _neighbourhoods(
    form: Formulation, groups: np.ndarray, size: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Sets of `size` groups, each once per cycle, cycle after cycle (drawn at random where
    there are too many to list). Each cycle is a random order weighted by how many
    workloads could move between the set's groups (Efraimidis and Spirakis: sort by
    u ** (1 / weight)), so that on a fleet where workloads name their GPU types the groups
    that can trade replicas are freed together first."""
    if math.comb(len(groups), size) > 10_000:
        while True:
            yield rng.choice(groups, size=size, replace=False)
    runs_on = np.zeros((int(form.pair_w.max(initial=-1)) + 1, len(form.pool.complete)), bool)
    runs_on[form.pair_w, form.pair_g] = True
    combos = np.array(list(itertools.combinations(groups.tolist(), size)))
    shared = (runs_on[:, combos].sum(axis=2) >= 2).sum(axis=0)  # workloads per set
    weight = shared + 1.0
    while True:
        for k in np.argsort(-(rng.random(len(combos)) ** (1.0 / weight))):
            yield combos[k]


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
