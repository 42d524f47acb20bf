"""HiGHS through highspy: the matrix is handed over in bulk, no per-element calls."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from allocator.io.interrupt import INTERRUPT
from allocator.model.problem import Basis, Problem
from solvers.base import (
    Capability,
    LeftBehind,
    Solution,
    SolveOptions,
    SolverError,
    Status,
    interruptible,
    new_log_file,
    read_log_file,
    tail,
)
from solvers.registry import register

if TYPE_CHECKING:
    from highspy import Highs, HighsLp

_BIG = 1e30
# How long a solve may run past its time limit before it is left behind on its thread.
STOP_GRACE_S = 2.0
# HiGHS keeps one thread scheduler per process; changing the thread count needs a reset.
_scheduler_threads: int | None = None


@register
class HighsSolver:
    name: ClassVar[str] = "highs"
    rank: ClassVar[int] = 0
    package: ClassVar[str] = "highspy"
    install_hint: ClassVar[str] = "pip install 'highspy==1.12.*'"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.LP,
            Capability.MIP,
            Capability.BOUND,
            Capability.DUALS,
            Capability.WARM_START,
            Capability.BASIS,
        }
    )

    def available(self) -> bool:
        try:
            import highspy  # noqa: F401
        except ImportError:
            return False
        return True

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        try:
            import highspy
        except ImportError as exc:
            raise SolverError("highspy is not installed (pip install highspy==1.12.*)") from exc

        started = time.perf_counter()
        stop_at = None
        if options.time_limit is not None:
            stop_at = started + max(float(options.time_limit), 0.01)
        h = highspy.Highs()
        log_path = _configure(h, highspy, options)
        try:
            h.passModel(_to_lp(highspy, problem))
            if options.warm_start is not None and problem.is_mip:
                start = highspy.HighsSolution()
                start.col_value = list(np.asarray(options.warm_start, dtype=np.float64))
                h.setSolution(start)
            if options.basis is not None and not problem.is_mip:
                _set_basis(h, highspy, options.basis)
                # A basis extended to added columns is still primal feasible: the primal
                # simplex goes on from it in a few pivots (the dual simplex takes several
                # times as many).
                h.setOptionValue("simplex_strategy", 4)
            # HiGHS checks its time limit only between some phases: its interrupt callbacks
            # also stop it at the moment the limit ends (or on request), and a call still
            # running its grace later (`grace_s`, STOP_GRACE_S by default) is left behind,
            # so that the caller's deadline holds.
            late = _Late(stop_at, options.after_first_s, options.stop_when)
            h.cbSimplexInterrupt += late.poll
            h.cbIpmInterrupt += late.poll
            if problem.is_mip:
                h.cbMipInterrupt += _poll(options.progress, late)
                if options.on_solution is not None:
                    h.cbMipImprovingSolution += _improving(options.on_solution)
            if stop_at is not None:  # what is left after handing the model over
                h.setOptionValue("time_limit", max(stop_at - time.perf_counter(), 0.01))
            grace = STOP_GRACE_S if options.grace_s is None else options.grace_s
            give_up = None if stop_at is None else stop_at + grace
            # A MIP prints stray lines to standard output (`_silenced_stdout`).
            quiet = _silenced_stdout() if problem.is_mip else contextlib.nullcontext()
            with quiet:
                interruptible(h.run, lambda: None, give_up_at=give_up)
        except LeftBehind:
            log = read_log_file(log_path)
            return Solution(
                status=Status.TIME_LIMIT,
                solver="highs",
                wall_s=time.perf_counter() - started,
                log_tail=tail(
                    log + f"\nstill running {grace:g} s after the time limit: left behind"
                ),
            )
        finally:
            log = read_log_file(log_path)
        if options.log:
            for line in log.splitlines():
                options.log(line)
        return _read_result(h, highspy, problem, started, log)


class _Late:
    """Interrupts HiGHS from its callbacks once `stop_at` (`time.perf_counter`) has passed,
    `after_first_s` after a MIP's first solution, or when a stop was asked for (by the
    user, or by the caller's `stop_when`)."""

    def __init__(
        self,
        stop_at: float | None,
        after_first_s: float | None = None,
        stop_when: Callable[[], bool] | None = None,
    ):
        self.stop_at = stop_at
        self.after_first_s = after_first_s
        self.stop_when = stop_when

    def found(self, primal_bound: float) -> None:
        """A MIP's incumbent is `primal_bound` (infinite: none yet)."""
        if self.after_first_s is not None and abs(primal_bound) < _BIG:
            end = time.perf_counter() + self.after_first_s
            self.stop_at = end if self.stop_at is None else min(self.stop_at, end)
            self.after_first_s = None

    def due(self) -> bool:
        return (
            INTERRUPT.is_set()
            or (self.stop_at is not None and time.perf_counter() >= self.stop_at)
            or (self.stop_when is not None and self.stop_when())
        )

    def poll(self, event: object) -> None:
        if self.due():
            event.interrupt()  # type: ignore[attr-defined]


def _poll(
    progress: Callable[[float | None, float | None], None] | None, late: _Late
) -> Callable[[object], None]:
    """HiGHS's MIP calls this often: stop when due, and report the bounds as they move."""
    last = (math.nan, math.nan)

    def poll(event: object) -> None:
        nonlocal last
        out = event.data_out  # type: ignore[attr-defined]
        late.found(out.mip_primal_bound)
        if late.due():
            event.interrupt()  # type: ignore[attr-defined]
        if progress is not None:
            now = (out.mip_primal_bound, out.mip_dual_bound)
            if now != last:
                last = now
                progress(*(v if abs(v) < _BIG else None for v in now))

    return poll


