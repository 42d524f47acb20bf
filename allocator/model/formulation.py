"""The placement model: how many nodes of each group run each pattern, and how many
replicas of each workload sit in the slots those patterns open.

Columns
  pattern[p]       nodes of group(p) running pattern p              integer, <= group size
  used[g]          nodes of group g in use                           integer, <= group size
  assign[w,g]      replicas of workload w on nodes of group g        integer (compatible pairs)
  shortfall[f]     required replicas of workload f left unplaced     integer, <= min(f)
  missing[f]       throughput short of f's target                    continuous
Rows (w is a demand row: a workload, or one of its variants; f(w) its workload)
  nodes[g]         sum_p pattern[p] - used[g]                 = 0
  slots[g,s]       sum_w assign[w,g] - sum_p n(p,s) pattern[p] <= 0   (w of shape s)
  required[f]      sum_{w of f, g} assign[w,g] + shortfall[f] >= min(f)
  wanted[f]        sum_{w of f, g} assign[w,g]                <= max(f)
  on_group[f,g]    sum_{w of f} assign[w,g]                   <= most(f,g)  (where capped)
  throughput[f]    sum_{w of f, g} rate(w, type(g)) assign[w,g] + missing[f] >= target(f)
Objectives, in lexicographic order (or the last two weighted, as the file says)
  hard_shortfall     sum_f priority(f) (shortfall[f] + missing[f] / fastest rate(f))
  unplaced_priority  sum_f priority(f) (max(f) - placed(f))     (workloads without a target)
  cost_per_hour      sum_g cost(g) used[g]

The `used` counts carry the cost so that branching acts on whole node counts per group,
which closes the gap far faster than branching on individual patterns.

Workload rules add their rows from `allocator.rules` (each family's module gives its math),
storage, network and power theirs from `datacenter`, moves from `migration`. What does not
depend on the pattern pool is built once per instance (`model_base`); a pool adds its
pattern columns to a copy, so column generation and the objective levels never rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import overload

import numpy as np

from allocator.model import datacenter, migration
from allocator.model.context import ModelContext, Pairs, PatternContext, Slack
from allocator.model.patterns import PatternPool
from allocator.model.problem import Block, Problem, ProblemBuilder
from allocator.model.reduce import PackingInstance
from allocator.rules import FAMILIES


@dataclass(frozen=True, eq=False)
class Level:
    """One objective of a lexicographic sequence (minimized)."""

    name: str
    cost: np.ndarray
    offset: float
    integral: bool  # takes integer values only, so "no worse than v" can be exact

    def value(self, x: np.ndarray) -> float:
        return float(self.cost @ x + self.offset)

    def least(self, col_lo: np.ndarray, col_hi: np.ndarray) -> float | None:
        """The least value of any columns within their bounds `col_lo`, `col_hi`, rows
        left out: a lower bound on the level that costs nothing to compute (None where a
        column the level counts is unbounded its way). Where nothing the level counts can
        change, as the $/h of a fleet without prices, it is the level's value itself."""
        counted = self.cost != 0
        ends = np.where(self.cost > 0, col_lo, col_hi)[counted]
        if not np.isfinite(ends).all():
            return None
        return float(self.cost[counted] @ ends + self.offset)


@dataclass(frozen=True, eq=False)
class Formulation:
    """The model plus what is needed to read its solutions back as node placements."""

    problem: Problem
    levels: tuple[Level, ...]
    instance: PackingInstance
    pool: PatternPool
    pair_w: np.ndarray
    pair_g: np.ndarray
    short_f: np.ndarray  # workload of each `shortfall` column
    slot_g: np.ndarray  # group of each `slots` row
    slot_s: np.ndarray  # shape of each `slots` row
    datacenter: datacenter.DatacenterIndex  # what storage, read and site columns stand for

    @property
    def patterns(self) -> Block:
        return self.problem.col_block("pattern")

    @property
    def assign(self) -> Block:
        return self.problem.col_block("assign")

    @property
    def shortfall(self) -> Block:
        return self.problem.col_block("shortfall")


@dataclass(frozen=True, eq=False)
class ModelBase:
    """Everything of the model that no pattern pool changes, built once per instance:
    the assign, used and slack columns and every row over them. A pool adds its pattern
    columns (and the rows about single nodes) to a copy (`build_formulation`)."""

    inst: PackingInstance
    builder: ProblemBuilder
    ctx: ModelContext
    slot_id: np.ndarray  # (groups x shapes) row of `slots`, -1 where no pair has the shape
    costs: datacenter.CostTerms
    datacenter: datacenter.DatacenterIndex


