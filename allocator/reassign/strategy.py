"""Plan a reassignment within a time limit: exactly when it is small, else by search.

Small problems (few replica-node pairs) go to an exact MIP backend whole, which proves
its optimum; larger ones start from the current assignment, anneal over single-replica
moves, descend over moves and trades, and spend the rest of the time re-solving small
neighbourhoods exactly (`lns`). Either way the result is checked from scratch before it
is returned.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from allocator.io.progress import PROGRESS
from allocator.reassign.costs import Costs, costs, lower_bound, violations
from allocator.reassign.lns import improve
from allocator.reassign.mip import build, needs_integer_columns
from allocator.reassign.model import Reassignment
from allocator.reassign.search import anneal, descend, settle, typical_change
from allocator.reassign.state import State
from solvers.base import SolveOptions, Status
from solvers.registry import get

EXACT_PAIRS = 20_000  # replica x node pairs up to which the whole MIP is solved
ANNEAL_SHARE = 0.2  # of the time limit; then a descent, then MIP neighbourhoods
DESCENT_SHARE = 0.25  # the descent ends by this share at the latest
HOT, COLD = 10.0, 0.01  # annealing temperatures, in typical move costs


@dataclass(frozen=True)
class ReassignOutcome:
    assignment: np.ndarray
    costs: Costs
    start: Costs  # of the current assignment
    bound: int  # nothing costs less
    method: str  # "mip" or "anneal+lns"
    optimal: bool  # proven: by the MIP backend, or by reaching the bound
    wall_s: float


class InfeasibleStart(ValueError):
    """The current assignment already breaks a hard rule; the search needs a valid start."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems[:5]))
        self.problems = problems


def solve(
    model: Reassignment, time_limit: float = 300.0, seed: int = 0, solver: str = "highs"
) -> ReassignOutcome:
    started = time.perf_counter()
    deadline = started + time_limit
    broken = violations(model, model.current)
    if broken:
        raise InfeasibleStart(broken)
    bound = lower_bound(model)
    PROGRESS.bounds(costs(model, model.current).total, bound)
    if model.num_replicas * model.num_nodes <= EXACT_PAIRS:
        backend = get(solver)
        PROGRESS.stage(f"MIP ({backend.name})")
        part = build(model, model.current, integral=needs_integer_columns(backend))
        options = SolveOptions(
            time_limit=time_limit,
            rel_gap=0.0,
            seed=seed,
            warm_start=part.start,
            progress=PROGRESS.bounds,
        )
        found = backend.solve(part.problem, options)
        if found.x is not None:
            assignment = part.decode(found.x, model.current)
            if found.bound is not None:
                bound = max(bound, math.ceil(found.bound - 1e-6))
            proven = found.status is Status.OPTIMAL
            return _outcome(model, assignment, bound, "mip", started, proven)
    rng = np.random.default_rng(seed)
    state = State(model, model.current)
    scale = typical_change(state, rng)
    PROGRESS.stage("annealing")
    best, _ = anneal(state, rng, started + ANNEAL_SHARE * time_limit, HOT * scale, COLD * scale)
    state = State(model, best)
    PROGRESS.stage("descent")
    PROGRESS.bounds(costs(model, best).total, None)
    descend(state, rng, started + DESCENT_SHARE * time_limit)
    PROGRESS.bounds(costs(model, state.assignment).total, None)
    assignment = improve(model, state.assignment, rng, deadline, solver)
    return _outcome(model, assignment, bound, "anneal+lns", started, proven=False)


def _outcome(
    model: Reassignment,
    assignment: np.ndarray,
    bound: int,
    method: str,
    started: float,
    proven: bool,
) -> ReassignOutcome:
    if violations(model, assignment):  # never hand out a broken plan
        assignment = model.current
    state = State(model, assignment)
    settle(state)
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
