"""Survive: after losing any one place of a scope (a node, a rack, a zone...), the replicas
left still meet the workload's min replicas, or its throughput target.

Table: the scope each workload survives the loss of (NO_SCOPE: none).

Model, with y(f,d) as in `spread` and each replica weighed by its throughput when the
workload has a target (else 1), for every place d where f may run:
  y(f) - y(f,d) + slack(f) >= min(f)  (or target(f))
At scope node, per pattern p holding n(p,f) of the workload (weighed the same way):
  pattern[p] <= size(group) used[p];  y(f) - n(p,f) used[p] + slack(f) >= min(f)
A loss that cannot be survived is a shortfall (`slack`), not an infeasible model.
From a placement: used[p] = [pattern[p] > 0], a node of p is there to lose.
Greedy: replicas go one at a time to the place holding fewest; on one node at most
max - min of them, the spare that a node's loss may take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from allocator.domain.grouping import expand, group_keys
from allocator.domain.scopes import NO_SCOPE, NODE, SCOPES, scope_index
from allocator.rules.base import Report, RuleFamily, ShapeRules, scope_problem

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.heuristics.counts import PlaceCounts
    from allocator.inventory.schema import Inventory, WorkloadSpec
    from allocator.model.context import ModelContext, PatternContext, PlacedColumns


def table(workloads: Sequence[WorkloadSpec]) -> np.ndarray:
    return np.array([scope_index(w.survive) for w in workloads], dtype=np.int64)


def problems(inv: Inventory, report: Report) -> None:
    for i, w in enumerate(inv.workloads):
        if w.survive is None:
            continue
        at = ("workloads", i, "survive")
        scope_problem(inv, at, w.survive, report)
        if w.throughput is None and w.replicas is not None and w.replicas.min == 0:
            report(
                at,
                "survive keeps min replicas (or the throughput target) after a loss; "
                "this workload has min 0 and no target",
            )
        elif w.throughput is None and w.replicas is not None and w.replicas.min == w.replicas.max:
            report(
                at,
                f"surviving a loss needs spare replicas, but min = max = {w.replicas.min}; "
                "raise replicas.max",
            )


def ruled(domain: Domain, at_node: bool) -> np.ndarray:
    """Workloads that must run and survive a loss at scope node (or at a wider scope)."""
    scope = domain.rules.survive
    wanted = (scope == NODE) if at_node else (scope > NODE)
    return np.flatnonzero(wanted & domain.demand.families.required)


def floor(domain: Domain, f: np.ndarray) -> np.ndarray:
    """What must be left after the loss: the target, else min replicas."""
    families = domain.demand.families
    return np.where(families.by_target[f], families.target[f], families.min[f]).astype(float)


def shapes(domain: Domain) -> ShapeRules:
    out = ShapeRules.none(len(domain.demand))
    out.own_shape[domain.rules.survive[domain.demand.family] == NODE] = True
    return out


def model_rows(ctx: ModelContext) -> None:
    domain = ctx.inst.domain
    fs = ruled(domain, at_node=False)
    if not len(fs):
        return
    r, cols = ctx.pairs.of_families(fs)
    place = ctx.places(domain.rules.survive[fs][r], cols)
    keys, _ = group_keys(r, place)
    # One row per (workload, place d); each of its replicas counts in every row but d's.
    first = np.searchsorted(keys[:, 0], np.arange(len(fs)))
    count = np.bincount(keys[:, 0], minlength=len(fs))
    e, row = expand(first[r], count[r])
    keep = keys[row, 1] != place[e]
    rows = ctx.b.add_rows("survive", len(keys), lo=floor(domain, fs[keys[:, 0]]))
    ctx.b.add_entries(rows, row[keep], ctx.assign, cols[e[keep]], ctx.weight[cols[e[keep]]])
    ctx.slack.add(ctx.b, rows, np.arange(len(keys)), fs[keys[:, 0]])


def pattern_rows(ctx: PatternContext) -> None:
    domain = ctx.inst.domain
    fs = ruled(domain, at_node=True)
    if not len(fs):
        return
    pool, groups = ctx.pool, ctx.inst.groups
    held, p, k = _held(ctx, fs)
    if not len(p):
        return
    used = ctx.b.add_columns("survive_node_used", len(p), hi=1.0)
    link = ctx.b.add_rows("survive_node_used_if_run", len(p), hi=0.0)
    ctx.b.add_entries(link, np.arange(len(p)), ctx.patterns, p, 1.0)
    ctx.b.add_entries(
        link, np.arange(len(p)), used, np.arange(len(p)), -groups.count[pool.group[p]]
    )
    rows = ctx.b.add_rows("survive_node", len(p), lo=floor(domain, fs[k]))
    # Every replica of the workload counts in each of its rows.
    e, cols = ctx.pairs.of_families(fs[k])
    ctx.b.add_entries(rows, e, ctx.assign, cols, ctx.weight[cols])
    ctx.b.add_entries(rows, np.arange(len(p)), used, np.arange(len(p)), -held[p, k])
    ctx.slack.add(ctx.b, rows, np.arange(len(p)), fs[k])


def _held(ctx: PatternContext | PlacedColumns, fs: np.ndarray):
    """(patterns x fs) what one node of each pattern holds of each workload, and the
    (pattern, workload) pairs where that is some, by workload: the rows `survive_node`."""
    held = _weight_held(ctx, fs)
    p, k = np.nonzero(held > 0)
    order = np.lexsort((p, k))
    return held, p[order], k[order]


def columns(ctx: PlacedColumns) -> None:
    fs = ruled(ctx.inst.domain, at_node=True)
    if not len(fs):
        return
    _, p, _ = _held(ctx, fs)
    if len(p):
        ctx.set("survive_node_used", (ctx.patterns[p] > 0.5).astype(float))


def _weight_held(ctx: PatternContext | PlacedColumns, fs: np.ndarray) -> np.ndarray:
    """(patterns x fs) replicas of each workload on one node of each pattern, weighed by
    their throughput on the pattern's GPU type when the workload has a target."""
    inst = ctx.inst
    demand, shapes = inst.domain.demand, inst.shapes
    gpu_type = inst.groups.gpu_type[ctx.pool.group]
    out = np.zeros((len(ctx.pool), len(fs)))
    for k, f in enumerate(fs):
        rows = demand.families.rows(int(f))
        held = ctx.pool.counts[:, shapes.of_workload[rows]].astype(float)
        if demand.families.by_target[f]:
            rate = (
                np.where(gpu_type[:, None] >= 0, demand.rate[rows][:, np.maximum(gpu_type, 0)].T, 0)
                if demand.rate.shape[1]
                else 0.0
            )
            held = held * rate
        out[:, k] = held.sum(axis=1)
    return out


def room(counts: PlaceCounts, f: int, nodes: np.ndarray) -> np.ndarray | None:
    domain = counts.domain
    if domain.rules.survive[f] != NODE or not domain.demand.families.required[f]:
        return None
    families = domain.demand.families
    spare = families.max[f] - (families.min[f] if families.sizes[f] == 1 else 0)
    return np.maximum(spare - counts.at(NODE, f, nodes), 0)


def spreads(domain: Domain, f: int) -> int | None:
    scope = int(domain.rules.survive[f])
    return scope if scope > NODE else None


def describe(domain: Domain, f: int) -> list[str]:
    scope = int(domain.rules.survive[f])
    return [] if scope == NO_SCOPE else [f"survive losing a {SCOPES[scope]}"]


FAMILY = RuleFamily(
    name="survive",
    problems=problems,
    shapes=shapes,
    model_rows=model_rows,
    pattern_rows=pattern_rows,
    columns=columns,
    room=room,
    spreads=spreads,
    describe=describe,
)