def model_base(inst: PackingInstance) -> ModelBase:
    demand = inst.domain.demand
    groups = inst.groups
    count = groups.count
    shape_of = inst.shapes.of_workload
    n_groups, n_shapes = len(groups), len(inst.shapes)
    pairs = Pairs.of(inst)
    pair_w, pair_g = pairs.w, pairs.g
    families = demand.families
    short_f = np.flatnonzero(families.min > 0)

    b = ProblemBuilder(name=inst.domain.name)
    # Draining nodes run exactly their one pinned pattern; down nodes run nothing.
    fixed = np.isin(np.arange(n_groups), inst.fixed_groups)
    fixed_on = fixed & inst.pinned.any(axis=0)
    used_nodes = b.add_columns(
        "used", n_groups, lo=np.where(fixed_on, count, 0), hi=np.where(fixed & ~fixed_on, 0, count)
    )
    pair_hi = np.minimum(demand.max[pair_w], count[pair_g] * inst.fit[shape_of[pair_w], pair_g])
    pinned = inst.pinned[pair_w, pair_g]
    pair_fixed = fixed[pair_g]
    assign = b.add_columns(
        "assign",
        len(pair_w),
        lo=np.where(pair_fixed, pinned, 0),
        hi=np.where(pair_fixed, pinned, pair_hi),
        labels=_LazyLabels(lambda k: f"{demand.ids[pair_w[k]]},g{pair_g[k]}", len(pair_w)),
    )
    shortfall = b.add_columns(
        "shortfall",
        len(short_f),
        hi=families.min[short_f],
        labels=_LazyLabels(lambda k: str(families.ids[short_f[k]]), len(short_f)),
    )

    nodes = b.add_rows("nodes", n_groups, lo=0.0, hi=0.0)  # patterns add their nodes
    b.add_entries(nodes, np.arange(n_groups), used_nodes, np.arange(n_groups), -1.0)

    slot_id = np.full((n_groups, n_shapes), -1, dtype=np.int64)
    used = np.unique(pair_g * n_shapes + shape_of[pair_w])
    slot_id.flat[used] = np.arange(len(used))
    slots = b.add_rows(
        "slots",
        len(used),
        hi=0.0,
        labels=_LazyLabels(lambda k: f"g{used[k] // n_shapes},s{used[k] % n_shapes}", len(used)),
    )
    b.add_entries(slots, slot_id[pair_g, shape_of[pair_w]], assign, np.arange(len(pair_w)), 1.0)

    required = b.add_rows("required", len(short_f), lo=families.min[short_f].astype(np.float64))
    position = np.full(len(families), -1, dtype=np.int64)
    position[short_f] = np.arange(len(short_f))
    has_min = position[pairs.f] >= 0
    b.add_entries(required, position[pairs.f[has_min]], assign, np.flatnonzero(has_min), 1.0)
    b.add_entries(required, np.arange(len(short_f)), shortfall, np.arange(len(short_f)), 1.0)

    wanted = b.add_rows("wanted", len(families), hi=families.max.astype(np.float64))
    b.add_entries(wanted, pairs.f, assign, np.arange(len(pair_w)), 1.0)
    if inst.most_on_group is not None:
        _most_on_group(b, inst.most_on_group, pairs.f, pair_g, assign)
    missing = _throughput(b, inst, assign, pair_w, pair_g)

    slack = Slack(shortfall, short_f, missing, np.flatnonzero(families.by_target))
    ctx = ModelContext(b, inst, pairs, assign, used_nodes, slack)
    for family in FAMILIES:
        if family.model_rows is not None:
            family.model_rows(ctx)
    weights = inst.domain.objective.weights
    costs, dc_index = datacenter.define(b, inst, used_nodes, assign, pair_w, pair_g, weights.energy)
    costs.add(used_nodes, groups.cost)
    migration.define(ctx, costs)
    return ModelBase(inst, b, ctx, slot_id, costs, dc_index)


def _most_on_group(
    b: ProblemBuilder, most: np.ndarray, pair_f: np.ndarray, pair_g: np.ndarray, assign: Block
) -> None:
    """on_group[f,g]  sum_{w of f} assign[w,g] <= most(f,g), where most is finite."""
    capped = np.isfinite(most[pair_f, pair_g])
    keys, row_of = np.unique(pair_f[capped] * most.shape[1] + pair_g[capped], return_inverse=True)
    rows = b.add_rows("on_group", len(keys), hi=most.ravel()[keys])
    b.add_entries(rows, row_of.ravel(), assign, np.flatnonzero(capped), 1.0)


