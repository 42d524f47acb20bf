"""Workload rules over failure domains (racks, NVLink/InfiniBand fabrics, zones, regions,
sites).

Groups never span such a domain, so every rule is linear in `assign[w,g]` (replicas of
row w on group g) plus a few binaries. Rules belong to workloads: with y(f,d) = the sum
of assign over the rows w of workload f and the groups of domain d,

  spread max      y(f,d) <= k                                       for every domain d
  spread min      present[f,d] <= y(f,d);  sum_d present >= m * on[f];  y(f) <= max * on[f]
  survive         y(f) - y(f,d) + shortfall(f) >= min(f)             for every domain d
                  (with a throughput target: replicas weighed by their rate, >= target)
  gang            y(f) = size * gang[f];  within: y(f,d) <= size * inside[f,d],
                  sum_d inside[f,d] = gang[f]
  affinity        y(f,d) <= max(f) * there[v,d];  there[v,d] <= y(v,d)
  anti-affinity   y(v,d) <= max(v) * there[v,d];  y(f,d) <= max(f) * (1 - there[v,d])

At scope `node`, where groups hold many nodes, the rules are about patterns (the
workload's rows have shapes of their own, so a pattern says how many replicas a node runs):
  spread max      patterns hold at most k (`allocator.model.patterns`)
  spread min      sum of pattern[p] over patterns holding f >= m * on[f]
  survive         used[p] >= pattern[p] / size(group);  y(f) + shortfall(f) - n(p,f) used[p]
                  >= min(f)                        for every pattern p holding n(p,f) of f
Affinity, anti-affinity and dedicated tenants at node level shape the patterns themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.model.patterns import PatternPool
from allocator.model.problem import Block, ProblemBuilder
from allocator.model.reduce import PackingInstance

DOMAIN_SCOPES = ("rack", "fabric", "zone", "region", "site")


def domain_codes(inst: PackingInstance, scope: str) -> np.ndarray:
    """Domain of every group at a scope, as integer codes."""
    values = getattr(inst.groups, scope).astype(str)
    return np.unique(values, return_inverse=True)[1].ravel()


class _Sums:
    """y(f,d): replicas of one workload (over all its rows) per domain, as entries on
    `assign`; with a throughput target, `rate` weighs each replica by its throughput."""

    def __init__(self, inst: PackingInstance, pair_w: np.ndarray, pair_g: np.ndarray):
        self.inst, self.pair_w, self.pair_g = inst, pair_w, pair_g
        self.pair_f = inst.domain.demand.family[pair_w]

    def cols(self, f: int) -> np.ndarray:
        return np.flatnonzero(self.pair_f == f)

    def of(self, f: int, scope: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the workload's pair columns, their domain, the domains that have any)."""
        cols = self.cols(f)
        domain = domain_codes(self.inst, scope)[self.pair_g[cols]]
        return cols, domain, np.unique(domain)


@dataclass(frozen=True)
class Slack:
    """Columns that let a workload fall short: `shortfall` (replicas) and `missing`
    (throughput), so that an impossible rule shows up as a shortfall, not infeasibility."""

    shortfall: Block
    short_f: np.ndarray  # workload of each shortfall column
    missing: Block | None
    targets: np.ndarray  # workload of each missing column

    def add(self, b: ProblemBuilder, rows: Block, f: int, count: int, by_target: bool) -> None:
        """Add the workload's slack column to `count` rows of `rows`."""
        if by_target:
            col = int(np.searchsorted(self.targets, f))
            b.add_entries(rows, np.arange(count), self.missing, np.full(count, col), 1.0)
            return
        position = np.flatnonzero(self.short_f == f)
        if len(position):
            b.add_entries(rows, np.arange(count), self.shortfall, np.full(count, position[0]), 1.0)


def define(
    b: ProblemBuilder,
    inst: PackingInstance,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    patterns: Block,
    pool: PatternPool,
    slack: Slack,
) -> None:
    demand = inst.domain.demand
    families = demand.families
    sums = _Sums(inst, pair_w, pair_g)
    _node_level(b, inst, assign, pair_w, pair_g, patterns, pool, slack)
    for f in range(len(families)):
        w = families.first_row[f]  # the rules are the workload's, the same on every row
        for scope, most, fewest in demand.spread[w]:
            if scope in DOMAIN_SCOPES and most is not None:
                _spread_max(b, sums, assign, f, scope, most)
            if scope in DOMAIN_SCOPES and fewest is not None:
                _spread_min(b, sums, assign, f, scope, fewest)
        if demand.survive[w] in DOMAIN_SCOPES and families.required[f]:
            _survive(b, sums, assign, f, demand.survive[w], slack)
        if demand.gang[w]:
            _gang(b, sums, assign, f, demand.gang_within[w])
        for v, scope in demand.affinity[w]:
            if scope in DOMAIN_SCOPES:
                _affinity(b, sums, assign, f, v, scope, apart=False)
        for v, scope in demand.anti_affinity[w]:
            if scope in DOMAIN_SCOPES:
                _affinity(b, sums, assign, f, v, scope, apart=True)


