"""The protocol every solver backend follows, and the records it exchanges.

A backend takes a neutral `Problem` and `SolveOptions` and returns a `Solution`.
Infeasibility is a status, never an exception; an exception means the backend failed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from allocator.io.interrupt import INTERRUPT
from allocator.model.problem import Basis, Problem


class Status(StrEnum):
    """How a solve ended.

    feasible: a solution, not proven optimal (stopped by a time or gap limit);
    time_limit: stopped by the time limit without any solution.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class Capability(StrEnum):
    LP = "lp"  # solves continuous problems
    MIP = "mip"  # solves problems with integer columns
    BOUND = "bound"  # reports a proven bound on the optimum
    DUALS = "duals"  # reports row duals of LPs
    WARM_START = "warm_start"  # uses SolveOptions.warm_start
    BASIS = "basis"  # an LP starts from SolveOptions.basis and reports Solution.basis
    # finds (or rules out) solutions of small pure-integer problems fastest: the pricing
    # problems of column generation
    SMALL_INTEGER = "small_integer"


BackendValue = bool | int | float | str


@dataclass(frozen=True)
class SolveOptions:
    """Backend-neutral settings; each backend translates them to its own names.

    `solution_limit` stops a MIP after that many improving solutions, `after_first_s` that
    long after the first (pricing problems want a few good columns, not a proof);
    `keep_solutions` asks for the improving solutions met on the way as well (each a
    column for column generation), where the backend can give them; `backend_options` pass
    through verbatim in the backend's own vocabulary."""

    time_limit: float | None = None  # seconds
    rel_gap: float = 1e-6
    threads: int | None = None
    seed: int = 0
    warm_start: np.ndarray | None = None
    basis: Basis | None = None  # an LP's starting simplex basis (a MIP ignores it)
    log: Callable[[str], None] | None = None
    solution_limit: int | None = None
    # A MIP ends this many seconds after its first solution at the latest (where the
    # backend can tell): a column now beats a proof later.
    after_first_s: float | None = None
    keep_solutions: bool = False
    # The caller's own reason to end a solve early, polled as often as the time limit is
    # (HiGHS, CP-SAT, CBC): another search working on the same problem reached the goal.
    # The solve then returns what it has, as on a time limit.
    stop_when: Callable[[], bool] | None = None
    # Called with the columns of each improving solution of a MIP as it is found (HiGHS,
    # CP-SAT), from the backend's own thread: another search may go on from it.
    on_solution: Callable[[np.ndarray], None] | None = None
    # How long a call may run past its time limit before it is left behind on its thread
    # (HiGHS; None: the backend's own grace). A caller with a hard deadline of its own and
    # the solutions already handed on (`on_solution`) can afford a short one.
    grace_s: float | None = None
    backend_options: Mapping[str, BackendValue] = field(default_factory=dict)
    # Called with (incumbent objective, best bound) as a MIP moves them, either may be
    # None; from the backend's own thread.
    progress: Callable[[float | None, float | None], None] | None = None


@dataclass(frozen=True)
class Solution:
    """What a backend found. `x` is aligned with the problem's columns."""

    status: Status
    solver: str
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    wall_s: float = 0.0
    log_tail: str = ""
    duals: np.ndarray | None = None
    # Earlier improving solutions, with `SolveOptions.keep_solutions` (x is the last).
    earlier: tuple[np.ndarray, ...] = ()
    basis: Basis | None = None  # of an LP solved to optimality, where the backend has one

    @property
    def gap(self) -> float | None:
        """Relative gap between objective and bound (0 when proven optimal)."""
        if self.objective is None or self.bound is None:
            return None
        diff = abs(self.objective - self.bound)
        if diff <= 1e-9 * max(1.0, abs(self.objective)):
            return 0.0
        return diff / max(abs(self.objective), 1e-9)


class SolverError(RuntimeError):
    """A backend failed (crashed, missing, or rejected the problem)."""


class UnsupportedRequest(SolverError):
    """The backend asked for is unknown, not installed, or cannot take this input."""


@runtime_checkable
class Solver(Protocol):
    """An exact backend. `rank` orders backends where several could serve (lower first);
    `package` is the distribution that provides it, `install_hint` how to get it."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    rank: ClassVar[int]
    package: ClassVar[str]
    install_hint: ClassVar[str]

    def available(self) -> bool: ...

    def solve(self, problem: Problem, options: SolveOptions) -> Solution: ...


def package_version(package: str) -> str | None:
    """Installed version of a backend's distribution, None when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


T = TypeVar("T")


class LeftBehind(TimeoutError):
    """A solver call that did not stop in time and was left to finish on its own thread."""


def interruptible(
    work: Callable[[], T],
    stop: Callable[[], None],
    poll: Callable[[], None] | None = None,
    give_up_at: float | None = None,
    stop_when: Callable[[], bool] | None = None,
) -> T:
    """Run `work` (a blocking solver call) in a thread while the calling thread waits in
    short steps, so that a signal handler can run; once INTERRUPT is set (or `stop_when()`
    is true), `stop()` asks the solver to end early (it returns what it has, as on a time
    limit). `poll` runs at every step (e.g. to follow a log the solver writes).

    Some solver phases (HiGHS's presolve, a round of cut separation) never look at the
    clock or the stop request; past `give_up_at` (a `time.perf_counter` moment) `stop()`
    is asked once more and the call is left to end on its own daemon thread: LeftBehind is
    raised, so that a deadline holds whatever the solver does."""
    outcome: dict[str, T | BaseException] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="solver", daemon=True)
    thread.start()
    stopped = False
    while thread.is_alive():
        thread.join(0.05)
        if poll is not None:
            poll()
        asked = INTERRUPT.is_set() or (stop_when is not None and stop_when())
        if asked and not stopped:
            stop()
            stopped = True
        if give_up_at is not None and thread.is_alive() and time.perf_counter() >= give_up_at:
            stop()
            raise LeftBehind("the solver did not stop at its time limit")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def new_log_file(backend: str) -> str:
    """A temporary file for a backend's log, so that nothing it prints reaches stdout."""
    fd, path = tempfile.mkstemp(prefix=f"allocator-{backend}-", suffix=".log")
    os.close(fd)
    return path


def read_log_file(path: str) -> str:
    """The log a backend wrote; the file is removed."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
