"""A `Reassignment` as a reassignment file (the inverse of `load`), and its plan as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from allocator.io.atomic import write_text_atomic
from allocator.reassign.model import Reassignment
from allocator.reassign.strategy import ReassignOutcome


def to_document(model: Reassignment) -> dict[str, Any]:
    """The file's content; node-pair move costs are written per group of nodes whose costs
    to and from every node are the same, one group per node where they differ."""
    m = model
    names = [m.resources[r] for r in range(m.num_resources)]
    groups, group_of = move_groups(m.node_move_cost)

    def amounts(row: np.ndarray, skip: np.ndarray | None = None) -> dict[str, int]:
        return {
            names[r]: int(v) for r, v in enumerate(row.tolist()) if skip is None or v != skip[r]
        }

    nodes = []
    for n in range(m.num_nodes):
        node: dict[str, Any] = {
            "id": m.node_name(n),
            "capacity": amounts(m.capacity[n]),
        }
        soft = amounts(m.soft_capacity[n], skip=m.capacity[n])
        if soft:
            node["soft_capacity"] = soft
        node["spread_domain"] = f"spread-{m.spread_domain[n]}"
        node["dependency_domain"] = f"dep-{m.dependency_domain[n]}"
        node["move_group"] = f"group-{group_of[n]}"
        nodes.append(node)
    workloads = []
    by_workload = np.argsort(m.workload, kind="stable")
    bounds = np.searchsorted(m.workload[by_workload], np.arange(m.num_workloads + 1))
    for w in range(m.num_workloads):
        replicas = by_workload[bounds[w] : bounds[w + 1]]
        if len(replicas) == 0:
            continue
        entry: dict[str, Any] = {"id": m.workload_name(w)}
        if m.min_domains[w]:
            entry["min_domains"] = int(m.min_domains[w])
        needs = m.depends_on[w]
        if len(needs):
            entry["depends_on"] = [m.workload_name(b) for b in needs.tolist()]
        entry["replicas"] = [
            {
                "id": m.replica_name(i),
                "node": m.node_name(int(m.current[i])),
                "need": amounts(m.need[i], skip=np.zeros(m.num_resources, dtype=np.int64)),
                **({"move_cost": int(m.replica_move_cost[i])} if m.replica_move_cost[i] else {}),
            }
            for i in replicas.tolist()
        ]
        workloads.append(entry)
    between = {
        f"group-{a}": {f"group-{b}": int(groups[a, b]) for b in range(len(groups)) if groups[a, b]}
        for a in range(len(groups))
    }
    return {
        "version": 1,
        "kind": "reassignment",
        "dimensions": [
            {
                "name": names[r],
                **({"transient": True} if m.transient[r] else {}),
                "load_cost": int(m.load_weight[r]),
            }
            for r in range(m.num_resources)
        ],
        "nodes": nodes,
        "workloads": workloads,
        "balance": [
            {
                "dimensions": [names[int(a)], names[int(b)]],
                "target": int(t),
                "weight": int(wt),
            }
            for a, b, t, wt in zip(
                m.balance_first, m.balance_second, m.balance_target, m.balance_weight, strict=True
            )
        ],
        "move_costs": {
            "most_moved_workload": int(m.workload_move_weight),
            "between_groups": {k: v for k, v in between.items() if v},
        },
    }


def move_groups(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G x G costs, group of each node) with cost[a, b] == groups[g[a], g[b]] off the
    diagonal: nodes are grouped by their row and column of costs."""
    n = len(cost)
    if n == 0:
        return np.zeros((0, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)
    profile = np.concatenate([cost, cost.T], axis=1)
    _, first, group_of = np.unique(profile, axis=0, return_index=True, return_inverse=True)
    group_of = group_of.ravel()
    groups = cost[np.ix_(first, first)]
    if np.array_equal(_off_diagonal(groups[np.ix_(group_of, group_of)]), _off_diagonal(cost)):
        return groups, group_of
    return cost.copy(), np.arange(n)  # rows alone do not say it: one group per node


def _off_diagonal(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    np.fill_diagonal(out, 0)
    return out


def write_document(path: str | Path, document: dict[str, Any], header: str = "") -> None:
    """YAML (JSON for a .json path), written atomically."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        write_text_atomic(path, json.dumps(document, indent=1) + "\n")
        return
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100)
    write_text_atomic(path, comment + body)


def plan_document(model: Reassignment, outcome: ReassignOutcome) -> dict[str, Any]:
    """Where every replica runs, the moves, and the cost term by term."""
    m = model
    moved = np.flatnonzero(outcome.assignment != m.current)
    c = outcome.costs
    return {
        "kind": "reassignment-plan",
        "version": 1,
        "cost": {
            "total": c.total,
            "load": c.load,
            "balance": c.balance,
            "replica_moves": c.replica_moves,
            "most_moved_workload": c.workload_moves,
            "node_moves": c.node_moves,
        },
        "start_cost": outcome.start.total,
        "lower_bound": outcome.bound,
        "optimal": outcome.optimal,
        "method": outcome.method,
        "wall_s": round(outcome.wall_s, 3),
        "moves": [
            {
                "replica": m.replica_name(i),
                "workload": m.workload_name(int(m.workload[i])),
                "from": m.node_name(int(m.current[i])),
                "to": m.node_name(int(outcome.assignment[i])),
            }
            for i in moved.tolist()
        ],
        "assignment": {
            m.replica_name(i): m.node_name(int(n)) for i, n in enumerate(outcome.assignment)
        },
    }
