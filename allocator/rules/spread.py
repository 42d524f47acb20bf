"""Spread: at most k replicas of a workload per place of a scope, or replicas in at least
m places.

Table: one entry per (workload, scope) rule: f, scope, most (-1: none), fewest (-1: none).

Model, with y(f,d) = assign summed over the rows of workload f and the groups in place d
(groups never span a place of a scope a rule uses):
  most    y(f,d) <= k                                               every place d
  fewest  present[r,d] <= y(f,d);  sum_d present[r,d] >= m on[r];  y(f) <= max(f) on[r]
At scope node, where one group holds many nodes, the rules are about patterns:
  most    the workload's rows have shapes of their own whose patterns hold at most k
  fewest  sum of pattern[p] over patterns holding f >= m on[r];  y(f) <= max(f) on[r];
          sum of pattern[p] over patterns of group g holding f <= y(f,g) for every g (a
          pattern may leave a slot empty: decoding fills one slot of f per node first)
From a placement: present[r,d] = [y(f,d) > 0], on[r] = [y(f) > 0].
Greedy: a node takes at most k less what its place holds; a workload with a rule is placed
one replica at a time, each in the place that holds fewest of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from allocator.domain.grouping import by_family, group_keys, keys_at, members
from allocator.domain.scopes import NODE, SCOPES, scope_index
from allocator.rules.base import Placed, Report, RuleFamily, ShapeRules, Violation, scope_problem

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.heuristics.counts import PlaceCounts
    from allocator.inventory.schema import Inventory, WorkloadSpec
    from allocator.model.context import ModelContext, PatternContext, PlacedColumns


@dataclass(frozen=True, eq=False)
class SpreadTable:
    f: np.ndarray
    scope: np.ndarray
    most: np.ndarray
    fewest: np.ndarray
    ptr: np.ndarray  # rules of workload f: ptr[f]:ptr[f + 1]

    def of(self, f: int) -> range:
        return range(int(self.ptr[f]), int(self.ptr[f + 1]))


def table(workloads: Sequence[WorkloadSpec]) -> SpreadTable:
    entries = [
        (f, scope_index(r.across), r.max_per_domain or -1, r.min_domains or -1)
        for f, w in enumerate(workloads)
        for r in w.spread
    ]
    cols = np.array(entries, dtype=np.int64).reshape(-1, 4).T
    f, scope, most, fewest = cols
    return SpreadTable(f, scope, most, fewest, ptr=by_family(f, len(workloads)))


def problems(inv: Inventory, report: Report) -> None:
    for i, w in enumerate(inv.workloads):
        for k, rule in enumerate(w.spread):
            scope_problem(inv, ("workloads", i, "spread", k, "across"), rule.across, report)
            if w.variants and rule.across == "node" and rule.max_per_domain is not None:
                report(
                    ("workloads", i, "spread", k),
                    "a most-per-node spread is not supported for a workload with variants",
                )


def shapes(domain: Domain) -> ShapeRules:
    t, demand = domain.rules.spread, domain.demand
    out = ShapeRules.none(len(demand))
    at_node = t.f[t.scope == NODE]
    out.own_shape[np.isin(demand.family, at_node)] = True
    out.fill_each_node[np.isin(demand.family, t.f[(t.scope == NODE) & (t.fewest >= 0)])] = True
    capped = (t.scope == NODE) & (t.most >= 0)
    for f, most in zip(t.f[capped], t.most[capped], strict=True):
        rows = demand.families.rows(int(f))
        out.per_node_max[rows] = np.minimum(out.per_node_max[rows], most)
    return out


def model_rows(ctx: ModelContext) -> None:
    t = ctx.inst.domain.rules.spread
    at_places = t.scope != NODE
    k = np.flatnonzero(at_places & (t.most >= 0))
    if len(k):
        r, cols = ctx.pairs.of_families(t.f[k])
        keys, row = group_keys(r, ctx.places(t.scope[k][r], cols))
        rows = ctx.b.add_rows("spread_max", len(keys), hi=t.most[k][keys[:, 0]].astype(float))
        ctx.b.add_entries(rows, row, ctx.assign, cols, 1.0)
    k = np.flatnonzero(at_places & (t.fewest >= 0))
    if len(k):
        keys, row, cols = _by_place(ctx, k)
        present = ctx.b.add_columns("spread_present", len(keys), hi=1.0)
        only = ctx.b.add_rows("spread_present_only_where_placed", len(keys), hi=0.0)
        ctx.b.add_entries(only, np.arange(len(keys)), present, np.arange(len(keys)), 1.0)
        ctx.b.add_entries(only, row, ctx.assign, cols, -1.0)
        fewest = _at_least(ctx, k, "spread_min")
        ctx.b.add_entries(fewest, keys[:, 0], present, np.arange(len(keys)), 1.0)
    k = np.flatnonzero(~at_places & (t.fewest >= 0))
    if len(k):
        _at_least(ctx, k, "spread_min_nodes")  # patterns fill it in (`pattern_rows`)
        # A node counts only with a replica on it: per group, no more such nodes than
        # replicas there.
        r, cols = ctx.pairs.of_families(t.f[k])
        keys, row = group_keys(r, ctx.pairs.g[cols])
        filled = ctx.b.add_rows("spread_nodes_filled", len(keys), hi=0.0)
        ctx.b.add_entries(filled, row, ctx.assign, cols, -1.0)


def _by_place(ctx: ModelContext | PlacedColumns, k: np.ndarray):
    """For rules k: the (rule, place) keys where the workload may run, the key of each of
    its pair columns, and those columns."""
    t = ctx.inst.domain.rules.spread
    r, cols = ctx.pairs.of_families(t.f[k])
    keys, row = group_keys(r, ctx.places(t.scope[k][r], cols))
    return keys, row, cols


def _runs(ctx: PlacedColumns, k: np.ndarray) -> np.ndarray:
    """For rules k: 1 where the workload has a replica, else 0."""
    r, cols = ctx.pairs.of_families(ctx.inst.domain.rules.spread.f[k])
    return (ctx.replicas(r, cols, len(k)) > 0.5).astype(float)


def columns(ctx: PlacedColumns) -> None:
    t = ctx.inst.domain.rules.spread
    at_places = t.scope != NODE
    k = np.flatnonzero(at_places & (t.fewest >= 0))
    if len(k):
        keys, row, cols = _by_place(ctx, k)
        ctx.set("spread_present", (ctx.replicas(row, cols, len(keys)) > 0.5).astype(float))
        ctx.set("spread_min_on", _runs(ctx, k))
    k = np.flatnonzero(~at_places & (t.fewest >= 0))
    if len(k):
        ctx.set("spread_min_nodes_on", _runs(ctx, k))


def _at_least(ctx: ModelContext, k: np.ndarray, name: str):
    """For rules k: a binary on[k] forced up by any replica, and the row of places
    (nodes) holding the workload >= fewest on[k], whose place terms the caller adds."""
    t = ctx.inst.domain.rules.spread
    families = ctx.inst.domain.demand.families
    on = ctx.b.add_columns(f"{name}_on", len(k), hi=1.0)
    rows = ctx.b.add_rows(name, len(k), lo=0.0)
    ctx.b.add_entries(rows, np.arange(len(k)), on, np.arange(len(k)), -t.fewest[k].astype(float))
    runs = ctx.b.add_rows(f"{name}_runs", len(k), hi=0.0)
    r, cols = ctx.pairs.of_families(t.f[k])
    ctx.b.add_entries(runs, r, ctx.assign, cols, 1.0)
    ctx.b.add_entries(runs, np.arange(len(k)), on, np.arange(len(k)), -families.max[t.f[k]])
    return rows


def pattern_rows(ctx: PatternContext) -> None:
    t = ctx.inst.domain.rules.spread
    k = np.flatnonzero((t.scope == NODE) & (t.fewest >= 0))
    if not len(k):
        return
    p, r = ctx.holds(t.f[k]).nonzero()
    ctx.b.add_entries(ctx.b.row_block("spread_min_nodes"), r, ctx.patterns, p, 1.0)
    rr, cols = ctx.pairs.of_families(t.f[k])
    keys, _ = group_keys(rr, ctx.pairs.g[cols])
    at, hit = keys_at(keys, r, ctx.pool.group[p])
    ctx.b.add_entries(ctx.b.row_block("spread_nodes_filled"), at[hit], ctx.patterns, p[hit], 1.0)


def room(counts: PlaceCounts, f: int, nodes: np.ndarray) -> np.ndarray | None:
    t = counts.domain.rules.spread
    out = None
    for r in t.of(f):
        if t.scope[r] != NODE and t.most[r] >= 0:
            cap = np.maximum(t.most[r] - counts.at(int(t.scope[r]), f, nodes), 0)
            out = cap if out is None else np.minimum(out, cap)
    return out


def spreads(domain: Domain, f: int) -> int | None:
    t = domain.rules.spread
    return next((int(t.scope[r]) for r in t.of(f) if t.scope[r] != NODE), None)


def _per_place(domain: Domain, placed: Placed, k: np.ndarray):
    """For rules k: (rule, place) keys holding replicas, each replica's key (-1: none)."""
    t = domain.rules.spread
    r, rep = members(placed.family(domain), t.f[k], len(domain.demand.families))
    place = domain.scopes.table[placed.node[rep], t.scope[k][r]]
    keys, key_of = group_keys(r, place)
    return keys, rep, key_of


