"""OR-Tools CP-SAT.

CP-SAT works on integers: every column must be integer with finite bounds, rows are
scaled to integer coefficients, and the objective is scaled by the smallest power of
ten that makes it integral (costs given to the cent need 100). Objectives that need
more than 10^6 are rounded at that scale and the log says so.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from allocator.model.problem import Problem
from solvers.base import (
    Capability,
    Solution,
    SolveOptions,
    SolverError,
    Status,
    interruptible,
    tail,
)
from solvers.registry import register

if TYPE_CHECKING:
    from ortools.sat.python.cp_model import CpModel, CpSolverSolutionCallback, IntVar

_MAX_SCALE_DIGITS = 6
_MAX_ABS = 2**53


@register
class CpSatSolver:
    name: ClassVar[str] = "cpsat"
    rank: ClassVar[int] = 2
    package: ClassVar[str] = "ortools"
    install_hint: ClassVar[str] = "pip install 'ortools==9.15.*'"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.MIP, Capability.BOUND, Capability.WARM_START, Capability.SMALL_INTEGER}
    )

    def available(self) -> bool:
        try:
            from ortools.sat.python import cp_model  # noqa: F401
        except ImportError:
            return False
        return True

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        try:
            from ortools.sat.python import cp_model
        except ImportError as exc:
            raise SolverError("OR-Tools is not installed (pip install ortools==9.15.*)") from exc
        started = time.perf_counter()
        notes: list[str] = []
        model, columns, scale = _to_cp_model(cp_model, problem, notes)
        if options.warm_start is not None:
            for var, value in zip(columns, options.warm_start, strict=True):
                model.add_hint(var, round(float(value)))

        solver = cp_model.CpSolver()
        params = solver.parameters
        if options.time_limit is not None:
            params.max_time_in_seconds = max(float(options.time_limit), 0.01)
        params.relative_gap_limit = float(options.rel_gap)
        params.num_workers = int(options.threads or os.cpu_count() or 1)
        params.random_seed = int(options.seed)
        params.log_search_progress = True
        params.log_to_stdout = False
        params.catch_sigint_signal = False  # the program handles Ctrl-C itself
        for key, value in options.backend_options.items():
            setattr(params, key, value)
        lines: list[str] = []
        solver.log_callback = lines.append
        report = options.progress
        if report is not None:
            solver.best_bound_callback = lambda b: report(None, b / scale + problem.offset)
        watch = _Watch(
            options.solution_limit,
            report,
            scale,
            problem.offset,
            columns if options.keep_solutions else None,
            options.after_first_s,
            solver.stop_search,
            (columns, options.on_solution) if options.on_solution is not None else None,
        )
        try:
            code = interruptible(
                lambda: solver.solve(model, watch.callback()),
                solver.stop_search,
                stop_when=options.stop_when,
            )
        finally:
            watch.done()
        log = "\n".join(notes + lines)
        if options.log:
            for line in notes + lines:
                options.log(line)

        status = {
            cp_model.OPTIMAL: Status.OPTIMAL,
            cp_model.FEASIBLE: Status.FEASIBLE,
            cp_model.INFEASIBLE: Status.INFEASIBLE,
            cp_model.UNKNOWN: Status.TIME_LIMIT,
        }.get(code)
        if status is None:
            raise SolverError(
                f"CP-SAT rejected the model: {model.validate() or solver.status_name(code)}"
            )
        x = objective = bound = None
        if status.has_solution:
            x = np.array([solver.value(v) for v in columns], dtype=np.float64)
            objective = problem.objective_value(x)
            bound = solver.best_objective_bound / scale + problem.offset
            if status == Status.OPTIMAL and abs(bound - objective) < 0.5 / scale:
                bound = objective
        return Solution(
            status,
            "cpsat",
            x,
            objective,
            bound,
            time.perf_counter() - started,
            tail(log),
            earlier=tuple(watch.kept[:-1]),
        )


class _Watch:
    """What CP-SAT's solution callback does: report each improving solution, keep them
    or hand their columns on when asked, and stop the search after `limit` of them, or
    `after_first_s` after the first (a timer calls `stop`)."""

    def __init__(
        self,
        limit: int | None,
        report: Callable[[float | None, float | None], None] | None,
        scale: int,
        offset: float,
        keep: list[IntVar] | None = None,
        after_first_s: float | None = None,
        stop: Callable[[], None] | None = None,
        hand_on: tuple[list[IntVar], Callable[[np.ndarray], None]] | None = None,
    ):
        self.limit, self.report, self.scale, self.offset = limit, report, scale, offset
        self.keep, self.hand_on = keep, hand_on
        self.kept: list[np.ndarray] = []
        self.after_first_s, self.stop = after_first_s, stop
        self.timer: threading.Timer | None = None

    def done(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _first(self) -> None:
        if self.after_first_s is not None and self.stop is not None and self.timer is None:
            self.timer = threading.Timer(self.after_first_s, self.stop)
            self.timer.daemon = True
            self.timer.start()

    def callback(self) -> CpSolverSolutionCallback | None:
        if (
            self.limit is None
            and self.report is None
            and self.keep is None
            and self.after_first_s is None
            and self.hand_on is None
        ):
            return None
        from ortools.sat.python.cp_model import CpSolverSolutionCallback

        watch = self

        class Watching(CpSolverSolutionCallback):
            def __init__(self) -> None:
                super().__init__()
                self.count = 0

            def on_solution_callback(self) -> None:
                self.count += 1
                watch._first()
                if watch.report is not None:
                    watch.report(
                        self.objective_value / watch.scale + watch.offset,
                        self.best_objective_bound / watch.scale + watch.offset,
                    )
                if watch.keep is not None:
                    watch.kept.append(
                        np.array([self.value(v) for v in watch.keep], dtype=np.float64)
                    )
                if watch.hand_on is not None:
                    columns, on_solution = watch.hand_on
                    on_solution(np.array([self.value(v) for v in columns], dtype=np.float64))
                if watch.limit is not None and self.count >= watch.limit:
                    self.stop_search()

        return Watching()


def _to_cp_model(
    cp_model: ModuleType, problem: Problem, notes: list[str]
) -> tuple[CpModel, list[IntVar], int]:
    if not problem.integer.all():
        raise SolverError("CP-SAT needs every column integer; this problem has continuous ones")
    if not (np.isfinite(problem.col_lo).all() and np.isfinite(problem.col_hi).all()):
        raise SolverError("CP-SAT needs finite bounds on every column")
    model = cp_model.CpModel()
    columns = [
        model.new_int_var(math.ceil(lo - 1e-9), math.floor(hi + 1e-9), f"x{j}")
        for j, (lo, hi) in enumerate(zip(problem.col_lo, problem.col_hi, strict=True))
    ]
    a = problem.a
    for i in range(problem.n_rows):
        span = slice(a.indptr[i], a.indptr[i + 1])
        coefs = a.data[span]
        if len(coefs) == 0:
            continue
        factor = _integral_scale(coefs)
        if factor is None:
            raise SolverError(
                f"row {problem.row_name(i)} has coefficients CP-SAT cannot scale to integers"
            )
        ints = np.round(coefs * factor).astype(np.int64)
        lo, hi = problem.row_lo[i] * factor, problem.row_hi[i] * factor
        expr = cp_model.LinearExpr.weighted_sum(
            [columns[j] for j in a.indices[span]], ints.tolist()
        )
        lo_int = math.ceil(lo - 1e-6) if np.isfinite(lo) else -_MAX_ABS
        hi_int = math.floor(hi + 1e-6) if np.isfinite(hi) else _MAX_ABS
        model.add_linear_constraint(expr, lo_int, hi_int)
    scale = _integral_scale(problem.cost)
    if scale is None:
        scale = 10**_MAX_SCALE_DIGITS
        notes.append(f"objective rounded to 1/{scale} of its unit for CP-SAT")
    weights = np.round(problem.cost * scale).astype(np.int64)
    nonzero = np.flatnonzero(weights)
    model.minimize(
        cp_model.LinearExpr.weighted_sum([columns[j] for j in nonzero], weights[nonzero].tolist())
    )
    return model, columns, scale


def _integral_scale(values: np.ndarray) -> int | None:
    """Smallest 10^k (k <= 6) making every value integral, else the least common
    denominator of the values as fractions (e.g. 1/3000), or None."""
    for digits in range(_MAX_SCALE_DIGITS + 1):
        scaled = values * 10**digits
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1, np.abs(scaled))):
            if np.abs(scaled).max(initial=0) > _MAX_ABS:
                return None
            return 10**digits
    factor = 1
    for v in np.unique(values):
        fraction = Fraction(float(v)).limit_denominator(10**6)
        if abs(float(fraction) - v) > 1e-12 * max(1.0, abs(v)):
            return None
        factor = math.lcm(factor, fraction.denominator)
        if factor > 10**9:
            return None
    if np.abs(values * factor).max(initial=0) > _MAX_ABS:
        return None
    return factor
