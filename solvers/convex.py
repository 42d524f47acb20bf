"""cvxpy with a conic solver (Clarabel, else SCS): the LPs of the neutral `Problem`, and the
same problem with a concave log-utility term added, which an LP solver cannot take.

It solves continuous problems only, so it never serves a placement: the registry keeps it
out of `solve --solver` and `auto` (`placement = False`) and the fair-share stage asks for
it by name. Duals follow HiGHS's convention (the change of the minimized objective per
unit increase of a row's active bound), so the two backends' certificates compare.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from allocator.model.problem import Problem
from solvers.base import (
    Capability,
    Solution,
    SolveOptions,
    SolverError,
    Status,
    UnsupportedRequest,
)
from solvers.registry import register

CONIC_SOLVERS = ("CLARABEL", "SCS")  # in order of preference


@dataclass(frozen=True, eq=False)
class LogUtility:
    """A term `- sum_i weight_i * log(rows_i @ x)` added to the minimized objective:
    maximizing a weighted sum of logs (proportional fairness). `rows` is a sparse matrix
    over the problem's columns; every `rows_i @ x` must be able to be positive."""

    rows: sp.csr_array
    weight: np.ndarray


@register
class CvxpySolver:
    name: ClassVar[str] = "cvxpy"
    rank: ClassVar[int] = 50
    package: ClassVar[str] = "cvxpy"
    install_hint: ClassVar[str] = "pip install 'cvxpy>=1.9,<1.9.2' (or allocator[cvxpy])"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.BOUND, Capability.DUALS}
    )
    placement: ClassVar[bool] = False  # continuous only: not a placement backend

    def available(self) -> bool:
        try:
            cp = _cvxpy()
        except ImportError:
            return False
        return any(s in cp.installed_solvers() for s in CONIC_SOLVERS)

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        return self.solve_convex(problem, None, options)

    def solve_convex(
        self, problem: Problem, utility: LogUtility | None, options: SolveOptions
    ) -> Solution:
        """Minimize `problem`'s linear objective minus `utility`'s logs, if given."""
        if problem.is_mip:
            raise UnsupportedRequest("the cvxpy backend solves continuous problems only")
        try:
            cp = _cvxpy()
        except ImportError as exc:
            raise SolverError(f"cvxpy is not installed; {self.install_hint}") from exc
        started = time.perf_counter()
        conic = next((s for s in CONIC_SOLVERS if s in cp.installed_solvers()), None)
        if conic is None:
            raise SolverError("cvxpy has no conic solver installed (pip install clarabel)")
        x = cp.Variable(problem.n_cols)
        objective = problem.cost @ x + problem.offset
        if utility is not None and utility.rows.shape[0]:
            logs = cp.log(utility.rows @ x)
            objective = objective - cp.sum(cp.multiply(utility.weight, logs))
        groups = _constraints(cp, problem, x)
        model = cp.Problem(cp.Minimize(objective), [c for _, _, c in groups])
        try:
            model.solve(solver=conic, **_settings(conic, options))
        except cp.error.SolverError as exc:
            raise SolverError(f"cvxpy ({conic}) failed: {exc}") from exc
        return _read(cp, model, problem, x, groups, utility, conic, started)


def _cvxpy() -> ModuleType:
    import cvxpy

    return cvxpy


