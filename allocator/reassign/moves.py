"""Price and check moves of one replica, or swaps of two, against a `State`.

`shift_prices` prices moving a replica to every node at once (costs and the capacity,
distinct-node, spread and dependency rules as boolean masks); `swap_prices` prices
trades of a replica with others the same way. Both leave the state untouched.
"""

from __future__ import annotations

import numpy as np

from allocator.reassign.model import Reassignment
from allocator.reassign.state import State


def node_cost(model: Reassignment, used: np.ndarray, nodes: np.ndarray | slice) -> np.ndarray:
    """Load plus balance cost of nodes at the given use; `used` rows match `nodes`."""
    over = np.maximum(used - model.soft_capacity[nodes], 0) @ model.load_weight
    if len(model.balance_target):
        free = model.capacity[nodes] - used
        first = free[..., model.balance_first] * model.balance_target
        over = over + np.maximum(first - free[..., model.balance_second], 0) @ model.balance_weight
    return over


def shift_prices(state: State, replica: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,) change of the objective if the replica moved to each node, and (N,) which
    nodes it may move to without breaking a hard rule."""
    m = state.model
    need = m.need[replica]
    source = int(state.assignment[replica])
    origin = int(m.current[replica])
    w = int(m.workload[replica])

    used_after = state.used + need
    total = used_after + state.held
    if source != origin:  # coming back releases what it holds on its origin
        total[origin] -= np.where(m.transient, need, 0)
    ok = (total <= m.capacity).all(axis=1)
    ok[state.assignment[state.siblings[w]]] = False  # also excludes the source

    spread = m.spread_domain
    lose = state.in_spread[w, spread[source]] == 1
    gain = state.in_spread[w, spread] == 0
    domains_after = state.domains[w] - (lose & (spread != spread[source])) + gain
    ok &= (domains_after >= m.min_domains[w]) | (domains_after >= state.domains[w])

    dep = m.dependency_domain
    needs = m.depends_on[w]
    needs = needs[needs != w]  # a replica always has itself nearby
    if len(needs):
        ok &= (state.in_dep[needs][:, dep] > 0).all(axis=0)
    if state.in_dep[w, dep[source]] == 1:
        needers = m.needed_by[w]
        needers = needers[needers != w]
        if len(needers) and (state.in_dep[needers, dep[source]] > 0).any():
            ok &= dep == dep[source]

    delta = node_cost(m, used_after, slice(None)) - node_cost(m, state.used, slice(None))
    delta += int(
        node_cost(m, state.used[source] - need, source) - node_cost(m, state.used[source], source)
    )
    delta += m.node_move_cost[origin] - m.node_move_cost[origin, source]
    if source == origin:
        delta += m.replica_move_cost[replica]
        moves = state.most_moved_if(w, int(state.moved[w]) + 1) - state.most_moved
        delta += m.workload_move_weight * moves
        delta[origin] = 0
    else:
        back = state.most_moved_if(w, int(state.moved[w]) - 1) - state.most_moved
        delta[origin] -= m.replica_move_cost[replica] - m.workload_move_weight * back
    return delta, ok


def swap_prices(state: State, replica: int, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Change of the objective if the replica traded nodes with each of `others`, leaving
    out the most-moved-workload term, and which trades keep capacity and distinct nodes.
    Spread and dependencies are checked on the chosen trade by `State.rules_hold`."""
    m = state.model
    a = state.assignment
    s = int(a[replica])
    t = a[others]
    need_i, need_j = m.need[replica], m.need[others]
    o_i, o_j = int(m.current[replica]), m.current[others]
    transient = m.transient.astype(np.int64)

    used_s = state.used[s] - need_i + need_j
    used_t = state.used[t] - need_j + need_i
    held_s = (
        state.held[s] + (o_i == s) * transient * need_i - (o_j == s)[:, None] * transient * need_j
    )
    held_t = (
        state.held[t]
        + (o_j == t)[:, None] * transient * need_j
        - ((o_i == t)[:, None] * transient) * need_i
    )
    ok = (used_s + held_s <= m.capacity[s]).all(axis=1) & (used_t + held_t <= m.capacity[t]).all(
        axis=1
    )
    w_i, w_j = int(m.workload[replica]), m.workload[others]
    same = w_j == w_i  # trading within a workload keeps its set of nodes
    ok &= t != s
    ok &= same | (~np.isin(t, a[state.siblings[w_i]]) & ~np.isin(w_j, m.workload[a == s]))

    delta = node_cost(m, used_s, np.full(len(others), s)) + node_cost(m, used_t, t)
    delta -= int(node_cost(m, state.used[s], s)) + node_cost(m, state.used[t], t)
    delta += m.replica_move_cost[replica] * ((t != o_i).astype(np.int64) - int(s != o_i))
    delta += m.replica_move_cost[others] * ((s != o_j).astype(np.int64) - (t != o_j))
    delta += m.node_move_cost[o_i, t] - m.node_move_cost[o_i, s]
    delta += m.node_move_cost[o_j, s] - m.node_move_cost[o_j, t]
    return delta, ok
