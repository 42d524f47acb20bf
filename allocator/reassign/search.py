"""Local search over a feasible reassignment: move one replica, or trade two.

`anneal` walks over single-replica moves, pricing every destination of a replica at
once (`moves.shift_prices`) and drawing one by its Boltzmann weight. `descend` then takes
only improving steps, a replica's best move or, when none helps, its best trade with
another replica (`moves.swap_prices`), and stops in a local optimum that the MIP
neighbourhoods (`allocator.reassign.lns`) try to leave.
"""

from __future__ import annotations

import time

import numpy as np

from allocator.reassign.moves import shift_prices, swap_prices
from allocator.reassign.state import State

NO_MOVE = np.iinfo(np.int64).max
SWAP_CANDIDATES = 2000  # trades priced per replica at most
SWAPS_TRIED = 4  # cheapest trades checked against spread and dependencies
ANNEAL_BATCH = 200  # annealing steps between temperature updates


def descend(state: State, rng: np.random.Generator, deadline: float) -> int:
    """Take improving moves and trades until none is left or time is up; the gain."""
    gained = 0
    while time.perf_counter() < deadline:
        sweep = 0
        for replica in rng.permutation(state.model.num_replicas):
            if time.perf_counter() >= deadline:
                break
            sweep += _shift(state, int(replica)) or _swap(state, int(replica), rng)
        gained += sweep
        if sweep == 0:
            break
    return gained


def anneal(
    state: State, rng: np.random.Generator, deadline: float, hot: float, cold: float
) -> tuple[np.ndarray, int]:
    """Simulated annealing over single-replica moves, cooling geometrically from `hot` to
    `cold` by the deadline: each step prices every destination of a random replica and
    draws one with probability proportional to exp(-change / temperature), staying put
    included. Returns the best assignment seen and how much it saves."""
    started = time.perf_counter()
    span = max(deadline - started, 1e-9)
    change = saved = 0
    best = state.assignment.copy()
    temperature = hot
    while True:
        for _ in range(ANNEAL_BATCH):
            replica = int(rng.integers(state.model.num_replicas))
            delta, ok = shift_prices(state, replica)
            source = state.assignment[replica]
            ok[source], delta[source] = True, 0
            weight = np.where(ok, -delta / temperature, -np.inf)
            weight = np.exp(weight - weight.max())
            node = int(rng.choice(len(weight), p=weight / weight.sum()))
            if node != source:
                state.move(replica, node)
                change += int(delta[node])
                if change < saved:
                    saved, best = change, state.assignment.copy()
        elapsed = (time.perf_counter() - started) / span
        if elapsed >= 1:
            return best, -saved
        temperature = hot * (cold / hot) ** elapsed


def typical_change(state: State, rng: np.random.Generator, samples: int = 200) -> float:
    """Median cost of the allowed moves of a few random replicas: the scale annealing
    starts from."""
    changes = []
    for replica in rng.choice(state.model.num_replicas, samples):
        delta, ok = shift_prices(state, int(replica))
        changes.append(np.abs(delta[ok]))
    changes = np.concatenate(changes)
    return float(np.median(changes)) if len(changes) else 1.0


def _shift(state: State, replica: int) -> int:
    delta, ok = shift_prices(state, replica)
    delta = np.where(ok, delta, NO_MOVE)
    node = int(np.argmin(delta))
    if delta[node] >= 0:
        return 0
    state.move(replica, node)
    return -int(delta[node])


def _swap(state: State, replica: int, rng: np.random.Generator) -> int:
    m = state.model
    others = np.flatnonzero(state.assignment != state.assignment[replica])
    if len(others) > SWAP_CANDIDATES:
        others = rng.choice(others, SWAP_CANDIDATES, replace=False)
    delta, ok = swap_prices(state, replica, others)
    delta = np.where(ok, delta, NO_MOVE)
    best = np.argsort(delta)[:SWAPS_TRIED]
    source = int(state.assignment[replica])
    w_i = int(m.workload[replica])
    for k in best:
        if delta[k] >= 0:
            break
        other = int(others[k])
        target = int(state.assignment[other])
        w_j = int(m.workload[other])
        before = state.domains[[w_i, w_j]].copy()
        most = state.most_moved
        state.move(replica, target)
        state.move(other, source)
        change = int(delta[k]) + m.workload_move_weight * (state.most_moved - most)
        if change < 0 and state.rules_hold([w_i, w_j], [source, target], before):
            return -change
        state.move(other, target)
        state.move(replica, source)
    return 0
