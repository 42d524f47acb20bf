"""Gang: every replica of a workload placed, or none (a multi-node job), and optionally all
of them inside one place of a scope (one node, one NVLink fabric, one rack...).

Table: per workload, whether it is a gang and the scope it stays within (NO_SCOPE: any).

Model, with y(f,d) as in `spread` and size(f) = max(f):
  y(f) = size(f) gang[f]
  within a scope of many nodes: y(f,d) <= size(f) inside[f,d];  sum_d inside[f,d] = gang[f]
  within a node: sum of pattern[p] over patterns holding f <= gang[f] (one node holds them)
From a placement: gang[f] = [y(f) > 0], inside[f,d] = [y(f,d) > 0].
Greedy: once a member is placed, the others go only to its place; a gang that ends up
short or split is taken out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from allocator.domain.grouping import group_keys, members
from allocator.domain.scopes import NO_SCOPE, NODE, SCOPES, scope_index
from allocator.rules.base import Placed, Report, RuleFamily, ShapeRules, Violation, scope_problem

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.heuristics.counts import PlaceCounts
    from allocator.inventory.schema import Inventory, WorkloadSpec
    from allocator.model.context import ModelContext, PatternContext, PlacedColumns


@dataclass(frozen=True, eq=False)
class GangTable:
    member: np.ndarray  # bool per workload
    within: np.ndarray  # scope per workload, NO_SCOPE for none


def table(workloads: Sequence[WorkloadSpec]) -> GangTable:
    return GangTable(
        np.array([w.gang is not None for w in workloads], dtype=bool),
        np.array(
            [scope_index(w.gang.within) if w.gang else NO_SCOPE for w in workloads], dtype=np.int64
        ),
    )


def problems(inv: Inventory, report: Report) -> None:
    for i, w in enumerate(inv.workloads):
        if w.gang is None:
            continue
        if w.throughput is not None or w.variants:
            report(
                ("workloads", i, "gang"),
                "a gang is a fixed number of identical replicas; it cannot have a throughput "
                "target or variants",
            )
        scope_problem(inv, ("workloads", i, "gang", "within"), w.gang.within, report)


def shapes(domain: Domain) -> ShapeRules:
    out = ShapeRules.none(len(domain.demand))
    out.own_shape[domain.rules.gang.within[domain.demand.family] == NODE] = True
    return out


def model_rows(ctx: ModelContext) -> None:
    t = ctx.inst.domain.rules.gang
    fs = np.flatnonzero(t.member)
    if not len(fs):
        return
    size = ctx.inst.domain.demand.families.max[fs].astype(float)
    gang = ctx.b.add_columns("gang", len(fs), hi=1.0)
    whole = ctx.b.add_rows("gang_all_or_nothing", len(fs), lo=0.0, hi=0.0)
    r, cols = ctx.pairs.of_families(fs)
    ctx.b.add_entries(whole, r, ctx.assign, cols, 1.0)
    ctx.b.add_entries(whole, np.arange(len(fs)), gang, np.arange(len(fs)), -size)
    k = np.flatnonzero(t.within[fs] > NODE)
    if len(k):
        keys, row, cols = _by_place(ctx, fs[k])
        inside = ctx.b.add_columns("gang_inside", len(keys), hi=1.0)
        one = ctx.b.add_rows("gang_in_one_place", len(k), lo=0.0, hi=0.0)
        ctx.b.add_entries(one, keys[:, 0], inside, np.arange(len(keys)), 1.0)
        ctx.b.add_entries(one, np.arange(len(k)), gang, k, -1.0)
        only = ctx.b.add_rows("gang_only_there", len(keys), hi=0.0)
        ctx.b.add_entries(only, row, ctx.assign, cols, 1.0)
        ctx.b.add_entries(
            only, np.arange(len(keys)), inside, np.arange(len(keys)), -size[k][keys[:, 0]]
        )
    k = np.flatnonzero(t.within[fs] == NODE)
    if len(k):
        one = ctx.b.add_rows("gang_on_one_node", len(k), hi=0.0)
        ctx.b.add_entries(one, np.arange(len(k)), gang, k, -1.0)  # patterns: `pattern_rows`


def _by_place(ctx: ModelContext | PlacedColumns, fs: np.ndarray):
    """For gangs fs kept within a scope of many nodes: the (gang, place) keys where they
    may run, the key of each of their pair columns, and those columns."""
    r, cols = ctx.pairs.of_families(fs)
    keys, row = group_keys(r, ctx.places(ctx.inst.domain.rules.gang.within[fs][r], cols))
    return keys, row, cols


def columns(ctx: PlacedColumns) -> None:
    t = ctx.inst.domain.rules.gang
    fs = np.flatnonzero(t.member)
    if not len(fs):
        return
    r, cols = ctx.pairs.of_families(fs)
    ctx.set("gang", (ctx.replicas(r, cols, len(fs)) > 0.5).astype(float))
    inner = fs[t.within[fs] > NODE]
    if len(inner):
        keys, row, cols = _by_place(ctx, inner)
        ctx.set("gang_inside", (ctx.replicas(row, cols, len(keys)) > 0.5).astype(float))


def pattern_rows(ctx: PatternContext) -> None:
    t = ctx.inst.domain.rules.gang
    fs = np.flatnonzero(t.member & (t.within == NODE))
    if not len(fs):
        return
    p, k = ctx.holds(fs).nonzero()
    ctx.b.add_entries(ctx.b.row_block("gang_on_one_node"), k, ctx.patterns, p, 1.0)


def room(counts: PlaceCounts, f: int, nodes: np.ndarray) -> np.ndarray | None:
    t = counts.domain.rules.gang
    scope = int(t.within[f])
    if not t.member[f] or scope == NO_SCOPE or not counts.placed(f):
        return None
    return np.where(counts.at(scope, f, nodes) > 0, counts.many, 0)


def _where(domain: Domain, placed: Placed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gang workloads, replicas of each placed, and places each spans (at its scope)."""
    t, families = domain.rules.gang, domain.demand.families
    fs = np.flatnonzero(t.member)
    k, rep = members(placed.family(domain), fs, len(families))
    count = np.bincount(k, minlength=len(fs))
    scope = np.maximum(t.within[fs], NODE)
    keys, _ = group_keys(k, domain.scopes.table[placed.node[rep], scope[k]])
    spans = np.bincount(keys[:, 0], minlength=len(fs)) if len(keys) else np.zeros(len(fs), int)
    return fs, count, spans