def survive_weights(inst: PackingInstance, pair_w: np.ndarray, pair_g: np.ndarray) -> np.ndarray:
    """What each replica counts for when a workload must survive a loss: its throughput
    for a workload with a target, else 1."""
    by_target = inst.domain.demand.families.by_target[inst.domain.demand.family[pair_w]]
    return np.where(by_target, inst.pair_rate(pair_w, pair_g), 1.0)


def _survive_floor(inst: PackingInstance, f: int) -> float:
    families = inst.domain.demand.families
    return float(families.target[f] if families.by_target[f] else families.min[f])


def _node_level(
    b,
    inst: PackingInstance,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    patterns: Block,
    pool: PatternPool,
    slack: Slack,
) -> None:
    demand, shapes = inst.domain.demand, inst.shapes
    families = demand.families
    count = inst.groups.count
    ruled = [
        f
        for f in range(len(families))
        if (demand.survive[families.first_row[f]] == "node" and families.required[f])
        or any(
            scope == "node" and fewest is not None
            for scope, _, fewest in demand.spread[families.first_row[f]]
        )
    ]
    if not ruled:
        return
    weight = survive_weights(inst, pair_w, pair_g)
    for f in ruled:
        w = families.first_row[f]
        rows = families.rows(f)
        # Replicas of the workload (of any of its rows) on one node of each pattern.
        held = pool.counts[:, shapes.of_workload[rows]]
        holding = np.flatnonzero(held.sum(axis=1) > 0)
        cols = np.flatnonzero(demand.family[pair_w] == f)
        for scope, _, fewest in demand.spread[w]:
            if scope == "node" and fewest is not None:
                on = b.add_columns(_name("runs_on_nodes", f, inst), 1, hi=1.0)
                spread = b.add_rows(
                    _name("spread_min_node", f, inst),
                    2,
                    lo=np.array([0.0, -np.inf]),
                    hi=np.array([np.inf, 0.0]),
                )
                b.add_entries(spread, np.zeros(len(holding)), patterns, holding, 1.0)
                b.add_entries(spread, [0], on, [0], -float(fewest))
                b.add_entries(spread, np.ones(len(cols)), assign, cols, 1.0)
                b.add_entries(spread, [1], on, [0], -float(families.max[f]))
        if demand.survive[w] == "node" and families.required[f] and len(holding):
            used = b.add_columns(_name("pattern_used", f, inst), len(holding), hi=1.0)
            link = b.add_rows(_name("pattern_used_if_run", f, inst), len(holding), hi=0.0)
            b.add_entries(link, np.arange(len(holding)), patterns, holding, 1.0)
            b.add_entries(
                link,
                np.arange(len(holding)),
                used,
                np.arange(len(holding)),
                -count[pool.group[holding]].astype(float),
            )
            # What one node running pattern p holds of the workload, weighed.
            on_node = _pattern_weight(inst, pool, holding, rows, held[holding])
            survive = b.add_rows(
                _name("survive_node", f, inst), len(holding), lo=_survive_floor(inst, f)
            )
            k = np.arange(len(holding))
            b.add_entries(
                survive,
                np.repeat(k, len(cols)),
                assign,
                np.tile(cols, len(holding)),
                np.tile(weight[cols], len(holding)),
            )
            b.add_entries(survive, k, used, k, -on_node)
            slack.add(b, survive, f, len(holding), bool(families.by_target[f]))


def _pattern_weight(
    inst: PackingInstance, pool: PatternPool, patterns: np.ndarray, rows: np.ndarray, held
) -> np.ndarray:
    """Replicas (or, with a target, throughput) of a workload's rows on one node of each
    pattern."""
    families = inst.domain.demand.families
    if not families.by_target[inst.domain.demand.family[rows[0]]]:
        return held.sum(axis=1).astype(float)
    gpu_type = inst.groups.gpu_type[pool.group[patterns]]
    rate = inst.domain.demand.rate
    per = (
        np.where(gpu_type[:, None] >= 0, rate[rows][:, np.maximum(gpu_type, 0)].T, 0.0)
        if rate.shape[1]
        else np.zeros(held.shape)
    )
    return (held * per).sum(axis=1)


def _name(kind: str, f: int, inst: PackingInstance) -> str:
    return f"{kind}[{inst.domain.demand.families.ids[f]}]"


def _spread_max(b, sums: _Sums, assign: Block, f: int, scope: str, most: int) -> None:
    cols, domain, domains = sums.of(f, scope)
    rows = b.add_rows(_name(f"spread_max_{scope}", f, sums.inst), len(domains), hi=float(most))
    b.add_entries(rows, np.searchsorted(domains, domain), assign, cols, 1.0)


def _present(b, sums: _Sums, assign: Block, f: int, scope: str, label: str):
    """Binaries present[d] <= y(f,d) for the workload's domains (1 only where it runs)."""
    cols, domain, domains = sums.of(f, scope)
    present = b.add_columns(_name(f"{label}_{scope}", f, sums.inst), len(domains), hi=1.0)
    rows = b.add_rows(_name(f"{label}_only_where_{scope}", f, sums.inst), len(domains), hi=0.0)
    b.add_entries(rows, np.arange(len(domains)), present, np.arange(len(domains)), 1.0)
    b.add_entries(rows, np.searchsorted(domains, domain), assign, cols, -1.0)
    return present, domains


