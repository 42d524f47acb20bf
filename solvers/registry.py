"""Backends by name, what is installed, and `auto`, which falls back along a list."""

from __future__ import annotations

from typing import ClassVar

from allocator.model.problem import Problem
from solvers.base import (
    Capability,
    Solution,
    SolveOptions,
    Solver,
    SolverError,
    UnsupportedRequest,
)
from solvers.cbc import CbcSolver
from solvers.cpsat import CpSatSolver
from solvers.greedy import GreedySolver
from solvers.highs import HighsSolver
from solvers.online import ONLINE_SOLVERS

BACKENDS: dict[str, type] = {
    cls.name: cls for cls in (HighsSolver, CbcSolver, CpSatSolver, GreedySolver, *ONLINE_SOLVERS)
}
EXACT = ("highs", "cbc", "cpsat")
INSTALL_HINT = {
    "highs": "pip install 'highspy==1.12.*'",
    "cbc": "pip install pulp",
    "cpsat": "pip install 'ortools==9.15.*'",
}


class AutoSolver:
    """Tries exact backends in order (HiGHS, CBC, CP-SAT) until one solves the problem."""

    name: ClassVar[str] = "auto"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.MIP, Capability.BOUND, Capability.WARM_START}
    )

    def __init__(self, order: tuple[str, ...] = EXACT):
        self.order = order
        self.failures: list[str] = []

    def available(self) -> bool:
        return any(BACKENDS[name]().available() for name in self.order)

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        for name in self.order:
            backend = BACKENDS[name]()
            if not problem.integer.all() and Capability.LP not in backend.capabilities:
                continue
            if not backend.available():
                self.failures.append(f"{name}: not installed ({INSTALL_HINT.get(name, '')})")
                continue
            try:
                return backend.solve(problem, options)
            except SolverError as exc:
                self.failures.append(f"{name}: {str(exc).splitlines()[0]}")
        raise SolverError("no exact backend could solve the problem: " + "; ".join(self.failures))


def names() -> list[str]:
    return [*BACKENDS, AutoSolver.name]


def get(name: str) -> Solver:
    """A backend instance by name; unknown or missing backends get an actionable message."""
    if name == AutoSolver.name:
        return AutoSolver()
    cls = BACKENDS.get(name)
    if cls is None:
        raise UnsupportedRequest(f"unknown solver {name!r}; expected one of: {', '.join(names())}")
    backend = cls()
    if not backend.available():
        raise UnsupportedRequest(f"solver {name!r} is not installed; {INSTALL_HINT.get(name, '')}")
    return backend
