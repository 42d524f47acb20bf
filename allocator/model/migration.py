"""Re-planning against the current placement: what moving replicas costs.

A replica that runs now is kept if the plan runs a replica of its workload on the same
node; otherwise it moves (or stops), at the workload's move cost. Nodes running the same
replicas now form groups of their own, so with C(w,g) replicas of w on each node of
group g (and C(s,g) of a shape s, summed over its workloads):

Columns
  kept[w,g]        replicas of w kept where they run, in group g       integer <= C(w,g) size(g)
Rows
  kept_placed      kept[w,g] - assign[w,g] <= 0
  kept_slots[g,s]  sum_{w of s} kept[w,g] - sum_p min(n(p,s), C(s,g)) pattern[p] <= 0
  max_moves        sum_w running(w) - sum kept <= max moves
Cost   move_cost(w) x (running(w) - sum_g kept[w,g]), in $/h-equivalent
From a placement: kept[w,g] = sum over nodes n of g of min(placed(w,n), running now(w,n)).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from allocator.domain.replicas import Replicas
from allocator.model.context import ModelContext, PatternContext, PlacedColumns
from allocator.model.datacenter import CostTerms
from allocator.model.reduce import PackingInstance


def running(inst: PackingInstance) -> np.ndarray:
    """Replicas of each workload that run now, wherever (down nodes included)."""
    domain = inst.domain
    out = np.zeros(len(domain.demand), dtype=np.int64)
    for workload, nodes in domain.current.items():
        out[domain.demand.index[workload]] = len(nodes)
    return out


def define(ctx: ModelContext, costs: CostTerms) -> None:
    """The `kept` columns and their rows; patterns add their slots (`pattern_entries`)."""
    inst, b = ctx.inst, ctx.b
    domain = inst.domain
    if not domain.current:
        return
    demand, count = domain.demand, inst.groups.count
    pair_w, pair_g = ctx.pairs.w, ctx.pairs.g
    now = running(inst)
    per_node = inst.current[pair_w, pair_g]
    has = np.flatnonzero(per_node > 0)
    if len(has) == 0 and not now.any():
        return
    fixed = np.isin(pair_g[has], inst.fixed_groups)
    kept_hi = (per_node[has] * count[pair_g[has]]).astype(float)
    pinned = inst.pinned[pair_w[has], pair_g[has]].astype(float)
    kept = b.add_columns("kept", len(has), lo=np.where(fixed, pinned, 0.0), hi=kept_hi)
    costs.add(kept, -demand.move_cost[pair_w[has]])
    costs.offset += float(demand.move_cost @ now)

    placed = b.add_rows("kept_placed", len(has), hi=0.0)
    b.add_entries(placed, np.arange(len(has)), kept, np.arange(len(has)), 1.0)
    b.add_entries(placed, np.arange(len(has)), ctx.assign, has, -1.0)

    # Slots that keep replicas: per (group, shape) with replicas running now.
    slots, slot_of, _ = _kept_slots(ctx)
    rows = b.add_rows("kept_slots", len(slots), hi=0.0)
    b.add_entries(rows, slot_of, kept, np.arange(len(has)), 1.0)

    cap = domain.objective.migration.max_moves
    if cap is not None:
        moves = b.add_rows("max_moves", 1, lo=float(now.sum() - cap))
        b.add_entries(moves, np.zeros(len(has)), kept, np.arange(len(has)), 1.0)


def _kept_slots(ctx: ModelContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group * shapes + shape) of every slot that keeps running replicas, the slot of each
    pair with replicas running now, and how many run in each slot per node."""
    inst = ctx.inst
    n_shapes = len(inst.shapes)
    per_node = inst.current[ctx.pairs.w, ctx.pairs.g]
    has = np.flatnonzero(per_node > 0)
    key = ctx.pairs.g[has] * n_shapes + inst.shapes.of_workload[ctx.pairs.w[has]]
    slots, slot_of = np.unique(key, return_inverse=True)
    running_of_shape = np.zeros(len(slots))
    np.add.at(running_of_shape, slot_of.ravel(), per_node[has])
    return slots, slot_of.ravel(), running_of_shape


def pattern_entries(ctx: PatternContext) -> None:
    """A pattern keeps, per node, up to what runs there now of each of its shapes."""
    if not ctx.inst.domain.current or "kept_slots" not in ctx.b.row_names():
        return
    n_shapes = len(ctx.inst.shapes)
    slots, _, running_of_shape = _kept_slots(ctx)
    slot_g, slot_s = slots // n_shapes, slots % n_shapes
    pool = ctx.pool
    p, k = np.nonzero(pool.group[:, None] == slot_g[None, :])
    keep = np.minimum(pool.counts[p, slot_s[k]], running_of_shape[k])
    rows = ctx.b.row_block("kept_slots")
    ctx.b.add_entries(rows, k[keep > 0], ctx.patterns, p[keep > 0], -keep[keep > 0])


def columns(ctx: PlacedColumns, placement: Replicas) -> None:
    """The `kept` columns of a placement: the replicas it leaves where they run now."""
    if "kept" not in {block.name for block in ctx.problem.col_blocks}:
        return
    inst = ctx.inst
    has = np.flatnonzero(inst.current[ctx.pairs.w, ctx.pairs.g] > 0)
    stays = sp.csr_array(placement.counts().minimum(inst.domain.running_now))
    of_node = inst.groups.of_node
    group = sp.csr_array(
        (np.ones(len(of_node)), (np.arange(len(of_node)), of_node)),
        shape=(len(of_node), len(inst.groups)),
    )
    per_pair = (stays.T @ group).toarray()
    ctx.set("kept", per_pair[ctx.pairs.w[has], ctx.pairs.g[has]])