def _spread_min(b, sums: _Sums, assign: Block, f: int, scope: str, fewest: int) -> None:
    families = sums.inst.domain.demand.families
    cols = sums.cols(f)
    present, domains = _present(b, sums, assign, f, scope, "present")
    on = b.add_columns(_name("runs", f, sums.inst), 1, hi=1.0)
    rows = b.add_rows(_name(f"spread_min_{scope}", f, sums.inst), 1, lo=0.0)
    b.add_entries(rows, np.zeros(len(domains)), present, np.arange(len(domains)), 1.0)
    b.add_entries(rows, [0], on, [0], -float(fewest))
    runs = b.add_rows(_name("runs_if_placed", f, sums.inst), 1, hi=0.0)
    b.add_entries(runs, np.zeros(len(cols)), assign, cols, 1.0)
    b.add_entries(runs, [0], on, [0], -float(families.max[f]))


def _survive(b, sums: _Sums, assign: Block, f: int, scope: str, slack: Slack) -> None:
    families = sums.inst.domain.demand.families
    cols, domain, domains = sums.of(f, scope)
    weight = survive_weights(sums.inst, sums.pair_w[cols], sums.pair_g[cols])
    rows = b.add_rows(
        _name(f"survive_{scope}", f, sums.inst), len(domains), lo=_survive_floor(sums.inst, f)
    )
    # For each domain d: every replica outside d counts.
    outside = domain[None, :] != domains[:, None]
    r, k = np.nonzero(outside)
    b.add_entries(rows, r, assign, cols[k], weight[k])
    slack.add(b, rows, f, len(domains), bool(families.by_target[f]))


def _gang(b, sums: _Sums, assign: Block, f: int, within: str) -> None:
    families = sums.inst.domain.demand.families
    size = float(families.max[f])
    cols = sums.cols(f)
    gang = b.add_columns(_name("gang", f, sums.inst), 1, hi=1.0)
    rows = b.add_rows(_name("all_or_nothing", f, sums.inst), 1, lo=0.0, hi=0.0)
    b.add_entries(rows, np.zeros(len(cols)), assign, cols, 1.0)
    b.add_entries(rows, [0], gang, [0], -size)
    if within not in DOMAIN_SCOPES:
        return
    cols, domain, domains = sums.of(f, within)
    inside = b.add_columns(_name(f"gang_in_{within}", f, sums.inst), len(domains), hi=1.0)
    one = b.add_rows(_name(f"gang_one_{within}", f, sums.inst), 1, lo=0.0, hi=0.0)
    b.add_entries(one, np.zeros(len(domains)), inside, np.arange(len(domains)), 1.0)
    b.add_entries(one, [0], gang, [0], -1.0)
    only = b.add_rows(_name(f"gang_only_{within}", f, sums.inst), len(domains), hi=0.0)
    b.add_entries(only, np.searchsorted(domains, domain), assign, cols, 1.0)
    b.add_entries(only, np.arange(len(domains)), inside, np.arange(len(domains)), -size)


def _affinity(b, sums: _Sums, assign: Block, f: int, v: int, scope: str, apart: bool) -> None:
    """f runs only in domains where v runs (or, apart, never in one where v runs)."""
    families = sums.inst.domain.demand.families
    f_cols, f_domain, f_domains = sums.of(f, scope)
    v_cols, v_domain, v_domains = sums.of(v, scope)
    domains = np.union1d(f_domains, v_domains)
    label = "apart" if apart else "with"
    pair = f"{families.ids[f]},{families.ids[v]}"
    there = b.add_columns(f"{label}_{scope}[{pair}]", len(domains), hi=1.0)
    # there[d] = 1 iff v runs in d (tied from both sides).
    at_most = b.add_rows(f"{label}_v_runs_{scope}[{pair}]", len(domains), hi=0.0)
    b.add_entries(at_most, np.arange(len(domains)), there, np.arange(len(domains)), 1.0)
    b.add_entries(at_most, np.searchsorted(domains, v_domain), assign, v_cols, -1.0)
    at_least = b.add_rows(f"{label}_v_marks_{scope}[{pair}]", len(domains), hi=0.0)
    b.add_entries(at_least, np.searchsorted(domains, v_domain), assign, v_cols, 1.0)
    b.add_entries(
        at_least, np.arange(len(domains)), there, np.arange(len(domains)), -float(families.max[v])
    )
    most = float(families.max[f])
    rows = b.add_rows(f"{label}_{scope}[{pair}]", len(domains), hi=most if apart else 0.0)
    b.add_entries(rows, np.searchsorted(domains, f_domain), assign, f_cols, 1.0)
    b.add_entries(
        rows, np.arange(len(domains)), there, np.arange(len(domains)), most if apart else -most
    )
