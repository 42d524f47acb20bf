"""Affinity and anti-affinity: a workload runs only in places where another runs (with),
or never in a place where the other runs (apart).

Table: one entry per relation: f, the other workload v, scope, apart.

Model, with y(f,d) as in `spread` and a binary there[r,d] per relation r and place d where
either may run, tied to "v runs in d" from both sides:
  there[r,d] <= y(v,d);  y(v,d) <= max(v) there[r,d]
  with    y(f,d) <= max(f) there[r,d]
  apart   y(f,d) <= max(f) (1 - there[r,d])
At scope node the rows of both workloads get shapes of their own and the node patterns
obey the relation (shapes kept apart, or a shape only beside the other); f is compatible
only with groups where v is, and since a pattern that holds f may leave its slots for v
empty, each group places at least as many replicas of v as it has nodes whose pattern
holds f (decoding then puts v's replicas on those nodes first):
  with    sum of pattern[p] over patterns of g holding f - y(v,g) <= 0    every group g
From a placement: there[r,d] = [y(v,d) > 0].
Greedy: a node is closed to f where its place lacks v (with) or holds v (apart, both ways).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from allocator.domain.grouping import by_family, group_keys, keys_at, members
from allocator.domain.scopes import NODE, SCOPES, scope_index
from allocator.io.validation import suggest
from allocator.rules.base import Placed, Report, RuleFamily, ShapeRules, Violation, scope_problem

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.heuristics.counts import PlaceCounts
    from allocator.inventory.schema import Inventory, WorkloadSpec
    from allocator.model.context import ModelContext, PatternContext, PlacedColumns

FIELDS = ("affinity", "anti_affinity")


@dataclass(frozen=True, eq=False)
class RelationTable:
    f: np.ndarray
    other: np.ndarray
    scope: np.ndarray
    apart: np.ndarray
    ptr: np.ndarray  # relations of workload f: ptr[f]:ptr[f + 1]


def table(workloads: Sequence[WorkloadSpec], family_of: Mapping[str, int]) -> RelationTable:
    entries = [
        (f, family_of[r.workload], scope_index(r.scope), field == "anti_affinity")
        for f, w in enumerate(workloads)
        for field in FIELDS
        for r in getattr(w, field)
    ]
    cols = np.array(entries, dtype=np.int64).reshape(-1, 4).T
    return RelationTable(
        cols[0], cols[1], cols[2], cols[3].astype(bool), by_family(cols[0], len(workloads))
    )


def problems(inv: Inventory, report: Report) -> None:
    ids = {w.id for w in inv.workloads}
    with_variants = {w.id for w in inv.workloads if w.variants}
    for i, w in enumerate(inv.workloads):
        for field in FIELDS:
            for k, rule in enumerate(getattr(w, field)):
                loc = ("workloads", i, field, k)
                scope_problem(inv, (*loc, "scope"), rule.scope, report)
                if rule.workload not in ids:
                    report(
                        (*loc, "workload"),
                        f"unknown workload {rule.workload!r}{suggest(rule.workload, ids)}",
                    )
                elif rule.workload == w.id:
                    report((*loc, "workload"), "a workload cannot be placed relative to itself")
                elif rule.scope == "node" and (
                    w.id in with_variants or rule.workload in with_variants
                ):
                    report(
                        loc,
                        f"{field.replace('_', '-')} on the same node is not supported with a "
                        "workload that has variants; use a rack or wider scope",
                    )


def shapes(domain: Domain) -> ShapeRules:
    t, first = domain.rules.relations, domain.demand.families.first_row
    out = ShapeRules.none(len(domain.demand))
    at_node = t.scope == NODE
    out.own_shape[first[t.f[at_node]]] = True
    out.own_shape[first[t.other[at_node]]] = True
    pairs = np.stack([first[t.f], first[t.other]], axis=1).reshape(-1, 2)
    return replace(out, apart=pairs[at_node & t.apart], together=pairs[at_node & ~t.apart])


def _with_on_nodes(ctx: ModelContext) -> tuple[np.ndarray, np.ndarray]:
    """Relations "with" at scope node, and their (relation, group) rows: every group where
    the workload may run."""
    t = ctx.inst.domain.rules.relations
    k = np.flatnonzero((t.scope == NODE) & ~t.apart)
    r, cols = ctx.pairs.of_families(t.f[k])
    keys, _ = group_keys(r, ctx.pairs.g[cols])
    return k, keys


def model_rows(ctx: ModelContext) -> None:
    _place_rows(ctx)
    k, keys = _with_on_nodes(ctx)
    if not len(keys):
        return
    t = ctx.inst.domain.rules.relations
    rows = ctx.b.add_rows("with_on_node", len(keys), hi=0.0)
    rv, cols = ctx.pairs.of_families(t.other[k])
    at, hit = keys_at(keys, rv, ctx.pairs.g[cols])
    ctx.b.add_entries(rows, at[hit], ctx.assign, cols[hit], -1.0)


def pattern_rows(ctx: PatternContext) -> None:
    k, keys = _with_on_nodes(ctx)
    if not len(keys):
        return
    p, r = ctx.holds(ctx.inst.domain.rules.relations.f[k]).nonzero()
    at, hit = keys_at(keys, r, ctx.pool.group[p])
    ctx.b.add_entries(ctx.b.row_block("with_on_node"), at[hit], ctx.patterns, p[hit], 1.0)


def _places(ctx: ModelContext | PlacedColumns):
    """Relations k at scopes of many nodes, the (relation, place) keys where either
    workload may run, and for f then v: the key of each pair column, and those columns."""
    t = ctx.inst.domain.rules.relations
    k = np.flatnonzero(t.scope != NODE)
    rf, cols_f = ctx.pairs.of_families(t.f[k])
    rv, cols_v = ctx.pairs.of_families(t.other[k])
    place_f = ctx.places(t.scope[k][rf], cols_f)
    place_v = ctx.places(t.scope[k][rv], cols_v)
    keys, row = group_keys(np.concatenate([rf, rv]), np.concatenate([place_f, place_v]))
    return k, keys, (row[: len(rf)], cols_f), (row[len(rf) :], cols_v)


def columns(ctx: PlacedColumns) -> None:
    k, keys, _, (row_v, cols_v) = _places(ctx)
    if len(k):
        ctx.set("relation_there", (ctx.replicas(row_v, cols_v, len(keys)) > 0.5).astype(float))


def _place_rows(ctx: ModelContext) -> None:
    t = ctx.inst.domain.rules.relations
    k, keys, (row_f, cols_f), (row_v, cols_v) = _places(ctx)
    if not len(k):
        return
    families = ctx.inst.domain.demand.families
    n, rel = len(keys), keys[:, 0]
    there = ctx.b.add_columns("relation_there", n, hi=1.0)
    each = np.arange(n)
    # there[r,d] = 1 exactly when v runs in d.
    at_most = ctx.b.add_rows("relation_other_runs", n, hi=0.0)
    ctx.b.add_entries(at_most, each, there, each, 1.0)
    ctx.b.add_entries(at_most, row_v, ctx.assign, cols_v, -1.0)
    at_least = ctx.b.add_rows("relation_other_marks", n, hi=0.0)
    ctx.b.add_entries(at_least, row_v, ctx.assign, cols_v, 1.0)
    ctx.b.add_entries(at_least, each, there, each, -families.max[t.other[k]][rel].astype(float))
    apart = t.apart[k][rel]
    most = families.max[t.f[k]][rel].astype(float)
    rows = ctx.b.add_rows("relation", n, hi=np.where(apart, most, 0.0))
    ctx.b.add_entries(rows, row_f, ctx.assign, cols_f, 1.0)
    ctx.b.add_entries(rows, each, there, each, np.where(apart, most, -most))


def room(counts: PlaceCounts, f: int, nodes: np.ndarray) -> np.ndarray | None:
    t = counts.domain.rules.relations
    closed = np.zeros(len(nodes), dtype=bool)
    ruled = False
    for r in range(int(t.ptr[f]), int(t.ptr[f + 1])):
        if t.scope[r] != NODE:
            ruled = True
            there = counts.at(int(t.scope[r]), int(t.other[r]), nodes) > 0
            closed |= there if t.apart[r] else ~there
    for q in np.flatnonzero((t.other == f) & t.apart & (t.scope != NODE)):
        ruled = True
        closed |= counts.at(int(t.scope[q]), int(t.f[q]), nodes) > 0
    return np.where(closed, 0, counts.many) if ruled else None


def _clashes(domain: Domain, placed: Placed) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per relation: (relation, replicas of f in a place that breaks it, those places)."""
    t = domain.rules.relations
    if not len(t.f):
        return []
    n_families = len(domain.demand.families)
    family = placed.family(domain)
    kf, rep_f = members(family, t.f, n_families)
    kv, rep_v = members(family, t.other, n_families)
    place_f = domain.scopes.table[placed.node[rep_f], t.scope[kf]]
    place_v = domain.scopes.table[placed.node[rep_v], t.scope[kv]]
    width = int(domain.scopes.table.max(initial=0)) + 1
    theirs = np.isin(kf * width + place_f, kv * width + place_v)
    bad = np.where(t.apart[kf], theirs, ~theirs)
    return [
        (r, rep_f[(kf == r) & bad], np.unique(place_f[(kf == r) & bad])) for r in np.unique(kf[bad])
    ]


def repair(domain: Domain, placed: Placed) -> np.ndarray:
    drop = np.zeros(len(placed.row), dtype=bool)
    for _, replicas, _ in _clashes(domain, placed):
        drop[replicas] = True
    return drop


def check(domain: Domain, placed: Placed) -> list[Violation]:
    t, ids = domain.rules.relations, domain.demand.families.ids
    out = []
    for r, _, places in _clashes(domain, placed):
        scope = int(t.scope[r])
        names = sorted(map(str, domain.scopes.names(scope)[places]))
        out.append(
            Violation(
                "anti_affinity" if t.apart[r] else "affinity",
                f"{ids[t.f[r]]} runs {'where' if t.apart[r] else 'where not'} "
                f"{ids[t.other[r]]} runs: {SCOPES[scope]} {', '.join(names)}",
            )
        )
    return out


def describe(domain: Domain, f: int) -> list[str]:
    t, ids = domain.rules.relations, domain.demand.families.ids
    return [
        f"{'apart from' if t.apart[r] else 'with'} {ids[t.other[r]]} per {SCOPES[t.scope[r]]}"
        for r in range(int(t.ptr[f]), int(t.ptr[f + 1]))
    ]


FAMILY = RuleFamily(
    name="affinity",
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
