"""Plan a reassignment within a time limit: exactly when it is small, else by search.

Small problems (few replica-node pairs) go to an exact MIP backend whole, which proves
its optimum; larger ones start from the current assignment, anneal over single-replica
moves, descend over moves and trades, and spend the rest of the time re-solving small
neighbourhoods exactly (`lns`). Where numba is installed and the search has the time to
compile it, a compiled kernel anneals over moves and trades on every core instead
(`cooperate`), each search sweeps every replica over every node at the end
(`cooperate.polish`), and the neighbourhoods take what is left of the time. Either way
the result is checked from scratch before it is returned.

The time limit is wall clock for everything: a MIP backend may run past its own limit
and a branch-and-bound tree may grow without bound, so the whole MIP runs in a child
process stopped by force at its deadline or memory limit (the search then goes on from
its best), each neighbourhood's MIP gets the time left less the most any earlier one ran
over, and settling and the final check get time kept back for them.
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from allocator.io.interrupt import INTERRUPT
from allocator.io.progress import PROGRESS
from allocator.model.problem import Problem
from allocator.reassign.costs import Costs, costs, lower_bound, violations
from allocator.reassign.lns import improve
from allocator.reassign.mip import build, needs_integer_columns
from allocator.reassign.model import Reassignment
from allocator.reassign.search import anneal, descend, settle, typical_change
from allocator.reassign.state import State
from solvers.base import Solution, SolveOptions, Solver, Status
from solvers.registry import get

EXACT_PAIRS = 20_000  # replica x node pairs up to which the whole MIP is solved
ANNEAL_SHARE = 0.2  # of the search's time; then a descent, then MIP neighbourhoods
DESCENT_SHARE = 0.25  # the descent ends by this share at the latest
HOT, COLD = 10.0, 0.01  # annealing temperatures, in typical move costs
SETTLE_SHARE = 0.03  # of the time left, kept for sending replicas home (`settle`)
CHECKS_KEPT = 4  # the final check costs about this many checks of the start
EXACT_MEMORY_MIB = 3072  # the whole MIP is stopped above this (the challenge allowed 4 GB)
EXACT_SLACK = 0.05  # of its time, between the MIP's own limit and stopping it by force
INTERRUPT_GRACE_S = 2.0  # after Ctrl-C, how long the MIP may take to hand back its best
POLL_S = 0.05
COMPILED_MIN_S = 60.0  # a shorter search stays vectorized: compiling the kernel takes 13 to 23 s
COMPILED_SHARE = 0.9  # of the search's time, for the compiled annealing; then it polishes
POLISHED_SHARE = 0.95  # (`cooperate.polish`) by this share at the latest; then neighbourhoods
MIN_SEARCH_S = 0.5  # a search given less time than this is not started after the MIP


@dataclass(frozen=True)
class ReassignOutcome:
    assignment: np.ndarray
    costs: Costs
    start: Costs  # of the current assignment
    bound: int  # nothing costs less
    method: str  # "mip", "anneal+lns", or "mip+anneal+lns" (the search went on from the MIP)
    optimal: bool  # proven: by the MIP backend, or by reaching the bound
    wall_s: float


class InfeasibleStart(ValueError):
    """The current assignment already breaks a hard rule; the search needs a valid start."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems[:5]))
        self.problems = problems


def solve(
    model: Reassignment,
    time_limit: float = 300.0,
    seed: int = 0,
    solver: str = "highs",
    started: float | None = None,
) -> ReassignOutcome:
    """Plan within `time_limit` seconds counted from `started` (a `time.perf_counter`
    moment, default now), so that a caller's own reading and converting count too. Every
    phase gets only the time left: the whole MIP runs apart, is stopped by force at its
    deadline or above EXACT_MEMORY_MIB, and the search takes over from its best when it
    does not finish."""
    started = time.perf_counter() if started is None else started
    deadline = started + time_limit
    checking = time.perf_counter()
    broken = violations(model, model.current)
    if broken:
        raise InfeasibleStart(broken)
    bound = lower_bound(model)
    PROGRESS.bounds(costs(model, model.current).total, bound)
    # the plan is settled then checked by the deadline: keep time for both
    finish = deadline - CHECKS_KEPT * (time.perf_counter() - checking)
    search_end = finish - SETTLE_SHARE * max(finish - time.perf_counter(), 0.0)
    start = model.current
    method = "anneal+lns"
    if model.num_replicas * model.num_nodes <= EXACT_PAIRS:
        backend = get(solver)
        PROGRESS.stage(f"MIP ({backend.name})")
        part = build(model, model.current, integral=needs_integer_columns(backend))
        left = max(search_end - time.perf_counter(), 0.0)
        options = SolveOptions(
            time_limit=max(left * (1 - EXACT_SLACK), 0.01),
            rel_gap=0.0,
            seed=seed,
            warm_start=part.start,
            progress=PROGRESS.bounds,
        )
        found = exact(backend, part.problem, options, time.perf_counter() + left)
        if found is not None and found.x is not None:
            assignment = part.decode(found.x, model.current)
            if found.bound is not None:
                bound = max(bound, math.ceil(found.bound - 1e-6))
            proven = found.status is Status.OPTIMAL
            if proven or search_end - time.perf_counter() < MIN_SEARCH_S:
                return _outcome(model, assignment, bound, "mip", started, proven, finish)
            if not violations(model, assignment):
                start, method = assignment, "mip+anneal+lns"
    assignment = search(model, start, seed, search_end, solver)
    return _outcome(model, assignment, bound, method, started, False, finish)


