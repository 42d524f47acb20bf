"""From a domain to a placement ready for checking: reduce, build, solve level by level,
decode.

A fleet whose rules count replicas in many alike racks is planned first on a coarse model
that merges the racks, and its plan arranged back into them (`coarse`).

Objectives are solved lexicographically: each level is minimized, then held at its value
while the next is minimized. A greedy placement is always computed first; it warm-starts
the solver, proves easy levels optimal without a solve, and is what remains if the
solver finds nothing better in time. Groups with too many patterns to list get theirs by
column generation, level by level; their bound then comes from the LP over all patterns.
Before each level's MIP its LP is rounded down and completed greedily: a start within the
gap of the LP bound settles the level without a MIP; over generated patterns the MIP runs
beside a search that re-solves a few node groups at a time (`neighborhood`). Every solve
gets the time left of one deadline, and the backends stop at it. Whatever a solve
returns, each level ends with a plan no worse than the warm start it began from.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from allocator.domain.grouping import rank_among_equal
from allocator.domain.replicas import Replicas
from allocator.domain.tables import Domain
from allocator.evaluate.levels import level_names, level_values, plan_values
from allocator.heuristics.greedy import RULES, greedy_placement, pinned_only
from allocator.heuristics.online.adapter import UnsupportedByPolicy, online_placement
from allocator.heuristics.placers import PLACERS, Placer
from allocator.io.interrupt import INTERRUPT
from allocator.io.progress import PROGRESS
from allocator.model.colgen import generate_columns
from allocator.model.decode import (
    columns_from_placement,
    patterns_of_placement,
    placement_from_columns,
    rounded_down,
)
from allocator.model.formulation import Formulation, Level, build_formulation, model_base
from allocator.model.patterns import PatternPool, enumerate_pool
from allocator.model.problem import Problem
from allocator.model.reduce import PackingInstance, reduce
from allocator.solve.coarse import Coarse, coarsening, completed
from allocator.solve.deadline import Deadline
from allocator.solve.neighborhood import (
    FEWEST_GROUPS,
    MARGIN_S,
    SearchResult,
    better_columns,
    first_size,
    search_groups,
)
from solvers import registry
from solvers.base import (
    Capability,
    Solution,
    SolveOptions,
    Solver,
    SolverError,
    Status,
    UnsupportedRequest,
)

ZERO_BOUND_LEVELS = ("hard_shortfall", "unplaced_priority")
COLGEN_SHARE = 0.7  # of the time left when a level's column generation starts
WHOLE_SHARE = 0.5  # of the time left when the search over node groups starts, for the MIP
ROUNDING_SHARE = 0.5  # of the time left for the LP whose rounding may improve the start
# Of the time limit, for the coarse model (`coarse`). Most of it: where the coarse model
# applies, the full one is many times its size, and a coarse plan that fits into places
# ends the solve; where none fits, the full model starts from its arrangement.
COARSE_SHARE = 0.8
# A level that starts with less time left than this solves nothing: its column
# generation, rounding or MIP would end past the deadline (`cost_per_hour` of an openb
# plan, started 0.25 s before it, ended 0.6 s after).
LEAST_LEVEL_S = 0.5
DIVE_UP = 3  # pattern counts rounded up per LP re-solve of `_dive`...
DIVE_STEPS = 32  # ...or a DIVE_STEPS-th of the fractional ones, where that is more
FGD_SEED_LIMIT = 20_000  # replicas


@dataclass(frozen=True)
class LevelOutcome:
    name: str
    value: float
    bound: float | None
    status: Status
    wall_s: float
    how: str  # "solver", "warm start meets bound", "no time left", "heuristic", ...

    @property
    def gap(self) -> float | None:
        return _gap(self.value, self.bound)


@dataclass
class PlanningResult:
    domain: Domain
    placement: Replicas
    solver: str
    status: Status
    levels: list[LevelOutcome]
    timings: dict[str, float] = field(default_factory=dict)
    size: dict[str, int | bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log_tail: str = ""
    interrupted: bool = False  # stopped on request: the best placement found by then

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(o.value for o in self.levels)

    @property
    def final(self) -> LevelOutcome:
        return self.levels[-1]

    @property
    def hard_shortfall(self) -> float:
        return self.levels[0].value

    @property
    def shortfall_proven(self) -> bool:
        return self.levels[0].status == Status.OPTIMAL


def method_names() -> list[str]:
    """What `--solver` accepts: the exact backends, `auto`, and the heuristic placers."""
    return [*registry.names(), *PLACERS]


def plan(
    domain: Domain, solver: str = "auto", options: SolveOptions | None = None
) -> PlanningResult:
    """Plan a placement with an exact backend or a heuristic placer, by name. Raises
    SolverError when the named backend is unknown or missing."""
    options = options or SolveOptions()
    started = time.perf_counter()
    if not len(domain.demand):
        result = _nothing_to_place(domain, solver, started)
    elif solver in PLACERS:
        PROGRESS.stage("reduce")
        inst = reduce(domain)
        PROGRESS.stage(f"{solver} placement")
        result = _plan_heuristic(inst, PLACERS[solver], options, started)
    else:
        result = _plan_exact(domain, solver, options, started)
    return replace(result, interrupted=INTERRUPT.is_set())


def _plan_exact(
    domain: Domain,
    solver: str,
    options: SolveOptions,
    started: float,
    reduced: PackingInstance | None = None,
) -> PlanningResult:
    backend = registry.get(solver)
    coarse = coarsening(domain) if reduced is None else None
    arranged: list[Replicas] = []
    notes: list[str] = []
    if coarse is not None:
        result, moved, keep = _plan_coarse(coarse, domain, solver, options, started)
        if result is not None:
            return result
    PROGRESS.stage("reduce")
    inst = reduce(domain) if reduced is None else reduced
    deadline = Deadline.after(options.time_limit, started)
    if coarse is not None:
        arranged.append(completed(inst, moved, keep, deadline.at))
        notes.append(
            f"the plan of the coarse model (rules per {coarse.scope_names} left out) did not "
            "fit into places; its arrangement is a warm start"
        )
    PROGRESS.stage("warm start (greedy)")
    seeds = [*_seeds(inst, options.seed, deadline.share(0.5).at), *arranged]
    PROGRESS.stage("patterns")
    pool = enumerate_pool(inst)
    for seed in seeds:
        pool = pool.with_patterns(*patterns_of_placement(inst, seed))
    run = _LevelRun(inst, backend, options, deadline)
    run.notes.extend(notes)
    incumbent = _best_feasible(run.formulation(pool), seeds, run.notes)
    incumbent, pool = run.solve_all(pool, incumbent)
    PROGRESS.outside_levels()
    status = (
        Status.OPTIMAL if all(o.status == Status.OPTIMAL for o in run.outcomes) else Status.FEASIBLE
    )
    finished = time.perf_counter()
    return PlanningResult(
        domain=domain,
        placement=incumbent,
        solver=run.used,
        status=status,
        levels=run.outcomes,
        timings={
            "build_s": run.build_s,
            "column_generation_s": run.colgen_s,
            "rounding_s": run.rounding_s,
            "solve_s": run.solve_s,
            "total_s": finished - started,
        },
        size={**_size(inst, pool, run.form), "column_generation_rounds": run.rounds},
        notes=run.notes,
        log_tail=run.log_tail,
    )


def _plan_coarse(
    coarse: Coarse, domain: Domain, solver: str, options: SolveOptions, started: float
) -> tuple[PlanningResult | None, Replicas, np.ndarray]:
    """Plan the coarse model in COARSE_SHARE of the time and arrange its plan into places
    (`Coarse.arranged`). An arrangement that keeps every rule is the result, with the
    coarse plan's bounds; else the result is None, for the full model to plan from the
    arrangement and which of its replicas keep every rule."""
    share = Deadline.after(options.time_limit, started).share(COARSE_SHARE).at
    limit = None if share is None else share - started
    loose = _plan_exact(
        coarse.domain, solver, replace(options, time_limit=limit), started, coarse.inst
    )
    PROGRESS.stage("arranging the coarse plan into places")
    moved, keep = coarse.arranged(domain, loose.placement)
    values = plan_values(domain, moved)
    same = not _better(values, loose.values) and not _better(loose.values, values)
    if not (keep.all() and same):  # trading nodes and slots changes no level's value
        return None, moved, keep
    levels = [
        replace(o, value=v, status=_status(v, o.bound, options.rel_gap))
        for o, v in zip(loose.levels, values, strict=True)
    ]
    note = (
        f"planned on a coarse model: spread and gang rules per {coarse.scope_names} left out, "
        f"{len(coarse.inst.groups)} node groups instead of {coarse.full_groups}, then "
        "arranged into places"
    )
    proven = all(o.status == Status.OPTIMAL for o in levels)
    result = replace(
        loose,
        domain=domain,
        placement=moved,
        status=Status.OPTIMAL if proven else Status.FEASIBLE,
        levels=levels,
        timings={**loose.timings, "total_s": time.perf_counter() - started},
        size={**loose.size, "full_node_groups": coarse.full_groups},
        notes=[*loose.notes, note],
    )
    return result, moved, keep


def _status(value: float, bound: float | None, rel_gap: float) -> Status:
    """Optimal where the bound proves the value within the relative gap asked for."""
    gap = _gap(value, bound)
    return Status.OPTIMAL if gap is not None and gap <= rel_gap + 1e-12 else Status.FEASIBLE


def level_bound(domain: Domain, name: str, time_limit: float | None = None) -> float | None:
    """A lower bound on one objective level over every placement the model allows, the
    levels before it left free: the LP over all node patterns (by column generation; its
    Lagrangian bound when `time_limit` stops it first). A yardstick for plans made under a
    shorter limit, which cannot afford to run generation to the end."""
    started = time.perf_counter()
    inst = reduce(domain)
    pool = enumerate_pool(inst)
    for seed in _seeds(inst, 0):
        pool = pool.with_patterns(*patterns_of_placement(inst, seed))
    run = _LevelRun(inst, registry.get("auto"), SolveOptions(), Deadline())
    if run.lp is None:
        raise SolverError("no installed backend reports the duals of an LP")
    k = level_names(domain).index(name)
    if pool.complete.all():
        _, problem = run.level_problem(pool, k)
        return run.lp.solve(problem.with_lp_relaxation(), SolveOptions()).objective
    if run.pricer is None:
        raise SolverError("no installed backend solves the pricing problems of column generation")
    generated = generate_columns(
        inst,
        pool,
        lambda p: run.level_problem(p, k),
        Deadline.after(time_limit, started),
        run.lp,
        run.pricers,
        max_rounds=1_000_000,
    )
    return generated.bound


class _LevelRun:
    """Solves the objective levels one after another, keeping the best placement so far."""

    def __init__(
        self, inst: PackingInstance, backend: Solver, options: SolveOptions, deadline: Deadline
    ):
        self.inst, self.backend, self.options, self.deadline = inst, backend, options, deadline
        self.outcomes: list[LevelOutcome] = []
        self.kept: list[tuple[str, float]] = []  # levels held at their value
        self.notes: list[str] = []
        self.start: Replicas | None = None  # the warm start, and its level values
        self.start_values: tuple[float, ...] = ()
        self.used = backend.name
        self.log_tail = ""
        self.colgen_s = self.solve_s = self.rounding_s = 0.0
        self.rounds = 0
        started = time.perf_counter()
        self.base = model_base(inst)
        self.build_s = time.perf_counter() - started
        self.form: Formulation | None = None
        # Column generation needs LP duals and prices with a MIP: the chosen backend where
        # it can, else the first installed backend that can.
        self.lp = registry.first_with({Capability.LP, Capability.DUALS}, prefer=backend)
        self.pricer = registry.first_with({Capability.MIP, Capability.LP}, prefer=self.lp)
        # Pricing problems go first to a backend made for small integer problems.
        fast = registry.first_with({Capability.MIP, Capability.SMALL_INTEGER})
        self.pricers = tuple(p for p in (fast, self.pricer) if p is not None)
        self.relaxer = registry.first_with({Capability.LP}, prefer=self.lp or backend)

    def formulation(self, pool: PatternPool) -> Formulation:
        """The model over `pool`, built from the instance's base once per pool."""
        if self.form is None or self.form.pool is not pool:
            self.form = build_formulation(self.inst, pool, self.base)
        return self.form

    def level_problem(self, pool: PatternPool, k: int) -> tuple[Formulation, Problem]:
        started = time.perf_counter()
        form = self.formulation(pool)
        problem = form.problem
        for name, value in self.kept:
            level = _level(form, name)
            hi = value + 0.5 if level.integral else value + 1e-9 * max(1.0, abs(value))
            problem = problem.with_rows(
                sp.csr_array(level.cost.reshape(1, -1)),
                np.array([-np.inf]),
                np.array([hi - level.offset]),
                f"keep_{name}",
            )
        level = form.levels[k]
        self.build_s += time.perf_counter() - started
        return form, problem.with_objective(level.cost, level.offset)

    def solve_all(self, pool: PatternPool, incumbent: Replicas) -> tuple[Replicas, PatternPool]:
        names = level_names(self.inst.domain)
        self.start, self.start_values = incumbent, level_values(self.inst, incumbent)
        for k, name in enumerate(names):
            PROGRESS.level(k, len(names), name)
            PROGRESS.stage("model")
            incumbent, pool = self.solve_level(k, pool, incumbent)
        return incumbent, pool

    def solve_level(self, k: int, pool: PatternPool, incumbent: Replicas):
        started = time.perf_counter()
        form, problem = self.level_problem(pool, k)
        level = form.levels[k]
        current = level_values(self.inst, incumbent)[k]
        trivial = level.least(problem.col_lo, problem.col_hi)
        if level.name.startswith(ZERO_BOUND_LEVELS):  # shortfalls are never negative
            trivial = 0.0 if trivial is None else max(trivial, 0.0)
        if trivial is not None and current <= trivial + 1e-9 * max(1.0, abs(trivial)):
            return self._done(
                level,
                current,
                trivial,
                Status.OPTIMAL,
                started,
                "warm start meets bound",
                form,
                incumbent,
                pool,
            )
        lp_bound = None
        # Too little time left to start a solve that may end past it (an LP, a pricing MIP
        # or the level's MIP): the level keeps what it has.
        left = self.deadline.left(0.0)
        out_of_time = self.deadline.passed() or (left is not None and left < LEAST_LEVEL_S)
        can_generate = self.lp is not None and self.pricer is not None
        if not pool.complete.all() and not can_generate:
            self.notes.append(
                f"{level.name}: no installed backend reports LP duals; patterns not "
                "generated, the plan uses those of the warm starts"
            )
        if (
            not pool.complete.all()
            and self.lp is not None
            and self.pricer is not None
            and not out_of_time
        ):
            cg = generate_columns(
                self.inst,
                pool,
                lambda p: self.level_problem(p, k),
                # Column generation may use a share of the time left; the MIP gets the rest.
                self.deadline.share(COLGEN_SHARE),
                self.lp,
                self.pricers,
                scale=abs(level.offset),
            )
            self.colgen_s += cg.lp_s + cg.pricing_s
            self.rounds += cg.rounds
            pool, lp_bound = cg.pool, cg.bound
            if not cg.converged:
                self.notes.append(
                    f"{level.name}: column generation stopped after {cg.rounds} "
                    "rounds without converging; bound from the Lagrangian"
                )
            form, problem = self.level_problem(pool, k)
            level = form.levels[k]
        lp_bound = _whole(lp_bound, level)
        # A start that column generation's bound already proves needs no rounded LP start
        # (its LP and greedy completions take seconds on a large fleet).
        settled = _status(current, lp_bound, self.options.rel_gap) == Status.OPTIMAL
        if not settled and not out_of_time and not self.deadline.passed():
            incumbent, pool, rounded_bound = self._rounded_start(k, pool, incumbent, current)
            if rounded_bound is not None:
                lp_bound = rounded_bound if lp_bound is None else max(lp_bound, rounded_bound)
            form, problem = self.level_problem(pool, k)
            level = form.levels[k]
            current = level_values(self.inst, incumbent)[k]
            lp_bound = _whole(lp_bound, level)
        gap = _gap(current, lp_bound)
        if gap is not None and gap <= self.options.rel_gap + 1e-12:
            # The start is already within the gap of the bound: no MIP to run.
            return self._done(
                level,
                current,
                lp_bound,
                Status.OPTIMAL,
                started,
                "warm start meets bound",
                form,
                incumbent,
                pool,
            )
        if out_of_time or self.deadline.passed():
            return self._done(
                level,
                current,
                lp_bound,
                Status.FEASIBLE,
                started,
                "stopped on request" if INTERRUPT.is_set() else "no time left",
                form,
                incumbent,
                pool,
            )
        x0 = columns_from_placement(form, incumbent)
        solve_started = time.perf_counter()
        PROGRESS.bounds(current, lp_bound)
        if self._searches(pool, x0):
            assert x0 is not None
            solution = self._search(problem, form, x0, lp_bound)
        else:
            PROGRESS.stage(f"MIP ({self.backend.name})")
            solution = self.backend.solve(
                problem,
                replace(
                    self.options,
                    time_limit=_mip_limit(self.deadline),
                    warm_start=x0,
                    progress=PROGRESS.bounds,
                ),
            )
        PROGRESS.stage("decode")
        self.solve_s += time.perf_counter() - solve_started
        self.used = solution.solver if self.backend.name == "auto" else self.backend.name
        self.log_tail = solution.log_tail
        candidate = self._accept(problem, level, solution, form, current)
        if candidate is not None:
            incumbent = candidate
        value = level_values(self.inst, incumbent)[k]
        # Over a partial pool the MIP's own bound holds only for that pool.
        bound = lp_bound
        if pool.complete.all() and solution.bound is not None:
            bound = solution.bound if bound is None else max(bound, solution.bound)
        status = _status(value, bound, self.options.rel_gap)
        how = "solver" if candidate is not None else "warm start kept"
        return self._done(level, value, bound, status, started, how, form, incumbent, pool)

    def _searches(self, pool: PatternPool, x0: np.ndarray | None) -> bool:
        """Whether the level's MIP runs beside a search over node groups: over a pool
        that column generation grew (the whole MIP cannot raise its LP bound there, see
        `neighborhood`), with a time limit, a pair of groups to free and one to hold, and a
        second core for the second search."""
        return (
            x0 is not None
            and not pool.complete.all()
            and self.deadline.at is not None
            and len(np.unique(pool.group)) >= FEWEST_GROUPS
            and (os.cpu_count() or 1) >= 2
        )

    def _search(
        self, problem: Problem, form: Formulation, x0: np.ndarray, lp_bound: float | None
    ) -> Solution:
        """The level's MIP and the search over node groups at once, both from `x0`: the
        search here, and on a thread of its own the whole MIP for WHOLE_SHARE of the time,
        then a second search (another seed) for the rest. Each search goes on from the
        better plan of the others where it is better than its own; whichever reaches the
        gap of the bound stops the others; the best plan is the level's. On the openb
        traces the searches find nearly all of the improvement (HiGHS's MIP spends seconds
        in its root there, and a second search finds more than its second half); where
        rules tie many groups together (storage reads, sites, power) the whole MIP does,
        and where it proves its plan optimal over the pool no second search starts."""
        name = form.levels[len(self.outcomes)].name
        PROGRESS.stage(f"MIP and search over node groups ({self.backend.name})")
        best = _Best(problem, x0, lp_bound)
        stop = threading.Event()
        second: dict[str, Solution | SearchResult | BaseException] = {}
        left = self.deadline.left(0.0)
        assert left is not None  # the search runs under a time limit
        whole_limit = max(min(WHOLE_SHARE * left, left - MARGIN_S), 0.01)

        def second_core() -> None:
            try:
                mip = self.backend.solve(
                    problem,
                    replace(
                        self.options,
                        time_limit=whole_limit,
                        warm_start=x0,
                        stop_when=stop.is_set,
                        on_solution=best.offer_columns,
                        # left behind past its limit: its solutions are in `best` already
                        grace_s=MARGIN_S,
                    ),
                )
                second["mip"] = mip
                if mip.status.has_solution and mip.x is not None:
                    best.offer_columns(mip.x)
                if mip.status == Status.OPTIMAL:
                    stop.set()  # no better plan over this pool
                    return
                second["search"] = search_groups(
                    problem,
                    form,
                    best.columns()[0],
                    self.backend,
                    replace(self.options, seed=self.options.seed + 1),
                    self.deadline,
                    done,
                    best.found,
                    best.columns,
                )
            except BaseException as exc:  # handed to the planner's thread below
                second["error"] = exc
                stop.set()

        def done(value: float) -> bool:
            if _status(value, lp_bound, self.options.rel_gap) == Status.OPTIMAL:
                stop.set()
            return stop.is_set()

        thread = threading.Thread(target=second_core, name="whole MIP, then a search", daemon=True)
        thread.start()
        try:
            searched = search_groups(
                problem,
                form,
                best.columns()[0],
                self.backend,
                self.options,
                self.deadline,
                done,
                best.found,
                best.columns,
            )
        except BaseException:
            stop.set()
            raise
        finally:
            thread.join()
        error = second.get("error")
        if isinstance(error, BaseException):
            raise error
        mip = second.get("mip")
        assert isinstance(mip, Solution)
        runs = [searched]
        other = second.get("search")
        if isinstance(other, SearchResult):
            runs.append(other)
        first, top = first_size(len(np.unique(form.pool.group))), max(r.size for r in runs)
        sizes = f"{first}" if top <= first else f"{first} to {top}"
        found = f"{mip.objective:,.6g}" if mip.objective is not None else f"nothing ({mip.status})"
        x, objective = best.columns()
        self.notes.append(
            f"{name}: the search over node groups improved the plan in "
            f"{sum(r.improved for r in runs)} of {sum(r.tried for r in runs)} neighbourhoods "
            f"(nodes of {sizes} groups each; {len(runs)} "
            f"{'search' if len(runs) == 1 else 'searches'}) to {objective:,.6g}, taking over "
            f"a better plan found beside it {sum(r.adopted for r in runs)} times; the whole "
            f"MIP beside it, given {whole_limit:.3g} s, found {found}"
        )
        return Solution(
            Status.FEASIBLE,
            searched.solver,
            x=x,
            objective=objective,
            bound=mip.bound,
            log_tail=mip.log_tail,
        )

    def _rounded_start(
        self, k: int, pool: PatternPool, incumbent: Replicas, current: float
    ) -> tuple[Replicas, PatternPool, float | None]:
        """Solve the level's LP, round it down to whole node and replica counts
        (`decode.rounded_down`) and let each greedy rule place what rounding left out: the
        better of those and the incumbent, the pool grown by its patterns, and the LP's
        value, a bound on the level when the pool holds every pattern.

        The greedy rules pack one workload after another; the LP packs all at once, so its
        rounding opens close to the fewest nodes (and the cheapest) there are. Where that
        is not within the gap of the LP, a short dive makes the pattern counts whole
        (`_dive`) and its rounding is completed too."""
        if self.relaxer is None:
            return incumbent, pool, None
        inst = self.inst
        started = time.perf_counter()
        PROGRESS.stage("rounded LP start")
        share = self.deadline.share(ROUNDING_SHARE)
        try:
            form, problem = self.level_problem(pool, k)
            relaxed = problem.with_lp_relaxation()
            lp = self.relaxer.solve(relaxed, SolveOptions(time_limit=share.left(0.01)))
            if lp.status != Status.OPTIMAL or lp.x is None or lp.objective is None:
                return incumbent, pool, None
            bound = lp.objective if pool.complete.all() else None
            candidates = self._completed(rounded_down(form, lp.x))
            values = [level_values(inst, c)[k] for c in candidates]
            if _status(min(values), lp.objective, self.options.rel_gap) != Status.OPTIMAL:
                dived = self._completed(
                    rounded_down(form, _dive(self.relaxer, relaxed, form, lp.x, share))
                )
                candidates += dived
                values += [level_values(inst, c)[k] for c in dived]
            grown = pool
            for candidate in candidates:
                grown = grown.with_patterns(*patterns_of_placement(inst, candidate))
            form, problem = self.level_problem(grown, k)
            best, best_value = None, current - 1e-9 * max(1.0, abs(current))
            for candidate, value in zip(candidates, values, strict=True):
                x = columns_from_placement(form, candidate)
                if x is None or problem.violations(x):
                    continue
                if value < best_value:
                    best, best_value = candidate, value
            if best is None:
                return incumbent, pool, bound
            self.notes.append(
                f"{form.levels[k].name}: the rounded LP start improved the warm start "
                f"from {current:,.6g} to {best_value:,.6g}"
            )
            return best, grown, bound
        finally:
            self.rounding_s += time.perf_counter() - started

    def _completed(self, start: Replicas) -> list[Replicas]:
        """`start` completed by each greedy rule."""
        return [
            greedy_placement(self.inst, rule, start=start, stop_at=self.deadline.at)
            for rule in RULES
        ]

    def _accept(
        self, problem: Problem, level: Level, solution: Solution, form: Formulation, current: float
    ) -> Replicas | None:
        """The solver's placement if it is feasible and no worse than the incumbent."""
        if not solution.status.has_solution or solution.x is None:
            self.notes.append(
                f"{level.name}: {solution.solver} returned {solution.status}; kept the warm start"
            )
            return None
        x = np.where(problem.integer, np.round(solution.x), solution.x)
        broken = problem.violations(x)
        if broken:
            self.notes.append(f"{level.name}: {solution.solver} solution rejected: {broken[0]}")
            return None
        if level.value(x) > current + 1e-9 * max(1.0, abs(current)):
            return None
        placement = placement_from_columns(form, x)
        # Decoding drops nodes whose slots stay empty, so it can only be cheaper.
        decoded = np.array(level_values(self.inst, placement))
        expected = np.array([lv.value(x) for lv in form.levels])
        if (decoded > expected + 1e-6 * np.maximum(1.0, np.abs(expected))).any():
            raise SolverError(f"decoded placement scores {decoded}, columns say {expected}")
        return placement

    def _done(
        self,
        level: Level,
        value: float,
        bound: float | None,
        status: Status,
        started: float,
        how: str,
        form: Formulation,
        incumbent: Replicas,
        pool: PatternPool,
    ):
        k = len(self.outcomes)
        values = level_values(self.inst, incumbent)
        if self.start is not None and _better(self.start_values[: k + 1], values[: k + 1]):
            # Whatever ended the level worse than the warm start (a MIP's incumbent taken
            # on its word, a decoding) never replaces it: the plan keeps the better of the two.
            self.notes.append(
                f"{level.name}: kept the warm start ({self.start_values[k]:,.6g}) over the "
                f"plan found ({value:,.6g}, {how})"
            )
            incumbent, value, how = self.start, self.start_values[k], "warm start kept"
            status = _status(value, bound, self.options.rel_gap)
        if bound is not None and bound > value + 1e-6 * max(1.0, abs(value)):
            # A placement the model accepts does better than the bound the pattern LP gave:
            # the pool's maximal patterns did not cover every way to run this instance
            # (some rule pairs need patterns with empty slots), so that bound proves nothing.
            self.notes.append(
                f"{level.name}: the pattern LP's bound {bound:,.6g} is above a verified plan's "
                f"{value:,.6g}; the level is reported without a bound"
            )
            bound, status = None, Status.FEASIBLE
        self.outcomes.append(
            LevelOutcome(level.name, value, bound, status, time.perf_counter() - started, how)
        )
        self.kept.append((level.name, value))
        self.form = form
        return incumbent, pool


