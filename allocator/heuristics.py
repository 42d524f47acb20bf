"""Fast greedy placements: baselines, warm starts, and the fallback when no MIP solver runs.

Both rules place required replicas before optional ones, higher priority first and
larger replicas first within a priority, filling nodes that are already in use before
switching on new ones.
  first_fit  new nodes in order of cost per replica they can hold
  best_fit   the node left tightest after the replica, then cost
Work is one vectorized step per workload, never per replica and node.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from allocator.build.reduce import PackingInstance

RULES = ("first_fit", "best_fit")


def greedy_placement(inst: PackingInstance, rule: str = "first_fit") -> sp.csr_array:
    """(nodes x workloads) replica counts."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    fleet, demand = inst.domain.fleet, inst.domain.demand
    capacity = np.stack([fleet.gpus, fleet.cpu_m, fleet.ram_mib], axis=1).astype(np.int64)
    free = capacity.copy()
    in_use = np.zeros(len(fleet), dtype=bool)
    need = np.stack([demand.gpus, demand.cpu_m, demand.ram_mib], axis=1).astype(np.int64)
    of_node = inst.groups.of_node
    scale = np.maximum(capacity.max(axis=0), 1)

    rows, cols, vals = [], [], []
    for w, amount in _sequence(inst):
        candidates = np.flatnonzero(inst.compat[w][of_node])
        if len(candidates) == 0:
            continue
        dims = need[w] > 0
        fit = (free[candidates][:, dims] // need[w][dims]).min(axis=1)
        candidates, fit = candidates[fit > 0], fit[fit > 0]
        if len(candidates) == 0:
            continue
        if rule == "first_fit":
            score = fleet.cost[candidates] / fit
        else:
            left = (free[candidates] - need[w]) / scale
            score = left.sum(axis=1)
        order = np.lexsort((candidates, score, ~in_use[candidates]))
        fit, candidates = fit[order], candidates[order]
        before = np.cumsum(fit) - fit
        take = np.clip(amount - before, 0, fit)
        chosen = take > 0
        nodes, take = candidates[chosen], take[chosen]
        free[nodes] -= take[:, None] * need[w][None, :]
        in_use[nodes] = True
        rows.append(nodes)
        cols.append(np.full(len(nodes), w))
        vals.append(take)
    shape = (len(fleet), len(demand))
    if not rows:
        return sp.csr_array(shape, dtype=np.int64)
    return sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )


def _sequence(inst: PackingInstance) -> list[tuple[int, int]]:
    """(workload, replicas) steps: required parts first, then optional, by priority and size."""
    d = inst.domain.demand
    order = np.lexsort((np.arange(len(d)), -d.ram_mib, -d.cpu_m, -d.gpus, -d.priority))
    steps = [(int(w), int(d.min[w])) for w in order if d.min[w] > 0]
    steps += [(int(w), int(d.max[w] - d.min[w])) for w in order if d.max[w] > d.min[w]]
    return steps