def search(
    model: Reassignment, start: np.ndarray, seed: int, deadline: float, solver: str = "highs"
) -> np.ndarray:
    """Anneal, descend, then re-solve neighbourhoods, each in its share of the time up to
    `deadline`; the best assignment found from `start` (a feasible one). With numba, the
    compiled kernel anneals on every core instead (`cooperate`)."""
    rng = np.random.default_rng(seed)
    begun = time.perf_counter()
    span = max(deadline - begun, 0.0)
    if span >= COMPILED_MIN_S and model.num_nodes > 1 and importlib.util.find_spec("numba"):
        from allocator.reassign import cooperate  # numba is imported only when it is used

        best = cooperate.anneal_together(
            model,
            start,
            seed,
            begun + COMPILED_SHARE * span,
            polish_by=begun + POLISHED_SHARE * span,
        )
        return improve(model, best, rng, deadline, solver)
    state = State(model, start)
    scale = typical_change(state, rng)
    PROGRESS.stage("annealing")
    best, _ = anneal(state, rng, begun + ANNEAL_SHARE * span, HOT * scale, COLD * scale)
    state = State(model, best)
    PROGRESS.stage("descent")
    PROGRESS.bounds(costs(model, best).total, None)
    descend(state, rng, begun + DESCENT_SHARE * span)
    PROGRESS.bounds(costs(model, state.assignment).total, None)
    return improve(model, state.assignment, rng, deadline, solver)


def exact(
    backend: Solver, problem: Problem, options: SolveOptions, stop_at: float
) -> Solution | None:
    """The backend's solve of `problem`, run in a child process so that it can be stopped
    by force: at `stop_at` (a `time.perf_counter` moment; its own limit is
    `options.time_limit`, which a MIP may overrun), when it holds more than
    EXACT_MEMORY_MIB, or soon after Ctrl-C. None when it was stopped, failed, or gave no
    answer; the caller then searches instead. Where processes cannot be forked, it runs
    here under its own time limit (so also in a daemonic worker, which may not fork)."""
    if (
        "fork" not in multiprocessing.get_all_start_methods()
        or multiprocessing.current_process().daemon
    ):
        return backend.solve(problem, options)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    scratch = tempfile.mkdtemp(prefix="allocator-mip-")  # its logs, removed even if killed
    child = context.Process(
        target=_solve_apart, args=(backend, problem, options, send, scratch), daemon=True
    )
    child.start()
    send.close()
    found: Solution | None = None
    interrupted: float | None = None
    try:
        while True:
            if receive.poll(POLL_S):
                try:
                    kind, *payload = receive.recv()
                except EOFError:  # it ended without an answer
                    break
                if kind == "bounds" and options.progress is not None:
                    options.progress(*payload)
                elif kind == "solution":
                    found = payload[0]
                    break
                elif kind == "error":
                    break
                continue
            now = time.perf_counter()
            if INTERRUPT.is_set() and interrupted is None:
                interrupted = now
            if (
                now >= stop_at
                or _resident_mib(child.pid) > EXACT_MEMORY_MIB
                or (interrupted is not None and now - interrupted > INTERRUPT_GRACE_S)
            ):
                break
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return found


def _solve_apart(
    backend: Solver, problem: Problem, options: SolveOptions, send: Connection, scratch: str
) -> None:
    """In the child: solve, reporting the bounds as they move, and send the answer."""
    tempfile.tempdir = scratch
    try:
        progress = None if options.progress is None else lambda *b: send.send(("bounds", *b))
        found = backend.solve(problem, replace(options, progress=progress))
        send.send(("solution", found))
    except BaseException as exc:  # the parent searches instead
        send.send(("error", repr(exc)))
    finally:
        send.close()


def _resident_mib(pid: int | None) -> float:
    """Resident memory of a process, in MiB (0 where /proc cannot tell)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _outcome(
    model: Reassignment,
    assignment: np.ndarray,
    bound: int,
    method: str,
    started: float,
    proven: bool,
    settle_by: float | None = None,
) -> ReassignOutcome:
    if violations(model, assignment):  # never hand out a broken plan
        assignment = model.current
    state = State(model, assignment)
    settle(state, settle_by)
    assignment = state.assignment
    found = costs(model, assignment)
    return ReassignOutcome(
        assignment=assignment,
        costs=found,
        start=costs(model, model.current),
        bound=bound,
        method=method,
        optimal=proven or found.total <= bound,
        wall_s=time.perf_counter() - started,
    )