def _whole(bound: float | None, level: Level) -> float | None:
    """A bound on a level of whole values, rounded up to the next whole value."""
    return math.ceil(bound - 1e-6) if bound is not None and level.integral else bound


def _mip_limit(deadline: Deadline) -> float | None:
    """The time left for a level's MIP, less MARGIN_S: HiGHS may end that much past its
    limit, and the plan is due at the deadline."""
    left = deadline.left(0.01)
    return None if left is None else max(left - MARGIN_S, 0.01)


class _Best:
    """The best plan of the searches running at once (columns and objective), shown as it
    improves (each reports it from its own thread), with the level's bound: what each
    search goes on from where it is better than its own."""

    def __init__(self, problem: Problem, x: np.ndarray, bound: float | None):
        self.problem, self.bound = problem, bound
        self.x, self.value = x, float(problem.cost @ x + problem.offset)
        self.lock = threading.Lock()

    def found(self, x: np.ndarray, value: float) -> None:
        """Feasible columns `x` of objective `value`, kept where better."""
        with self.lock:
            if value >= self.value:
                return
            self.x, self.value = x, value
        PROGRESS.bounds(value, self.bound)

    def offer_columns(self, x: np.ndarray) -> None:
        """A MIP's solution, kept where it is feasible and better."""
        better = better_columns(self.problem, x, self.columns()[1])
        if better is not None:
            self.found(*better)

    def columns(self) -> tuple[np.ndarray, float]:
        with self.lock:
            return self.x, self.value


