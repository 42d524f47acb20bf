"""Column generation: grow the pattern pool of groups whose patterns are too many to list.

Solve the LP over the current pool, read the value of a slot of each shape in each group
from its duals, and ask each incomplete group's pricing problem for a node pattern worth
more than the node costs; add those and repeat. When no group has one, the LP is optimal
over every pattern there is, so its objective bounds the MIP. Each round's LP starts from
the last round's simplex basis, extended to the new patterns, where the backend keeps one
(a few hundred pivots of the primal simplex instead of a few thousand).

Each round bounds every group's best pattern from above by dynamic programming
(`allocator.model.pricing_bound`, milliseconds per group) and takes the patterns its
Lagrangian relaxation suggests, made to fit (`pricing.relaxed_patterns`); the pricing MIP
runs only for the groups where those are not worth more than the node but the bound leaves
room, most promising first, until a few groups gave patterns. Priced at the simplex's
vertex duals, all of this takes a fraction of its time at central duals (an interior
point's, from the middle of the optimal face): many more shapes are worth nothing at a
vertex, and the rounds are about as many. The pricing MIP only has to find a few patterns
worth more than the node, or prove there is none: a constraint-programming backend does
that several times faster than a branch-and-bound one, so it goes first where installed,
with the duals rounded up to a decimal grid (a pattern ruled out at rounded-up values is
ruled out at the true ones), and every improving solution it meets on the way becomes a
column. A pattern already in the pool never counts as new: one that runs on every node of
its group sits at its upper bound and may look improving at duals where the LP is optimal.
The same upper bounds give, at any round, the Lagrangian bound LP + sum over groups of
(group size x most negative reduced cost); generation stops once the LP is within
_GAP of it, or when time runs out, with the best such bound.

Vertex duals zig-zag: a round's patterns fit its duals and are worth little at the next
round's. So in a round that does not raise the bound, the relaxation's patterns are also
taken at a mix, SMOOTHING x the duals that gave the best bound so far (the centre) +
(1 - SMOOTHING) x the LP's own (Wentges smoothing), beside the pricing at the LP's own
duals above, MIP included. The bound and the proof that no pattern is left are always at
the LP's own duals. On `gpuspec20` that halves the rounds of the slowest seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from allocator.io.progress import PROGRESS
from allocator.model.formulation import Formulation
from allocator.model.patterns import PatternPool, shape_bounds
from allocator.model.pricing import (
    pricing_problem,
    read_pattern,
    relaxed_patterns,
)
from allocator.model.pricing_bound import PatternBound
from allocator.model.problem import Basis, Problem
from allocator.model.reduce import PackingInstance
from solvers.base import Capability, SolveOptions, Solver, SolverError, Status

if TYPE_CHECKING:
    from allocator.solve.deadline import Deadline

# A pattern improves the LP when it is worth more than its node's dual by this much
# (relative); solvers' feasibility tolerances are around 1e-6, so anything smaller would
# take back patterns the pool already has.
_IMPROVES = 1e-5
# Stop when the LP is this close (relative) to its Lagrangian bound: more patterns could
# improve the LP by no more than that.
_GAP = 1e-4
# A round calls no more pricing MIPs once this many groups gave patterns, by the
# relaxation or by a MIP (the next LP's duals change what the other groups would find).
_MIP_GROUPS = 3
# A pricing MIP stops after this many improving solutions, each a column: a few good
# columns, no proof.
_PRICING_SOLUTIONS = 3
# ...and at most this long after the first: a search that finds one column quickly and
# then struggles for more (or for a proof) gives the next LP its column now.
_PRICING_AFTER_FIRST_S = 1.0
# Duals go to the pricing MIP rounded up to 10^-k, k at most this, and so that the
# largest stays under 10^_GRID_MAGNITUDE (integer backends scale rows to integers).
_GRID_DIGITS = 6
_GRID_MAGNITUDE = 9
# The relaxation's patterns are also taken at this mix of the duals of the best bound so
# far and the LP's own: vertex duals zig-zag from round to round, and patterns priced
# nearer the centre of that path keep the LP from chasing each swing.
SMOOTHING = 0.5


def _improves(value, threshold):
    """Whether a pattern worth `value` beats its node's `threshold` (scalars or arrays)."""
    return value > threshold + _IMPROVES * np.maximum(1.0, np.abs(threshold))


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
    deadline: Deadline,
    lp_solver: Solver,
    pricing_solvers: Sequence[Solver],
    max_rounds: int = 500,
    pricing_cap: float = 10.0,
    scale: float = 0.0,
) -> ColumnGeneration:
    """Extend `pool` until the LP of `level_problem(pool)` cannot improve by more than _GAP
    of the larger of its value and `scale` (the level's range), or time runs out. The LPs
    go to `lp_solver`, which must report duals; pricing MIPs to the first of
    `pricing_solvers` that takes them, and their LP relaxations, when a MIP stops without an
    answer, to the first that solves LPs."""
    bounds = shape_bounds(inst)
    incomplete = np.flatnonzero(~pool.complete & (bounds.sum(axis=1) > 0))
    upper = {int(g): PatternBound(inst, int(g), bounds[g]) for g in incomplete}
    lp_s = pricing_s = 0.0
    bound = None
    last: tuple[Problem, Basis | None] | None = None
    center: tuple[np.ndarray, np.ndarray] | None = None  # the duals of the best bound yet
    center_bound = -np.inf
    for rounds in range(1, max_rounds + 1):
        PROGRESS.stage(f"column generation round {rounds}")
        form, problem = level_problem(pool)
        problem = problem.with_lp_relaxation()
        started = time.perf_counter()
        # From the last round's basis: the new patterns' columns start out of it, at 0.
        start = None if last is None or last[1] is None else last[1].extended(last[0], problem)
        lp = lp_solver.solve(problem, SolveOptions(time_limit=deadline.left(0.05), basis=start))
        out_of_time = lp.status == Status.TIME_LIMIT or deadline.passed()
        if (lp.duals is None or lp.objective is None) and start is not None and not out_of_time:
            # Stopped short of optimal from the basis with time left: once more from scratch.
            lp = lp_solver.solve(problem, SolveOptions(time_limit=deadline.left(0.05)))
        last = (problem, lp.basis)
        lp_s += time.perf_counter() - started
        if lp.duals is None or lp.objective is None:
            # Out of time mid-LP (a simplex stopped then may hold a feasible point, without
            # duals): keep what there is.
            if lp.status == Status.TIME_LIMIT or deadline.passed():
                return ColumnGeneration(pool, bound, False, rounds, lp_s, pricing_s)
            raise SolverError(f"column generation: the LP ended {lp.status}")
        slot_dual = np.zeros((len(inst.groups), len(inst.shapes)))
        slot_dual[form.slot_g, form.slot_s] = lp.duals[problem.row_block("slots").slice]
        duals = (slot_dual, lp.duals[problem.row_block("nodes").slice])
        started = time.perf_counter()
        # The centre: the duals of the best bound so far, by the DP bounds at the LP's own
        # duals. Where this round's is no better, patterns are also taken at a mix.
        best_possible = _dp_bounds(upper, incomplete, _values(duals))
        bound_here = _lagrangian(lp.objective, inst, incomplete, duals, best_possible)
        found: list = []
        if center is None or bound_here >= center_bound:
            center, center_bound = duals, bound_here
        elif SMOOTHING > 0:
            mixed = _mixed(center, duals, SMOOTHING)
            found = _price(inst, pool, upper, bounds, incomplete, mixed, deadline, 0, ())[0]
        more, at_best, unsettled = _price(
            inst, pool, upper, bounds, incomplete, duals, deadline, pricing_cap, pricing_solvers
        )
        if not unsettled:  # every group ruled out of an improving pattern
            pricing_s += time.perf_counter() - started
            return ColumnGeneration(pool, lp.objective, True, rounds, lp_s, pricing_s)
        found += more
        best_possible = np.minimum(best_possible, at_best)
        bound_here = _lagrangian(lp.objective, inst, incomplete, duals, best_possible)
        bound = _best(bound, bound_here)
        pricing_s += time.perf_counter() - started
        tolerance = _GAP * max(1.0, abs(lp.objective), scale)
        close = lp.objective - bound <= tolerance
        grown = _add_all(pool, found) if found else pool
        if len(grown) == len(pool):
            # Nothing new, though a pricing MIP ran out of time before ruling its group
            # out: the Lagrangian bound is what holds.
            return ColumnGeneration(pool, bound, close, rounds, lp_s, pricing_s)
        if close:  # more patterns would improve the LP by no more than _GAP
            return ColumnGeneration(grown, bound, True, rounds, lp_s, pricing_s)
        pool = grown
        if deadline.passed():
            break
    return ColumnGeneration(pool, bound, False, rounds, lp_s, pricing_s)


