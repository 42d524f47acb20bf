"""Backends by name, found by looking into this package: each backend module registers its
class with `register`, so adding a backend is adding a module. `auto` falls back along
the backends by rank; `first_with` picks a backend by what it can do, not by its name."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import ClassVar, TypeVar

from allocator.model.problem import Problem
from solvers.base import (
    Capability,
    Solution,
    SolveOptions,
    Solver,
    SolverError,
    UnsupportedRequest,
)

_BACKENDS: dict[str, type[Solver]] = {}
_discovered = False
S = TypeVar("S", bound=type[Solver])
_NOT_BACKENDS = frozenset({"base", "registry"})


def register(cls: S) -> S:
    """Class decorator: make a backend selectable by its name."""
    _BACKENDS[cls.name] = cls
    return cls


def backends() -> dict[str, type[Solver]]:
    """Every registered backend class by name, in rank order (installed or not)."""
    global _discovered
    if not _discovered:
        _discovered = True
        import solvers

        for module in pkgutil.iter_modules(solvers.__path__):
            if module.name not in _NOT_BACKENDS:
                importlib.import_module(f"solvers.{module.name}")
    return dict(sorted(_BACKENDS.items(), key=lambda item: (item[1].rank, item[0])))


def places(cls: type[Solver]) -> bool:
    """Whether a backend may serve placement solves: those that declare `placement =
    False` (continuous-only backends such as cvxpy) are asked for by name elsewhere."""
    return bool(getattr(cls, "placement", True))


class AutoSolver:
    """Tries the MIP backends in rank order (HiGHS, CBC, CP-SAT) until one solves."""

    name: ClassVar[str] = "auto"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LP, Capability.MIP, Capability.BOUND, Capability.WARM_START}
    )
    rank: ClassVar[int] = 1_000
    package: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    def __init__(self) -> None:
        self.failures: list[str] = []

    @property
    def order(self) -> list[str]:
        return [
            name
            for name, cls in backends().items()
            if Capability.MIP in cls.capabilities and places(cls)
        ]

    def available(self) -> bool:
        return any(backends()[name]().available() for name in self.order)

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        for name in self.order:
            backend = backends()[name]()
            if not problem.integer.all() and Capability.LP not in backend.capabilities:
                continue
            if not backend.available():
                self.failures.append(f"{name}: not installed ({backend.install_hint})")
                continue
            try:
                return backend.solve(problem, options)
            except SolverError as exc:
                self.failures.append(f"{name}: {str(exc).splitlines()[0]}")
        raise SolverError("no exact backend could solve the problem: " + "; ".join(self.failures))


def names() -> list[str]:
    """What placement solves accept as a backend name."""
    return [*(name for name, cls in backends().items() if places(cls)), AutoSolver.name]


def get(name: str, placement: bool = True) -> Solver:
    """A backend instance by name; unknown or missing backends get an actionable message.
    With `placement` (the default) only backends that serve placement solves are given."""
    if name == AutoSolver.name:
        return AutoSolver()
    cls = backends().get(name)
    if cls is not None and placement and not places(cls):
        raise UnsupportedRequest(
            f"solver {name!r} solves continuous problems only (fair shares: allocator share);"
            f" for placements use one of: {', '.join(names())}"
        )
    if cls is None:
        raise UnsupportedRequest(f"unknown solver {name!r}; expected one of: {', '.join(names())}")
    backend = cls()
    if not backend.available():
        raise UnsupportedRequest(f"solver {name!r} is not installed; {cls.install_hint}")
    return backend


def first_with(needs: Iterable[Capability], prefer: Solver | None = None) -> Solver | None:
    """The preferred backend if it has every capability in `needs`, else the first
    installed one by rank that has them; None when none has."""
    needs = frozenset(needs)
    if prefer is not None and needs <= prefer.capabilities and prefer.name != AutoSolver.name:
        return prefer
    for cls in backends().values():
        if needs <= cls.capabilities and places(cls):
            backend = cls()
            if backend.available():
                return backend
    return None