def _dive(
    relaxer: Solver, relaxed: Problem, form: Formulation, x: np.ndarray, share: Deadline
) -> np.ndarray:
    """The LP solution `x` with whole pattern counts, as far as re-solves within `share`
    get: each holds every pattern count at its whole nodes at least, rounds up the few
    with the largest fractions (DIVE_UP, or a DIVE_STEPS-th of the fractional ones where
    that is more) in groups with a node left for them, and solves the LP again.

    Rounding up a few at a time lets each re-solve move the other fractions to what is
    left, where rounding up every large fraction at once packs a group's nodes with
    patterns that no longer fit the demand together. Rounding down a fractional count drops
    a few nodes per group whose replicas the greedy rules then place one workload at a
    time; a whole count leaves them only the replicas."""
    patterns = form.patterns.slice
    group, count = form.pool.group, form.instance.groups.count
    while not share.passed():
        z = x[patterns]
        whole = np.floor(z + 1e-6)
        fractional = z - whole > 1e-6
        if not fractional.any():
            break
        held = np.maximum(relaxed.col_lo[patterns], np.where(fractional, whole, z))
        free = count - np.bincount(group, weights=held, minlength=len(count))
        order = np.flatnonzero(fractional)
        order = order[np.argsort(whole[order] - z[order], kind="stable")]
        # Largest fractions first, as many per group as it has nodes left.
        fits = rank_among_equal(group[order]) < np.floor(free[group[order]] + 1e-6)
        up = order[fits][: max(DIVE_UP, math.ceil(len(order) / DIVE_STEPS))]
        if not len(up):
            break
        held[up] += 1
        lo = relaxed.col_lo.copy()
        lo[patterns] = held
        dived = relaxer.solve(
            replace(relaxed, col_lo=lo), SolveOptions(time_limit=share.left(0.01))
        )
        if dived.status != Status.OPTIMAL or dived.x is None:
            break  # a rule other than the node counts leaves no room for what was rounded up
        relaxed, x = replace(relaxed, col_lo=lo), dived.x
    return x


