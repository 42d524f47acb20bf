"""CBC through PuLP's bundled binary.

PuLP reports "Optimal" for runs stopped by the time limit, so the status comes from
its `sol_status` and the bound from CBC's own log, never from `LpStatus` alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from allocator.io.interrupt import INTERRUPT
from allocator.model.problem import Problem
from solvers.base import (
    Capability,
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
    from pulp import LpProblem, LpVariable


@register
class CbcSolver:
    name: ClassVar[str] = "cbc"
    rank: ClassVar[int] = 1
    package: ClassVar[str] = "pulp"
    install_hint: ClassVar[str] = "pip install 'pulp>=3.3,<4'"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.MIP, Capability.BOUND, Capability.WARM_START}
    )

    def available(self) -> bool:
        try:
            import pulp
        except ImportError:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(pulp.PULP_CBC_CMD(msg=False).available())

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        try:
            import pulp
        except ImportError as exc:
            raise SolverError("PuLP is not installed (pip install pulp)") from exc
        started = time.perf_counter()
        model, columns = _to_pulp(pulp, problem)
        warm_start = options.warm_start
        warm = warm_start is not None
        if warm_start is not None:
            # PuLP refuses values outside a column's bounds; a partial warm start (model
            # columns it does not know) is clipped into them and CBC judges the rest.
            start = np.clip(warm_start, problem.col_lo, problem.col_hi)
            for var, value in zip(columns, start, strict=True):
                var.setInitialValue(float(value))
        log_path = new_log_file("cbc")
        extra = [f"randomCbcSeed {int(options.seed) + 1}"]
        if options.solution_limit is not None:
            extra.append(f"maxSolutions {int(options.solution_limit)}")
        extra += [f"{k} {v}" for k, v in options.backend_options.items()]
        with warnings.catch_warnings():
            # PuLP 3.3 flags its bundled CBC for removal in 4.0; the version pin keeps it.
            warnings.simplefilter("ignore", DeprecationWarning)
            command = pulp.PULP_CBC_CMD(
                msg=False,
                timeLimit=options.time_limit,
                gapRel=options.rel_gap,
                threads=options.threads,
                warmStart=warm,
                logPath=log_path,
                options=extra,
            )
        # PuLP's model files go to a folder of their own, removed whatever happens (PuLP
        # leaves them behind when CBC is stopped).
        folder = tempfile.mkdtemp(prefix="allocator-cbc-")
        command.tmpDir = folder
        children = _children()
        try:
            follow = _LogFollower(log_path, options.progress) if options.progress else None
            interruptible(
                lambda: model.solve(command),
                lambda: _stop_cbc(children),
                follow,
                stop_when=options.stop_when,
            )
        except pulp.PulpSolverError as exc:
            asked = options.stop_when is not None and options.stop_when()
            if not (INTERRUPT.is_set() or asked):
                raise SolverError(f"CBC failed: {exc}") from exc
            # Stopped before it wrote a solution: like a time limit without one.
            return Solution(Status.TIME_LIMIT, "cbc", wall_s=time.perf_counter() - started)
        finally:
            log = read_log_file(log_path)
            shutil.rmtree(folder, ignore_errors=True)
        if options.log:
            for line in log.splitlines():
                options.log(line)
        return _result(pulp, model, columns, problem, log, time.perf_counter() - started)


def _children() -> set[int]:
    """Process ids of this process's children now (CBC runs as one)."""
    found = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(stat_file.parent.name))
    return found


