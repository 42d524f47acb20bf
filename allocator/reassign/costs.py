"""What a reassignment costs and which hard rules it breaks, from scratch.

The search keeps these quantities up to date move by move; this module recomputes them
from the assignment alone, so that tests and the solve command can check the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.reassign.model import Reassignment


@dataclass(frozen=True)
class Costs:
    """The weighted terms of the objective."""

    load: int  # sum_r weight_r * sum_n max(0, use - soft capacity)
    balance: int  # sum_b weight_b * sum_n max(0, target * free(r1) - free(r2))
    replica_moves: int  # sum of the move costs of moved replicas
    workload_moves: int  # weight * most replicas moved in one workload
    node_moves: int  # sum of node-pair move costs

    @property
    def total(self) -> int:
        return self.load + self.balance + self.replica_moves + self.workload_moves + self.node_moves


def usage(model: Reassignment, assignment: np.ndarray, which: np.ndarray | None = None):
    """(N, R) what the replicas (those `which` selects, default all) use on each node."""
    used = np.zeros((model.num_nodes, model.num_resources), dtype=np.int64)
    if which is None:
        np.add.at(used, assignment, model.need)
    else:
        np.add.at(used, assignment[which], model.need[which])
    return used


def held(model: Reassignment, assignment: np.ndarray, which: np.ndarray | None = None):
    """(N, R) transient dimensions still held on the nodes moved replicas left (of those
    `which` selects, default all)."""
    moved = assignment != model.current
    out = usage(model, model.current, moved if which is None else moved & which)
    out[:, ~model.transient] = 0
    return out


def domain_counts(workload: np.ndarray, domain: np.ndarray, n_workloads: int, n_domains: int):
    """(W, domains) how many of the given (workload, domain) entries fall in each cell."""
    out = np.zeros((n_workloads, n_domains), dtype=np.int64)
    np.add.at(out, (workload, domain), 1)
    return out


def costs(model: Reassignment, assignment: np.ndarray) -> Costs:
    used = usage(model, assignment)
    free = model.capacity - used
    moved = assignment != model.current
    load = np.maximum(used - model.soft_capacity, 0).sum(axis=0)
    balance = [
        int(np.maximum(int(t) * free[:, r1] - free[:, r2], 0).sum())
        for r1, r2, t in zip(
            model.balance_first, model.balance_second, model.balance_target, strict=True
        )
    ]
    per_workload = np.bincount(model.workload[moved], minlength=model.num_workloads)
    return Costs(
        load=int(model.load_weight @ load),
        balance=sum(int(w) * b for w, b in zip(model.balance_weight, balance, strict=True)),
        replica_moves=int(model.replica_move_cost[moved].sum()),
        workload_moves=model.workload_move_weight * int(per_workload.max(initial=0)),
        node_moves=int(model.node_move_cost[model.current, assignment].sum()),
    )


def violations(model: Reassignment, assignment: np.ndarray) -> list[str]:
    """Every hard rule the assignment breaks, one line each (empty when feasible)."""
    m = model
    out = []
    over = usage(m, assignment) + held(m, assignment) - m.capacity
    for n, r in np.argwhere(over > 0):
        out.append(f"{m.node_name(n)}: {m.resources[r]} is {over[n, r]} over capacity")
    pairs = np.unique(np.column_stack([m.workload, assignment]), axis=0, return_counts=True)
    for (w, n), count in zip(*pairs, strict=True):
        if count > 1:
            out.append(f"{m.workload_name(w)}: {count} replicas on {m.node_name(n)}")
    domains = np.unique(np.column_stack([m.workload, m.spread_domain[assignment]]), axis=0)
    spread = np.bincount(domains[:, 0], minlength=m.num_workloads)
    for w in np.flatnonzero(spread < m.min_domains):
        out.append(f"{m.workload_name(w)}: in {spread[w]} spread domains, needs {m.min_domains[w]}")
    dep = m.dependency_domain[assignment]
    size = int(m.dependency_domain.max(initial=0)) + 1
    replica, needed = m.needs_of(m.workload)
    hosted = np.isin(needed * size + dep[replica], m.workload * size + dep)
    for i, b in zip(replica[~hosted].tolist(), needed[~hosted].tolist(), strict=True):
        out.append(
            f"{m.replica_name(i)} of {m.workload_name(m.workload[i])}: no replica of "
            f"{m.workload_name(b)} in its dependency domain"
        )
    return out


def lower_bound(model: Reassignment) -> int:
    """No assignment costs less: the dimensions' total use and free room do not depend on
    where replicas run, and spreading them perfectly is the best case for load and balance."""
    over = np.maximum(model.need.sum(axis=0) - model.soft_capacity.sum(axis=0), 0)
    free = model.capacity.sum(axis=0) - model.need.sum(axis=0)
    balance = np.maximum(
        model.balance_target * free[model.balance_first] - free[model.balance_second], 0
    )
    return int(model.load_weight @ over) + int(model.balance_weight @ balance)