def _best_feasible(form: Formulation, seeds: list[Replicas], notes: list[str]) -> Replicas:
    """The best starting placement that the model accepts. Heuristics do not know every
    rule (a cap on moves, one site for a workload's peer traffic); placing nothing is
    always allowed. A seed turned down is noted with the first row it breaks."""
    inst = form.instance
    accepted = []
    for k, seed in enumerate(seeds):
        x = columns_from_placement(form, seed)
        broken = ["a node pattern not in the pool"] if x is None else form.problem.violations(x)
        if broken:
            notes.append(f"warm start {k + 1} of {len(seeds)} turned down: {broken[0]}")
        else:
            accepted.append(seed)
    if not accepted:
        return pinned_only(inst)
    return min(accepted, key=lambda p: level_values(inst, p))


def _seeds(inst: PackingInstance, seed: int, stop_at: float | None = None) -> list[Replicas]:
    """Starting placements: the greedy rules, and FGD where GPUs are shared (it packs
    fractions better) and the instance is small enough for a replica-by-replica pass.
    The greedy rules stop at `stop_at` (half the limit: the levels need the rest)."""
    seeds = [greedy_placement(inst, rule, stop_at=stop_at) for rule in RULES]
    demand = inst.domain.demand
    shares = (demand.gpu_milli > 0).any() and not (demand.mig_profile != "").any()
    if shares and demand.max.sum() <= FGD_SEED_LIMIT:
        with contextlib.suppress(UnsupportedByPolicy):
            seeds.append(online_placement(inst, "fgd", seed))
    return seeds