def _stop_cbc(before: set[int]) -> None:
    """Ask the CBC child started since `before` to stop (it then writes its best solution,
    as on a time limit), and kill it if it has not gone two seconds later."""
    started = _children() - before
    for pid in started:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 2.0
    while started & _children() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in started & _children():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class _LogFollower:
    """CBC has no callback: read what it appends to its log while it runs, and report the
    incumbent and bound its progress lines state."""

    INCUMBENT = re.compile(r"Integer solution of (-?[\d.eE+-]+)")
    TREE = re.compile(r"(-?[\d.eE+-]+) best solution, best possible (-?[\d.eE+-]+)")

    def __init__(self, path: str, report: Callable[[float | None, float | None], None]):
        self.path, self.report, self.read, self.partial = path, report, 0, ""

    def __call__(self) -> None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as log:
                log.seek(self.read)
                text = log.read()
                self.read = log.tell()
        except OSError:
            return
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            if found := self.TREE.search(line):
                self.report(_number(found.group(1)), _number(found.group(2)))
            elif found := self.INCUMBENT.search(line):
                self.report(_number(found.group(1)), None)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _to_pulp(pulp: ModuleType, problem: Problem) -> tuple[LpProblem, list[LpVariable]]:
    model = pulp.LpProblem(problem.name.replace(" ", "_") or "problem", pulp.LpMinimize)
    columns = [
        model.add_variable(
            f"x{j}",
            lowBound=None if np.isneginf(lo) else float(lo),
            upBound=None if np.isposinf(hi) else float(hi),
            cat=pulp.LpInteger if integer else pulp.LpContinuous,
        )
        for j, (lo, hi, integer) in enumerate(
            zip(problem.col_lo, problem.col_hi, problem.integer, strict=True)
        )
    ]
    nonzero = np.flatnonzero(problem.cost)
    model.setObjective(
        pulp.LpAffineExpression(
            [(columns[j], float(problem.cost[j])) for j in nonzero], constant=float(problem.offset)
        )
    )
    a = problem.a
    for i in range(problem.n_rows):
        lo, hi = problem.row_lo[i], problem.row_hi[i]
        span = slice(a.indptr[i], a.indptr[i + 1])
        terms = [(columns[j], float(v)) for j, v in zip(a.indices[span], a.data[span], strict=True)]
        if not terms:
            continue
        expr = pulp.LpAffineExpression(terms)
        if lo == hi:
            model += pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"r{i}", float(lo))
            continue
        if np.isfinite(lo):
            model += pulp.LpConstraint(expr, pulp.LpConstraintGE, f"r{i}_lo", float(lo))
        if np.isfinite(hi):
            model += pulp.LpConstraint(expr, pulp.LpConstraintLE, f"r{i}_hi", float(hi))
    return model, columns


def _result(
    pulp: ModuleType,
    model: LpProblem,
    columns: list[LpVariable],
    problem: Problem,
    log: str,
    wall: float,
) -> Solution:
    solution_status = model.sol_status
    status = {
        pulp.LpSolutionOptimal: Status.OPTIMAL,
        pulp.LpSolutionIntegerFeasible: Status.FEASIBLE,
        pulp.LpSolutionInfeasible: Status.INFEASIBLE,
        pulp.LpSolutionUnbounded: Status.UNBOUNDED,
    }.get(solution_status)
    if status is None:
        if re.search(r"Stopped on (time|iterations|nodes)", log):
            status = Status.TIME_LIMIT
        else:
            raise SolverError(f"CBC ended without a solution (status {model.status})\n{tail(log)}")
    if status == Status.FEASIBLE and "Result - Optimal solution found" in log:
        status = Status.OPTIMAL  # within the requested gap
    x = objective = bound = None
    if status.has_solution:
        x = np.array([v.varValue if v.varValue is not None else 0.0 for v in columns])
        x = np.clip(x, problem.col_lo, problem.col_hi)
        objective = problem.objective_value(x)
        bound = _bound_from_log(log, problem, objective, status)
    return Solution(status, "cbc", x, objective, bound, wall, tail(log))


def _bound_from_log(log: str, problem: Problem, objective: float, status: Status) -> float | None:
    if status == Status.OPTIMAL and not problem.is_mip:
        return objective
    match = re.search(r"Lower bound:\s+(-?[\d.eE+-]+)", log)
    if match:
        return float(match.group(1)) + 0.0
    if status == Status.OPTIMAL:
        return objective
    return None