def repair(domain: Domain, placed: Placed) -> np.ndarray:
    t = domain.rules.spread
    drop = np.zeros(len(placed.row), dtype=bool)
    k = np.arange(len(t.f))
    if not len(k):
        return drop
    keys, rep, key_of = _per_place(domain, placed, k)
    # Beyond `most` in a place: the last ones (in plan order) go.
    order = np.lexsort((rep, key_of))
    first = np.searchsorted(key_of[order], key_of[order])
    rank = np.empty(len(rep), dtype=np.int64)
    rank[order] = np.arange(len(rep)) - first
    most = t.most[k][keys[key_of, 0]] if len(keys) else np.zeros(0, dtype=np.int64)
    drop[rep[(most >= 0) & (rank >= most)]] = True
    # Fewer places than `fewest`: the workload goes.
    places = np.bincount(keys[:, 0], minlength=len(k)) if len(keys) else np.zeros(len(k))
    short = (t.fewest[k] >= 0) & (places > 0) & (places < t.fewest[k])
    drop[np.isin(placed.family(domain), t.f[k][short])] = True
    return drop


def check(domain: Domain, placed: Placed) -> list[Violation]:
    t = domain.rules.spread
    ids = domain.demand.families.ids
    k = np.arange(len(t.f))
    if not len(k):
        return []
    keys, _, key_of = _per_place(domain, placed, k)
    count = np.bincount(key_of, minlength=len(keys))
    out = []
    for r in k:
        mine = keys[:, 0] == r
        scope = int(t.scope[r])
        if t.most[r] >= 0:
            crowded = np.flatnonzero(mine & (count > t.most[r]))
            if len(crowded):
                names = domain.scopes.names(scope)[keys[crowded, 1]]
                out.append(
                    Violation(
                        "spread",
                        f"{ids[t.f[r]]}: more than {t.most[r]} replica(s) in "
                        f"{SCOPES[scope]} {', '.join(map(str, names))}",
                    )
                )
        if t.fewest[r] >= 0 and 0 < mine.sum() < t.fewest[r]:
            out.append(
                Violation(
                    "spread",
                    f"{ids[t.f[r]]}: runs in {int(mine.sum())} {SCOPES[scope]}(s), "
                    f"needs at least {t.fewest[r]}",
                )
            )
    return out


def describe(domain: Domain, f: int) -> list[str]:
    t = domain.rules.spread
    return [f"spread across {SCOPES[t.scope[r]]}" for r in t.of(f)]


FAMILY = RuleFamily(
    name="spread",
    problems=problems,
    shapes=shapes,
    model_rows=model_rows,
    pattern_rows=pattern_rows,
    columns=columns,
    room=room,
    spreads=spreads,
    repair=repair,
    check=check,
    describe=describe,
)