def _improving(on_solution: Callable[[np.ndarray], None]) -> Callable[[object], None]:
    """Hands each improving solution of a MIP (in the problem's own columns) on."""

    def improving(event: object) -> None:
        columns = event.data_out.mip_solution  # type: ignore[attr-defined]
        on_solution(np.array(columns, dtype=np.float64))

    return improving


_silence_lock = threading.Lock()
_silence_depth = 0  # MIPs running now, on any thread
_saved_stdout: int | None = None


@contextlib.contextmanager
def _silenced_stdout() -> Iterator[None]:
    """HiGHS's MIP solver prints stray debugging lines straight to standard output, past its
    own logging options, into the middle of a command's output: hide them while it runs.
    MIPs that run at once on several threads share one redirection, undone when the last
    of them ends."""
    global _silence_depth, _saved_stdout
    with _silence_lock:
        if _silence_depth == 0:
            sys.stdout.flush()
            try:
                _saved_stdout = os.dup(1)
            except OSError:  # no standard output to protect
                _saved_stdout = None
            else:
                with open(os.devnull, "wb") as devnull:
                    os.dup2(devnull.fileno(), 1)
        _silence_depth += 1
    try:
        yield
    finally:
        with _silence_lock:
            _silence_depth -= 1
            if _silence_depth == 0 and _saved_stdout is not None:
                os.dup2(_saved_stdout, 1)
                os.close(_saved_stdout)
                _saved_stdout = None


def _configure(h: Highs, highspy: ModuleType, options: SolveOptions) -> str:
    global _scheduler_threads
    threads = options.threads or 1
    if _scheduler_threads is not None and _scheduler_threads != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _scheduler_threads = threads
    log_path = new_log_file("highs")
    settings = {
        "output_flag": True,
        "log_to_console": False,
        "log_file": log_path,
        "threads": threads,
        "random_seed": int(options.seed),
        "mip_rel_gap": float(options.rel_gap),
    }
    if options.time_limit is not None:
        settings["time_limit"] = max(float(options.time_limit), 0.01)
    if options.solution_limit is not None:
        settings["mip_max_improving_sols"] = int(options.solution_limit)
    settings.update(options.backend_options)
    for key, value in settings.items():
        h.setOptionValue(key, value)
    return log_path


def _to_lp(highspy: ModuleType, problem: Problem) -> HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = problem.n_cols
    lp.num_row_ = problem.n_rows
    lp.col_cost_ = problem.cost
    lp.offset_ = problem.offset
    lp.col_lower_ = np.clip(problem.col_lo, -_BIG, _BIG)
    lp.col_upper_ = np.clip(problem.col_hi, -_BIG, _BIG)
    lp.row_lower_ = np.clip(problem.row_lo, -_BIG, _BIG)
    lp.row_upper_ = np.clip(problem.row_hi, -_BIG, _BIG)
    a = problem.a.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    if problem.is_mip:
        kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
        lp.integrality_ = [kinds[int(flag)] for flag in problem.integer]
    return lp


def _set_basis(h: Highs, highspy: ModuleType, basis: Basis) -> None:
    """Start the simplex from `basis`; HiGHS turns down one that does not fit the model (it
    then starts from scratch)."""
    status = [highspy.HighsBasisStatus(code) for code in range(5)]
    start = highspy.HighsBasis()
    start.col_status = [status[code] for code in basis.cols.tolist()]
    start.row_status = [status[code] for code in basis.rows.tolist()]
    start.valid = True
    h.setBasis(start)


def _read_basis(h: Highs) -> Basis | None:
    found = h.getBasis()
    if not found.valid:
        return None
    return Basis(
        np.fromiter(map(int, found.col_status), dtype=np.int8),
        np.fromiter(map(int, found.row_status), dtype=np.int8),
    )


def _read_result(
    h: Highs, highspy: ModuleType, problem: Problem, started: float, log: str
) -> Solution:
    status = h.getModelStatus()
    info = h.getInfo()
    ms = highspy.HighsModelStatus
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if status == ms.kOptimal:
        result = Status.OPTIMAL
    elif status == ms.kModelEmpty:
        result, has_primal = Status.OPTIMAL, True
    elif status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
        result, has_primal = Status.INFEASIBLE, False
    elif status == ms.kUnbounded:
        result, has_primal = Status.UNBOUNDED, False
    elif status in (
        ms.kTimeLimit,
        ms.kIterationLimit,
        ms.kSolutionLimit,
        ms.kInterrupt,
        ms.kObjectiveBound,
        ms.kObjectiveTarget,
        ms.kUnknown,
    ):
        result = Status.FEASIBLE if has_primal else Status.TIME_LIMIT
    else:
        raise SolverError(f"HiGHS failed: {h.modelStatusToString(status)}\n{tail(log)}")

    x = objective = bound = duals = basis = None
    if has_primal:
        solution = h.getSolution()
        x = np.asarray(solution.col_value, dtype=np.float64)
        objective = float(info.objective_function_value)
        if problem.is_mip:
            bound = float(info.mip_dual_bound)
            if not np.isfinite(bound):
                bound = None
        elif result == Status.OPTIMAL:
            bound = objective
            if solution.dual_valid:
                duals = np.asarray(solution.row_dual, dtype=np.float64)
            basis = _read_basis(h)
    if result == Status.OPTIMAL and x is None and problem.n_cols == 0:
        x, objective, bound = np.zeros(0), problem.offset, problem.offset
    return Solution(
        status=result,
        solver="highs",
        x=x,
        objective=objective,
        bound=bound,
        wall_s=time.perf_counter() - started,
        log_tail=tail(log),
        duals=duals,
        basis=basis,
    )