def _better(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether level values `a` are lexicographically better than `b` (beyond rounding)."""
    for x, y in zip(a, b, strict=True):
        tol = 1e-9 * max(1.0, abs(x), abs(y))
        if x < y - tol:
            return True
        if x > y + tol:
            return False
    return False


def _gap(value: float, bound: float | None) -> float | None:
    return Solution(Status.FEASIBLE, "", objective=value, bound=bound).gap


def _level(form: Formulation, name: str) -> Level:
    return next(level for level in form.levels if level.name == name)


def _plan_heuristic(
    inst: PackingInstance, placer: Placer, options: SolveOptions, started: float
) -> PlanningResult:
    try:
        placement = placer.place(inst, options.seed)
    except UnsupportedByPolicy as exc:
        raise UnsupportedRequest(str(exc)) from exc
    finished = time.perf_counter()
    levels = []
    names = level_names(inst.domain)
    for name, value in zip(names, level_values(inst, placement), strict=True):
        trivial = name.startswith(ZERO_BOUND_LEVELS) and value <= 1e-9
        levels.append(
            LevelOutcome(
                name,
                value,
                0.0 if trivial else None,
                Status.OPTIMAL if trivial else Status.FEASIBLE,
                finished - started,
                "heuristic",
            )
        )
    return PlanningResult(
        domain=inst.domain,
        placement=placement,
        solver=placer.name,
        status=Status.FEASIBLE,
        levels=levels,
        timings={"build_s": 0.0, "solve_s": finished - started, "total_s": finished - started},
        size=_size(inst, PatternPool.empty(len(inst.groups), len(inst.shapes)), None),
    )


def _nothing_to_place(domain: Domain, solver: str, started: float) -> PlanningResult:
    """An inventory without workloads (an idle cluster, a fleet being set up): the empty
    plan, optimal on every level."""
    empty = Replicas.empty(len(domain.fleet), 0)
    values = level_values(reduce(domain), empty)
    levels = [
        LevelOutcome(name, value, value, Status.OPTIMAL, 0.0, "nothing to place")
        for name, value in zip(level_names(domain), values, strict=True)
    ]
    finished = time.perf_counter()
    return PlanningResult(
        domain=domain,
        placement=empty,
        solver=solver,
        status=Status.OPTIMAL,
        levels=levels,
        timings={"build_s": 0.0, "solve_s": 0.0, "total_s": finished - started},
        size={"nodes": len(domain.fleet), "workloads": 0},
    )


def _size(inst: PackingInstance, pool: PatternPool, form: Formulation | None) -> dict:
    size = {
        "nodes": len(inst.domain.fleet),
        "node_groups": len(inst.groups),
        "workloads": len(inst.domain.demand),
        "shapes": len(inst.shapes),
        "patterns": len(pool),
        "all_patterns": bool(pool.complete.all()),
    }
    if form is not None:
        size.update(
            columns=form.problem.n_cols, rows=form.problem.n_rows, nonzeros=int(form.problem.a.nnz)
        )
    return size