def build_formulation(
    inst: PackingInstance, pool: PatternPool, base: ModelBase | None = None
) -> Formulation:
    """The model over a pattern pool: the instance's base (built here unless given) plus
    the pool's pattern columns and the rows that depend on them."""
    base = base or model_base(inst)
    count = inst.groups.count
    n_groups = len(inst.groups)
    b = base.builder.copy()
    fixed = np.isin(np.arange(n_groups), inst.fixed_groups)
    pattern_lo = np.where(fixed[pool.group], count[pool.group], 0)
    pattern = b.add_columns("pattern", len(pool), lo=pattern_lo, hi=count[pool.group])
    b.add_entries(b.row_block("nodes"), pool.group, pattern, np.arange(len(pool)), 1.0)
    p_idx, s_idx = np.nonzero(pool.counts)
    rows = base.slot_id[pool.group[p_idx], s_idx]
    if (rows < 0).any():
        raise ValueError("a pattern holds a shape that no workload compatible with its group has")
    b.add_entries(b.row_block("slots"), rows, pattern, p_idx, -pool.counts[p_idx, s_idx])
    shared = {f.name: getattr(base.ctx, f.name) for f in fields(ModelContext)}
    ctx = PatternContext(**{**shared, "b": b, "pool": pool, "patterns": pattern})
    for family in FAMILIES:
        if family.pattern_rows is not None:
            family.pattern_rows(ctx)
    migration.pattern_entries(ctx)
    problem = b.build()
    levels = _levels(inst, problem, base.costs, base.ctx.pairs.w, base.ctx.slack.short_f)
    n_shapes = len(inst.shapes)
    slots = np.flatnonzero(base.slot_id.ravel() >= 0)
    return Formulation(
        problem,
        levels,
        inst,
        pool,
        base.ctx.pairs.w,
        base.ctx.pairs.g,
        base.ctx.slack.short_f,
        slots // n_shapes,
        slots % n_shapes,
        base.datacenter,
    )


def _throughput(
    b: ProblemBuilder, inst: PackingInstance, assign: Block, pair_w: np.ndarray, pair_g: np.ndarray
) -> Block | None:
    """Each throughput target, met by the rates of the replicas placed, or `missing`."""
    demand = inst.domain.demand
    families = demand.families
    targets = np.flatnonzero(families.by_target)
    if not len(targets):
        return None
    missing = b.add_columns("missing", len(targets), hi=families.target[targets])
    rows = b.add_rows("throughput", len(targets), lo=families.target[targets])
    position = np.full(len(families), -1, dtype=np.int64)
    position[targets] = np.arange(len(targets))
    rate = inst.pair_rate(pair_w, pair_g)
    k = np.flatnonzero((position[demand.family[pair_w]] >= 0) & (rate > 0))
    b.add_entries(rows, position[demand.family[pair_w[k]]], assign, k, rate[k])
    b.add_entries(rows, np.arange(len(targets)), missing, np.arange(len(targets)), 1.0)
    return missing


def _levels(
    inst: PackingInstance,
    problem: Problem,
    costs: datacenter.CostTerms,
    pair_w: np.ndarray,
    short_f: np.ndarray,
) -> tuple[Level, ...]:
    demand = inst.domain.demand
    families = demand.families
    priority = families.priority.astype(np.float64)
    counted = families.counted_priority.astype(np.float64)
    pair_f = demand.family[pair_w]

    def vector(block: str, values: np.ndarray) -> np.ndarray:
        c = np.zeros(problem.n_cols)
        c[problem.col_block(block).slice] = values
        return c

    short_cost = vector("shortfall", priority[short_f])
    targets = np.flatnonzero(families.by_target)
    if len(targets):
        short_cost += vector("missing", priority[targets] / families.best_rate[targets])
    shortfall = Level("hard_shortfall", short_cost, 0.0, not len(targets))
    unplaced = Level(
        "unplaced_priority",
        vector("assign", -counted[pair_f]),
        float(counted @ families.max),
        True,
    )
    by_class = []
    classes = inst.domain.priority_classes
    if len(inst.domain.objective.priority_classes):
        rank = demand.class_rank[np.unique(demand.family, return_index=True)[1]]
        for name, r in zip(classes, sorted(set(rank.tolist())), strict=True):
            mine = counted * (rank == r)
            by_class.append(
                Level(
                    f"unplaced_priority:{name}",
                    vector("assign", -mine[pair_f]),
                    float(mine @ families.max),
                    True,
                )
            )
    cost_vector = np.zeros(problem.n_cols)
    for block, values in costs.terms:
        cost_vector[problem.col_block(block).slice] += values
    cost = Level("cost_per_hour", cost_vector, costs.offset, False)
    objective = inst.domain.objective
    if objective.mode == "weighted":
        w = objective.weights
        blended = Level(
            "weighted",
            w.cost * cost.cost + w.unplaced * unplaced.cost,
            w.cost * cost.offset + w.unplaced * unplaced.offset,
            False,
        )
        return shortfall, blended
    if by_class:
        return shortfall, *by_class, cost
    return shortfall, unplaced, cost


class _LazyLabels(Sequence[str]):
    """Names computed on demand, so big models pay nothing for diagnostics they never print."""

    def __init__(self, make: Callable[[int], str], size: int):
        self._make = make
        self._size = size

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, k: int) -> str: ...
    @overload
    def __getitem__(self, k: slice) -> list[str]: ...
    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return [self._make(i) for i in range(self._size)[k]]
        return self._make(range(self._size)[k])