def repair(domain: Domain, placed: Placed) -> np.ndarray:
    fs, count, spans = _where(domain, placed)
    size = domain.demand.families.max[fs]
    split = (domain.rules.gang.within[fs] != NO_SCOPE) & (spans > 1)
    broken = fs[(count > 0) & ((count < size) | split)]
    return np.isin(placed.family(domain), broken)


def check(domain: Domain, placed: Placed) -> list[Violation]:
    fs, count, spans = _where(domain, placed)
    ids, size = domain.demand.families.ids, domain.demand.families.max
    within = domain.rules.gang.within
    out = []
    for f, placed_f, span in zip(fs, count, spans, strict=True):
        if placed_f not in (0, size[f]):
            out.append(
                Violation(
                    "gang",
                    f"{ids[f]}: {placed_f} of its {size[f]} gang members placed; all or none",
                )
            )
        if within[f] != NO_SCOPE and placed_f and span > 1:
            out.append(Violation("gang", f"{ids[f]}: gang spans {span} {SCOPES[within[f]]}s"))
    return out


def describe(domain: Domain, f: int) -> list[str]:
    t = domain.rules.gang
    if not t.member[f]:
        return []
    return ["all or none" + (f" in one {SCOPES[t.within[f]]}" if t.within[f] != NO_SCOPE else "")]


FAMILY = RuleFamily(
    name="gang",
    problems=problems,
    shapes=shapes,
    model_rows=model_rows,
    pattern_rows=pattern_rows,
    columns=columns,
    room=room,
    repair=repair,
    check=check,
    describe=describe,
)