def _settings(conic: str, options: SolveOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {"verbose": False}
    if conic == "CLARABEL":
        settings.update(tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9, max_iter=500)
        if options.time_limit is not None:
            settings["time_limit"] = max(float(options.time_limit), 0.01)
    else:
        settings.update(eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
        if options.time_limit is not None:
            settings["time_limit_secs"] = max(float(options.time_limit), 0.01)
    settings.update(options.backend_options)
    return settings


# (kind, indices, constraint): kind is "row_lo", "row_hi", "row_eq", "col_lo", "col_hi"
Group = tuple[str, np.ndarray, Any]


def _constraints(cp: ModuleType, problem: Problem, x: Any) -> list[Group]:
    """Rows and bounds as few vectorized constraints: equal bounds as equalities, finite
    lower and upper bounds each as one inequality over their rows."""
    groups: list[Group] = []
    a = problem.a.tocsr()
    eq = np.isfinite(problem.row_lo) & (problem.row_lo == problem.row_hi)
    lo = np.isfinite(problem.row_lo) & ~eq
    hi = np.isfinite(problem.row_hi) & ~eq
    for kind, mask, rhs, sense in (
        ("row_eq", eq, problem.row_lo, "=="),
        ("row_lo", lo, problem.row_lo, ">="),
        ("row_hi", hi, problem.row_hi, "<="),
    ):
        idx = np.flatnonzero(mask)
        if len(idx):
            groups.append((kind, idx, _relation(a[idx] @ x, rhs[idx], sense)))
    for kind, bound, sense in (("col_lo", problem.col_lo, ">="), ("col_hi", problem.col_hi, "<=")):
        idx = np.flatnonzero(np.isfinite(bound))
        if len(idx):
            groups.append((kind, idx, _relation(x[idx], bound[idx], sense)))
    return groups


def _relation(expr: Any, rhs: np.ndarray, sense: str) -> Any:
    if sense == "==":
        return expr == rhs
    return expr >= rhs if sense == ">=" else expr <= rhs


_STATUS = {
    "optimal": Status.OPTIMAL,
    "optimal_inaccurate": Status.FEASIBLE,
    "infeasible": Status.INFEASIBLE,
    "infeasible_inaccurate": Status.INFEASIBLE,
    "unbounded": Status.UNBOUNDED,
    "unbounded_inaccurate": Status.UNBOUNDED,
    "user_limit": Status.TIME_LIMIT,
}


def _read(
    cp: ModuleType,
    model: Any,
    problem: Problem,
    x: Any,
    groups: list[Group],
    utility: LogUtility | None,
    conic: str,
    started: float,
) -> Solution:
    status = _STATUS.get(str(model.status))
    if status is None:
        raise SolverError(f"cvxpy ({conic}) ended with status {model.status!r}")
    if status == Status.TIME_LIMIT and x.value is not None:
        status = Status.FEASIBLE
    values = duals = objective = bound = None
    if status.has_solution and x.value is not None:
        values = np.asarray(x.value, dtype=np.float64)
        objective = float(model.value)
        duals = _row_duals(problem, groups)
        if utility is None and duals is not None and status == Status.OPTIMAL:
            bound = _lp_dual_bound(problem, groups, duals)
    stats = model.solver_stats
    log = f"{conic} via cvxpy {cp.__version__}: {model.status}, {stats.num_iters} iterations"
    return Solution(
        status=status,
        solver=f"cvxpy/{conic.lower()}",
        x=values,
        objective=objective,
        bound=bound,
        wall_s=time.perf_counter() - started,
        log_tail=log,
        duals=duals,
    )


def _row_duals(problem: Problem, groups: list[Group]) -> np.ndarray | None:
    """cvxpy's multipliers (>= 0 on inequalities) in HiGHS's sign convention."""
    y = np.zeros(problem.n_rows)
    sign = {"row_lo": 1.0, "row_hi": -1.0, "row_eq": -1.0}
    for kind, idx, constraint in groups:
        if kind in sign:
            value = constraint.dual_value
            if value is None:
                return None
            y[idx] += sign[kind] * np.asarray(value, dtype=np.float64).reshape(-1)
    return y


def _lp_dual_bound(problem: Problem, groups: list[Group], y: np.ndarray) -> float:
    """The Lagrangian dual value of an LP at the reported row duals and bound multipliers:
    a certificate that the objective cannot go below it (up to the duals' accuracy)."""
    value = problem.offset
    value += float(np.where(y > 0, y * _finite(problem.row_lo), 0.0).sum())
    value += float(np.where(y < 0, y * _finite(problem.row_hi), 0.0).sum())
    for kind, idx, constraint in groups:
        if kind in ("col_lo", "col_hi") and constraint.dual_value is not None:
            mult = np.asarray(constraint.dual_value, dtype=np.float64).reshape(-1)
            bound = problem.col_lo if kind == "col_lo" else problem.col_hi
            value += float((mult if kind == "col_lo" else -mult) @ bound[idx])
    return value


def _finite(v: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(v), v, 0.0)
