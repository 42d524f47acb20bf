"""A reassignment, or the part of it on a few nodes, as a neutral MIP.

`build` frees the replicas on the given nodes (all nodes: the whole problem) to move among
those nodes, keeps every other replica where it is as constants, and writes the exact
objective, so that the optimum of the part is the best reassignment that only touches it.
Columns: assign[replica, node] 0/1; over_soft[node, dim] and imbalance[node, balance]
for the two per-node costs; in_domain[workload, domain] (spread) and hosts[workload,
domain] (dependencies) 0/1; most_moved, the largest count of moved replicas of one workload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.model.problem import INF, Problem, ProblemBuilder
from allocator.reassign.costs import domain_counts, held, usage
from allocator.reassign.model import Reassignment
from allocator.reassign.moves import node_cost
from solvers.base import Capability


@dataclass(frozen=True, eq=False)
class Part:
    """The MIP of a part, what its assign columns mean, and the start it was built from."""

    problem: Problem
    replicas: np.ndarray  # (P,) replica of each assign column
    nodes: np.ndarray  # (P,) node of each assign column
    start: np.ndarray  # column values of the assignment it was built from

    def decode(self, x: np.ndarray, assignment: np.ndarray) -> np.ndarray:
        """The assignment with the freed replicas where x puts them."""
        out = np.array(assignment, dtype=np.int64)
        chosen = x[self.problem.col_block("assign").slice] > 0.5
        out[self.replicas[chosen]] = self.nodes[chosen]
        return out


def needs_integer_columns(backend: object) -> bool:
    """Backends that solve no LP take no continuous columns (CP-SAT)."""
    return Capability.LP not in backend.capabilities


def build(
    model: Reassignment,
    assignment: np.ndarray,
    free_nodes: np.ndarray | None = None,
    integral: bool = False,
) -> Part:
    """`integral` declares the cost columns integer too (their optimum is integral anyway)
    and bounds them (use never exceeds capacity): backends without continuous columns need
    both; HiGHS searches much slower with them."""
    m = model
    assignment = np.asarray(assignment, dtype=np.int64)
    nodes = np.arange(m.num_nodes) if free_nodes is None else np.unique(free_nodes)
    is_free_node = np.zeros(m.num_nodes, dtype=bool)
    is_free_node[nodes] = True
    fixed = ~is_free_node[assignment]
    free = np.flatnonzero(~fixed)
    b = ProblemBuilder("reassignment")

    # what the fixed replicas use and hold, and what freed ones hold on their origin
    base = usage(m, assignment, fixed)
    moved_fixed = fixed & (assignment != m.current)
    hold = held(m, assignment, fixed)
    hold += usage(m, m.current, ~fixed) * m.transient  # a freed replica holds its origin

    # candidate (replica, node) pairs: each fits alone and has no fixed sibling there
    fits = (m.need[free][:, None, :] <= (m.capacity - base)[nodes][None, :, :]).all(axis=2)
    sibling_keys = m.workload[fixed] * m.num_nodes + assignment[fixed]
    fits &= ~np.isin(m.workload[free][:, None] * m.num_nodes + nodes[None, :], sibling_keys)
    fits |= assignment[free][:, None] == nodes[None, :]
    pi, pk = np.nonzero(fits)
    rep, node = free[pi], nodes[pk]

    # ...and a needed workload is, or may come, in the node's dependency domain
    dep = m.dependency_domain
    size = dep.max() + 1
    dep_fixed = domain_counts(m.workload[fixed], dep[assignment[fixed]], m.num_workloads, size)
    dep_reach = domain_counts(m.workload[rep], dep[node], m.num_workloads, size) > 0
    pair, needed = m.needs_of(m.workload[rep])
    unreachable = (dep_fixed[needed, dep[node[pair]]] == 0) & ~dep_reach[needed, dep[node[pair]]]
    keep = np.ones(len(rep), dtype=bool)
    keep[pair[unreachable]] = False
    rep, node, pi, pk = rep[keep], node[keep], pi[keep], pk[keep]
    origin_here = m.current[rep] == node
    n_pairs = len(rep)

    assign = b.add_columns(
        "assign",
        n_pairs,
        hi=1.0,
        cost=m.node_move_cost[m.current[rep], node]
        - np.where(origin_here, m.replica_move_cost[rep], 0),
        labels=np.char.add(np.char.add(rep.astype(str), "@"), node.astype(str)),
    )
    one = b.add_rows("one_node", len(free), lo=1.0, hi=1.0)
    b.add_entries(one, pi, assign, np.arange(n_pairs), 1.0)
    _per_node(b, m, assign, rep, pk, nodes, base, hold, integral)

    # replicas of one workload on distinct nodes
    _, group, count = np.unique(
        m.workload[rep] * m.num_nodes + node, return_inverse=True, return_counts=True
    )
    shared = np.flatnonzero(count[group] > 1)
    _, row = np.unique(group[shared], return_inverse=True)
    rows = b.add_rows("distinct", int(row.max(initial=-1)) + 1, hi=1.0)
    b.add_entries(rows, row, assign, shared, 1.0)

    x0 = (node == assignment[rep]).astype(np.float64)
    in_domain0 = _spread(b, m, assign, rep, node, assignment, fixed, x0)
    hosts0 = _dependencies(b, m, assign, rep, node, dep_fixed, assignment, fixed, x0)
    _most_moved(b, m, assign, rep, node, free, moved_fixed, integral)

    untouched = ~is_free_node
    used = usage(m, assignment)
    left = m.capacity[nodes] - used[nodes]
    moved_now = np.bincount(m.workload[assignment != m.current], minlength=1)
    start = np.concatenate(  # in column order, the values the current assignment implies
        [
            x0,
            np.maximum(used[nodes] - m.soft_capacity[nodes], 0).ravel(),
            np.maximum(
                m.balance_target * left[:, m.balance_first] - left[:, m.balance_second], 0
            ).ravel(),
            in_domain0,
            hosts0,
            [float(moved_now.max())],
        ]
    )
    offset = (
        node_cost(m, used[untouched], untouched).sum()
        + m.replica_move_cost[moved_fixed].sum()
        + m.node_move_cost[m.current[fixed], assignment[fixed]].sum()
        + m.replica_move_cost[free].sum()
    )
    problem = b.build(offset=float(offset))
    return Part(problem, rep, node, start)


def _per_node(b, m, assign, rep, pk, nodes, base, hold, integral) -> None:
    """Capacity, use above soft capacity and imbalance of each freed node."""
    k, r, nb = len(nodes), m.num_resources, len(m.balance_target)
    n_pairs = len(rep)
    pair_rows = (pk[:, None] * r + np.arange(r)[None, :]).ravel()
    pair_cols = np.repeat(np.arange(n_pairs), r)
    need = m.need[rep]

    # capacity; a freed replica holds its transient dimensions on its origin either way
    coef = need.astype(np.float64)
    coef[(m.current[rep] == nodes[pk])[:, None] & m.transient[None, :]] = 0.0
    cap = b.add_rows("capacity", k * r, hi=(m.capacity - base - hold)[nodes].ravel())
    b.add_entries(cap, pair_rows, assign, pair_cols, coef.ravel())

    over = b.add_columns(
        "over_soft",
        k * r,
        hi=np.maximum(m.capacity - m.soft_capacity, 0)[nodes].ravel() if integral else INF,
        integer=integral,
        cost=np.tile(m.load_weight, k),
    )
    soft = b.add_rows("soft_capacity", k * r, hi=(m.soft_capacity - base)[nodes].ravel())
    b.add_entries(soft, pair_rows, assign, pair_cols, need.ravel())
    b.add_entries(soft, np.arange(k * r), over, np.arange(k * r), -1.0)

    # target * free(r1) - free(r2) <= imbalance
    target = m.balance_target.astype(np.float64)
    room = (m.capacity - base)[nodes]
    imbalance = b.add_columns(
        "imbalance",
        k * nb,
        hi=(target * np.maximum(room[:, m.balance_first], 0)).ravel() if integral else INF,
        integer=integral,
        cost=np.tile(m.balance_weight, k),
    )
    rows = b.add_rows(
        "balance",
        k * nb,
        hi=(room[:, m.balance_second] - target * room[:, m.balance_first]).ravel(),
    )
    b.add_entries(
        rows,
        (pk[:, None] * nb + np.arange(nb)[None, :]).ravel(),
        assign,
        np.repeat(np.arange(n_pairs), nb),
        (need[:, m.balance_second] - target * need[:, m.balance_first]).ravel(),
    )
    b.add_entries(rows, np.arange(k * nb), imbalance, np.arange(k * nb), -1.0)


def _spread(b, m, assign, rep, node, assignment, fixed, x0) -> np.ndarray:
    """in_domain[w, l] may be 1 only if a freed replica of w is in l; enough domains."""
    spread = m.spread_domain
    size = int(spread.max(initial=0)) + 1
    in_fixed = domain_counts(m.workload[fixed], spread[assignment[fixed]], m.num_workloads, size)
    workload = m.workload[rep]
    counted = m.min_domains[workload] > 1
    opens = np.flatnonzero(counted & (in_fixed[workload, spread[node]] == 0))
    keys, of_pair = np.unique(workload[opens] * size + spread[node[opens]], return_inverse=True)
    in_domain = b.add_columns("in_domain", len(keys), hi=1.0)
    rows = b.add_rows("domain_used", len(keys), hi=0.0)
    b.add_entries(rows, np.arange(len(keys)), in_domain, np.arange(len(keys)), 1.0)
    b.add_entries(rows, of_pair, assign, opens, -1.0)
    spread_w = np.unique(workload[counted])
    have = (in_fixed[spread_w] > 0).sum(axis=1)
    rows = b.add_rows("spread", len(spread_w), lo=(m.min_domains[spread_w] - have).astype(float))
    b.add_entries(
        rows, np.searchsorted(spread_w, keys // size), in_domain, np.arange(len(keys)), 1.0
    )
    return np.minimum(np.bincount(of_pair, weights=x0[opens], minlength=len(keys)), 1.0)


def _dependencies(b, m, assign, rep, node, dep_fixed, assignment, fixed, x0) -> np.ndarray:
    """hosts[w, d] may be 1 only if a freed replica of w is in d; every replica of a
    workload that needs w, in a domain without a fixed replica of w, needs hosts[w, d]."""
    dep = m.dependency_domain
    size = dep_fixed.shape[1]
    pair, needed = m.needs_of(m.workload[rep])
    needy = dep_fixed[needed, dep[node[pair]]] == 0
    pair, needed = pair[needy], needed[needy]
    fixed_replicas = np.flatnonzero(fixed)
    f_index, f_needed = m.needs_of(m.workload[fixed_replicas])
    f_domain = dep[assignment[fixed_replicas[f_index]]]
    f_keys = (f_needed * size + f_domain)[dep_fixed[f_needed, f_domain] == 0]
    keys = np.unique(np.concatenate([needed * size + dep[node[pair]], f_keys]))
    hosts = b.add_columns("hosts", len(keys), lo=np.isin(keys, f_keys).astype(float), hi=1.0)
    rows = b.add_rows("needs_host", len(pair), hi=0.0)
    b.add_entries(rows, np.arange(len(pair)), assign, pair, 1.0)
    b.add_entries(
        rows,
        np.arange(len(pair)),
        hosts,
        np.searchsorted(keys, needed * size + dep[node[pair]]),
        -1.0,
    )
    pair_keys = m.workload[rep] * size + dep[node]
    hosting = np.flatnonzero(np.isin(pair_keys, keys))
    of_key = np.searchsorted(keys, pair_keys[hosting])
    rows = b.add_rows("hosted", len(keys), hi=0.0)
    b.add_entries(rows, np.arange(len(keys)), hosts, np.arange(len(keys)), 1.0)
    b.add_entries(rows, of_key, assign, hosting, -1.0)
    return np.minimum(np.bincount(of_key, weights=x0[hosting], minlength=len(keys)), 1.0)


def _most_moved(b, m, assign, rep, node, free, moved_fixed, integral) -> float:
    """most_moved >= moved replicas of every workload (freed ones count unless home)."""
    fixed_counts = np.bincount(m.workload[moved_fixed], minlength=m.num_workloads)
    freed_w, freed_counts = np.unique(m.workload[free], return_counts=True)
    others = np.ones(m.num_workloads, dtype=bool)
    others[freed_w] = False
    floor = float(fixed_counts[others].max(initial=0))
    most = b.add_columns(
        "most_moved",
        1,
        lo=floor,
        hi=float(max(m.num_replicas, floor)) if integral else INF,
        integer=integral,
        cost=float(m.workload_move_weight),
    )
    rows = b.add_rows(
        "moved", len(freed_w), lo=(fixed_counts[freed_w] + freed_counts).astype(float)
    )
    b.add_entries(rows, np.arange(len(freed_w)), most, np.zeros(len(freed_w), dtype=np.int64), 1.0)
    home = np.flatnonzero(m.current[rep] == node)
    b.add_entries(rows, np.searchsorted(freed_w, m.workload[rep[home]]), assign, home, 1.0)
    return floor