def _values(duals: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """What a slot of each shape in each group is worth to a pattern at these duals."""
    return np.maximum(-duals[0], 0.0)


def _mixed(center, duals, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """alpha x the centre (the duals of the best bound) + (1 - alpha) x the LP's duals."""
    return tuple(alpha * c + (1.0 - alpha) * d for c, d in zip(center, duals, strict=True))


def _dp_bounds(upper: dict, incomplete: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each incomplete group's DP bound on its best pattern's worth at `values`."""
    return np.array([upper[int(g)].bound(values[g]) for g in incomplete])


def _lagrangian(objective: float, inst, incomplete, duals, best_possible) -> float:
    """LP + sum over groups of (group size x most negative reduced cost): a lower bound on
    the LP over every pattern, valid at the LP's own duals."""
    shortfall = np.minimum(0.0, -duals[1][incomplete] - best_possible)
    return objective + float(inst.groups.count[incomplete] @ shortfall)


def _price(inst, pool, upper, bounds, incomplete, duals, deadline, cap, solvers):
    """(improving patterns, each incomplete group's bound on its best pattern's worth,
    whether some group may still have one) at `duals`: the DP bounds; the patterns their
    relaxation suggests wherever they leave room; the MIP, most promising group first,
    where those are not worth more than the node, until _MIP_GROUPS groups gave patterns."""
    values, thresholds = _values(duals), -duals[1]
    best_possible = _dp_bounds(upper, incomplete, values)
    room = inst.groups.count[incomplete] * (best_possible - thresholds[incomplete])
    may_improve = _improves(best_possible, thresholds[incomplete])
    found: list = []
    gave = np.zeros(len(incomplete), dtype=bool)
    for i in np.flatnonzero(may_improve):
        g = int(incomplete[i])
        suggested = relaxed_patterns(inst, g, values[g], bounds[g], upper[g].lam)
        better = _new_columns(pool, g, suggested, values[g], thresholds[g])
        found.extend(better)
        gave[i] = bool(better)
    for i in np.argsort(-room, kind="stable") if solvers else ():
        if gave.sum() >= _MIP_GROUPS:
            break
        g = int(incomplete[i])
        if gave[i] or not may_improve[i]:
            continue
        mip_best, parts = _exact_pricing(
            inst, g, values[g], bounds[g], thresholds[g], deadline, cap, solvers
        )
        best_possible[i] = min(best_possible[i], mip_best)
        better = _new_columns(pool, g, parts, values[g], thresholds[g])
        found.extend(better)
        gave[i] = bool(better)
    unsettled = bool(_improves(best_possible, thresholds[incomplete]).any())
    return found, best_possible, unsettled


def _best(bound: float | None, candidate: float) -> float:
    return candidate if bound is None else max(bound, candidate)


def _exact_pricing(
    inst: PackingInstance,
    g: int,
    value: np.ndarray,
    ub: np.ndarray,
    threshold: float,
    deadline: Deadline,
    cap: float,
    solvers: Sequence[Solver],
):
    """(upper bound on the best pattern's worth, improving patterns).

    The MIP only admits patterns worth more than the node costs, so every solution it
    meets on the way is a column; when it is infeasible, none exists.
    """
    at_least = threshold + 2 * _IMPROVES * max(1.0, abs(threshold))
    gridded = _rounded_up(value)
    pricing = pricing_problem(inst, g, gridded, ub, at_least=at_least)
    options = SolveOptions(
        time_limit=deadline.left(0.05, cap),
        threads=1,
        solution_limit=_PRICING_SOLUTIONS,
        after_first_s=_PRICING_AFTER_FIRST_S,
        keep_solutions=True,
    )
    result = None
    for solver in solvers:
        try:
            result = solver.solve(pricing.problem, options)
            break
        except SolverError:  # e.g. a row it cannot take: the next backend
            continue
    if result is not None and result.status == Status.INFEASIBLE:
        return threshold, []
    if result is None or result.x is None:
        # Stopped without an answer: fall back to the LP relaxation's bound, without which
        # nothing bounds the pattern's worth.
        relaxer = next((s for s in solvers if Capability.LP in s.capabilities), None)
        if relaxer is None:
            return np.inf, []
        relaxed = relaxer.solve(
            pricing_problem(inst, g, value, ub).problem.with_lp_relaxation(), SolveOptions()
        )
        return (np.inf if relaxed.objective is None else -relaxed.objective), []
    best = -result.bound if result.bound is not None else np.inf
    return best, [read_pattern(pricing, x, len(inst.shapes)) for x in (*result.earlier, result.x)]


def _rounded_up(value: np.ndarray) -> np.ndarray:
    """Values rounded up to the finest decimal grid (at most 10^-_GRID_DIGITS) on which the
    largest stays below 10^_GRID_MAGNITUDE: a pattern's worth can only grow, so a pattern
    that improves at the true values is still feasible, and a bound still holds."""
    top = float(np.abs(value).max(initial=0.0))
    digits = _GRID_DIGITS if top < 1 else _GRID_MAGNITUDE - 1 - int(np.log10(top))
    scale = 10.0 ** min(_GRID_DIGITS, max(digits, 0))
    return np.ceil(value * scale - 1e-9) / scale + 0.0  # + 0.0: no negative zeros


def _new_columns(
    pool: PatternPool, g: int, patterns: list, value: np.ndarray, threshold: float
) -> list:
    """(g, pattern) for the patterns of group g worth more than `threshold` at `value` that
    the pool does not hold yet (a pattern of the pool may look improving when it already
    runs on every node of its group: its column sits at its upper bound)."""
    out = []
    for parts in patterns:
        counts = _counts(parts)
        if _improves(value @ counts, threshold) and not pool.holds(g, counts):
            out.append((g, parts))
    return out


def _counts(parts: tuple) -> np.ndarray:
    """Shape counts of a pattern given as (whole counts, configuration counts, configurations)."""
    whole, multiplicity, configs = parts
    return whole[0] + multiplicity[0] @ configs


def _add_all(pool: PatternPool, found: list) -> PatternPool:
    """One pool update for all of a round's patterns (their configurations stacked)."""
    n_shapes = pool.counts.shape[1]
    tables = [parts[2] for _, parts in found]
    offsets = np.cumsum([0] + [len(t) for t in tables])
    by_config = np.zeros((len(found), int(offsets[-1])), dtype=np.int64)
    for row, (_, (_, multiplicity, table)) in enumerate(found):
        by_config[row, offsets[row] : offsets[row] + len(table)] = multiplicity[0]
    stacked = np.concatenate(tables) if offsets[-1] else np.zeros((0, n_shapes), dtype=np.int64)
    return pool.with_patterns(
        np.array([g for g, _ in found]),
        np.array([parts[0][0] for _, parts in found]),
        by_config,
        stacked,
    )
