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

from allocator.io.interrupt import INTERRUPT
from allocator.reassign.moves import shift_prices, swap_prices
from allocator.reassign.state import State

NO_MOVE = np.iinfo(np.int64).max
SWAP_CANDIDATES = 2000  # trades priced per replica at most
SWAPS_TRIED = 4  # cheapest trades checked against spread and dependencies
ANNEAL_BATCH = 200  # annealing steps between temperature updates


def descend(state: State, rng: np.random.Generator, deadline: float) -> int:
    """Take improving moves and trades until none is left or time is up; the gain."""
    gained = 0
    while time.perf_counter() < deadline and not INTERRUPT.is_set():
        sweep = 0
        for replica in rng.permutation(state.model.num_replicas):
            if time.perf_counter() >= deadline or INTERRUPT.is_set():
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
        if elapsed >= 1 or INTERRUPT.is_set():
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


def settle(state: State, deadline: float | None = None) -> int:
    """Send home every moved replica whose return costs nothing and breaks no rule, alone
    or by trading places with a replica whose home is where it runs now, so that a plan
    never moves replicas for no gain; the number sent home. Each step keeps the plan valid
    and no dearer, so stopping at `deadline` (a `time.perf_counter` moment) is safe."""
    m = state.model
    returned = 0
    changed = True
    while changed:
        changed = False
        for replica in np.flatnonzero(state.assignment != m.current).tolist():
            if deadline is not None and time.perf_counter() >= deadline:
                return returned
            home = int(m.current[replica])
            if state.assignment[replica] == home:
                continue
            delta, ok = shift_prices(state, replica)
            if ok[home] and delta[home] <= 0:
                state.move(replica, home)
                returned += 1
                changed = True
                continue
            partners = np.flatnonzero(
                (state.assignment == home) & (m.current == state.assignment[replica])
            )
            if len(partners) > 1:  # price them all at once; only these can trade
                delta, ok = swap_prices(state, replica, partners)
                partners = partners[ok & (delta <= 0)]
            for other in partners.tolist():
                if _trade(state, replica, other, accept_zero=True) >= 0:
                    returned += 2
                    changed = True
                    break
    return returned


def _trade(state: State, replica: int, other: int, accept_zero: bool = False) -> int:
    """Trade the nodes of two replicas if that saves cost (or, with `accept_zero`, costs
    nothing) and keeps every rule; the saving, or -1 when nothing was traded."""
    m = state.model
    delta, ok = swap_prices(state, replica, np.array([other]))
    if not ok[0] or delta[0] > 0 or (delta[0] == 0 and not accept_zero):
        return -1
    source, target = int(state.assignment[replica]), int(state.assignment[other])
    w_i, w_j = int(m.workload[replica]), int(m.workload[other])
    before = state.domains[[w_i, w_j]].copy()
    most = state.most_moved
    state.move(replica, target)
    state.move(other, source)
    change = int(delta[0]) + m.workload_move_weight * (state.most_moved - most)
    if (change < 0 or (change == 0 and accept_zero)) and state.rules_hold(
        [w_i, w_j], [source, target], before
    ):
        return -change
    state.move(other, target)
    state.move(replica, source)
    return -1


def _shift(state: State, replica: int) -> int:
    delta, ok = shift_prices(state, replica)
    delta = np.where(ok, delta, NO_MOVE)
    node = int(np.argmin(delta))
    if delta[node] >= 0:
        return 0
    state.move(replica, node)
    return -int(delta[node])


def _swap(state: State, replica: int, rng: np.random.Generator) -> int:
    others = np.flatnonzero(state.assignment != state.assignment[replica])
    if len(others) > SWAP_CANDIDATES:
        others = rng.choice(others, SWAP_CANDIDATES, replace=False)
    delta, ok = swap_prices(state, replica, others)
    delta = np.where(ok, delta, NO_MOVE)
    for k in np.argsort(delta)[:SWAPS_TRIED]:
        if delta[k] >= 0:
            break
        saved = _trade(state, replica, int(others[k]))
        if saved > 0:
            return saved
    return 0
