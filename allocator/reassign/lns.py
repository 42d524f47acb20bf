"""Large neighbourhood search: re-solve the replicas of a few nodes exactly, many times.

Single moves stall where a node has room under its soft capacity that no replica can use
without a chain of other moves: typically room on a transient dimension that replicas
which left the node still hold. Each step picks such a node (or the home of a moved
replica, to save move costs), the nodes its departed replicas run on now (so that they
may come home), and a few costly nodes, frees every replica on them, and lets the MIP
backend find their best arrangement.
"""

from __future__ import annotations

import time

import numpy as np

from allocator.io.interrupt import INTERRUPT
from allocator.io.progress import PROGRESS
from allocator.reassign.costs import costs, usage
from allocator.reassign.mip import build, needs_integer_columns
from allocator.reassign.model import Reassignment
from allocator.reassign.moves import node_cost
from solvers.base import SolveOptions
from solvers.registry import get

DEPARTED = 3  # nodes hosting replicas that left the seed node
COSTLY = 3  # nodes drawn by their cost
STEP_LIMIT = 2.0  # seconds per MIP
MIN_STEP = 0.05  # a MIP given less time than this is not started
FIRST_OVERRUN = 0.1  # seconds a round may run past its MIP's limit, until one has been seen
SEED_UNDER_SOFT = 0.5  # chance that the seed is a node with room under soft capacity,
SEED_HOME = 0.85  # else up to this, the home of a moved replica (moving back saves its cost)


def improve(
    model: Reassignment,
    assignment: np.ndarray,
    rng: np.random.Generator,
    deadline: float,
    solver: str = "highs",
) -> np.ndarray:
    """The best assignment found by re-solving neighbourhoods until the deadline. A round
    also builds its MIP and the backend may run past its limit (HiGHS by most of a second
    on large parts), so each MIP gets the time left less the most a round has overrun."""
    backend = get(solver)
    integral = needs_integer_columns(backend)
    best = np.array(assignment, dtype=np.int64)
    best_total = costs(model, best).total
    rounds = 0
    overrun = FIRST_OVERRUN
    while deadline - time.perf_counter() - overrun > MIN_STEP and not INTERRUPT.is_set():
        rounds += 1
        PROGRESS.stage(f"neighbourhood search round {rounds}")
        begun = time.perf_counter()
        part = build(model, best, neighbourhood(model, best, rng), integral)
        limit = min(STEP_LIMIT, deadline - time.perf_counter() - overrun)
        if limit < MIN_STEP:
            break
        options = SolveOptions(time_limit=limit, rel_gap=0.0, warm_start=part.start)
        found = backend.solve(part.problem, options)
        if found.x is not None:
            candidate = part.decode(found.x, best)
            total = costs(model, candidate).total
            if total < best_total:
                best, best_total = candidate, total
                PROGRESS.bounds(best_total, None)
        overrun = max(overrun, time.perf_counter() - begun - limit)
    return best


def neighbourhood(model: Reassignment, assignment: np.ndarray, rng: np.random.Generator):
    """A seed node, nodes its departed replicas run on, and a few nodes drawn by cost."""
    used = usage(model, assignment)
    room = np.maximum(model.soft_capacity - used, 0) @ model.load_weight
    under = np.flatnonzero(room > 0)
    homes = model.current[assignment != model.current]
    draw = rng.random()
    if len(under) and draw < SEED_UNDER_SOFT:
        seed = int(rng.choice(under))
    elif len(homes) and draw < SEED_HOME:
        seed = int(rng.choice(homes))
    else:
        seed = int(rng.integers(model.num_nodes))
    departed = assignment[(model.current == seed) & (assignment != seed)]
    if len(departed) > DEPARTED:
        departed = rng.choice(departed, DEPARTED, replace=False)
    weight = node_cost(model, used, slice(None)).astype(np.float64) + 1.0
    count = min(COSTLY, model.num_nodes)
    costly = rng.choice(model.num_nodes, count, replace=False, p=weight / weight.sum())
    return np.unique(np.concatenate([[seed], departed, costly]))
