"""Workload rules over failure domains (racks, zones, regions, sites).

Groups never span such a domain, so every rule is linear in `assign[w,g]` (replicas of w
on group g) plus a few binaries. With y(w,d) = sum of assign over the groups of domain d:

  spread max      y(w,d) <= k                                       for every domain d
  spread min      present[w,d] <= y(w,d);  sum_d present >= m * on[w];  y(w) <= max * on[w]
  survive         y(w) - y(w,d) >= min(w)                            for every domain d
  gang            y(w) = size * gang[w];  within: y(w,d) <= size * inside[w,d],
                  sum_d inside[w,d] = gang[w]
  affinity        y(w,d) <= max(w) * there[v,d];  there[v,d] <= y(v,d)
  anti-affinity   y(v,d) <= max(v) * there[v,d];  y(w,d) <= max(w) * (1 - there[v,d])

At scope `node`, where groups hold many nodes, the rules are about patterns (the
workload has a shape of its own, so a pattern says how many of its replicas a node runs):
  spread max      patterns hold at most k (`allocator.build.patterns`)
  spread min      sum of pattern[p] over patterns holding w >= m * on[w]
  survive         used[p] >= pattern[p] / size(group);  y(w) + shortfall(w) - n(p,w) used[p]
                  >= min(w)                        for every pattern p holding n(p,w) of w
Affinity, anti-affinity and dedicated tenants at node level shape the patterns themselves.
"""

from __future__ import annotations

import numpy as np

from allocator.build.patterns import PatternPool
from allocator.build.reduce import PackingInstance
from allocator.problem import Block, ProblemBuilder

DOMAIN_SCOPES = ("rack", "zone", "region", "site")


def domain_codes(inst: PackingInstance, scope: str) -> np.ndarray:
    """Domain of every group at a scope, as integer codes."""
    values = getattr(inst.groups, scope).astype(str)
    return np.unique(values, return_inverse=True)[1].ravel()


class _Sums:
    """y(w,d): replicas of one workload per domain, as (row, column) entries on `assign`."""

    def __init__(self, inst: PackingInstance, pair_w: np.ndarray, pair_g: np.ndarray):
        self.inst, self.pair_w, self.pair_g = inst, pair_w, pair_g

    def of(self, w: int, scope: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the workload's pair columns, their domain, the domains that have any)."""
        cols = np.flatnonzero(self.pair_w == w)
        domain = domain_codes(self.inst, scope)[self.pair_g[cols]]
        return cols, domain, np.unique(domain)


def define(
    b: ProblemBuilder,
    inst: PackingInstance,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    patterns: Block,
    pool: PatternPool,
    shortfall: Block,
    short_w: np.ndarray,
) -> None:
    demand = inst.domain.demand
    sums = _Sums(inst, pair_w, pair_g)
    _node_level(b, inst, assign, pair_w, patterns, pool, shortfall, short_w)
    for w in range(len(demand)):
        for scope, most, fewest in demand.spread[w]:
            if scope in DOMAIN_SCOPES and most is not None:
                _spread_max(b, sums, assign, w, scope, most)
            if scope in DOMAIN_SCOPES and fewest is not None:
                _spread_min(b, sums, assign, w, scope, fewest)
        if demand.survive[w] in DOMAIN_SCOPES and demand.min[w] > 0:
            _survive(b, sums, assign, w, demand.survive[w])
        if demand.gang[w]:
            _gang(b, sums, assign, w, demand.gang_within[w])
        for v, scope in demand.affinity[w]:
            if scope in DOMAIN_SCOPES:
                _affinity(b, sums, assign, w, v, scope, apart=False)
        for v, scope in demand.anti_affinity[w]:
            if scope in DOMAIN_SCOPES:
                _affinity(b, sums, assign, w, v, scope, apart=True)


def _node_level(
    b,
    inst: PackingInstance,
    assign: Block,
    pair_w: np.ndarray,
    patterns: Block,
    pool: PatternPool,
    shortfall: Block,
    short_w: np.ndarray,
) -> None:
    demand, shapes = inst.domain.demand, inst.shapes
    count = inst.groups.count
    for w in range(len(demand)):
        s = shapes.of_workload[w]
        holding = np.flatnonzero(pool.counts[:, s] > 0)
        cols = np.flatnonzero(pair_w == w)
        for scope, _, fewest in demand.spread[w]:
            if scope == "node" and fewest is not None:
                on = b.add_columns(
                    _name("runs_on_nodes", w, inst), 1, lo=float(demand.min[w] > 0), hi=1.0
                )
                rows = b.add_rows(
                    _name("spread_min_node", w, inst),
                    2,
                    lo=np.array([0.0, -np.inf]),
                    hi=np.array([np.inf, 0.0]),
                )
                b.add_entries(rows, np.zeros(len(holding)), patterns, holding, 1.0)
                b.add_entries(rows, [0], on, [0], -float(fewest))
                b.add_entries(rows, np.ones(len(cols)), assign, cols, 1.0)
                b.add_entries(rows, [1], on, [0], -float(demand.max[w]))
        if demand.survive[w] == "node" and demand.min[w] > 0 and len(holding):
            used = b.add_columns(_name("pattern_used", w, inst), len(holding), hi=1.0)
            link = b.add_rows(_name("pattern_used_if_run", w, inst), len(holding), hi=0.0)
            b.add_entries(link, np.arange(len(holding)), patterns, holding, 1.0)
            b.add_entries(
                link,
                np.arange(len(holding)),
                used,
                np.arange(len(holding)),
                -count[pool.group[holding]].astype(float),
            )
            rows = b.add_rows(_name("survive_node", w, inst), len(holding), lo=float(demand.min[w]))
            k = np.arange(len(holding))
            b.add_entries(rows, np.repeat(k, len(cols)), assign, np.tile(cols, len(holding)), 1.0)
            b.add_entries(rows, k, used, k, -pool.counts[holding, s].astype(float))
            position = np.flatnonzero(short_w == w)
            if len(position):
                b.add_entries(rows, k, shortfall, np.full(len(k), position[0]), 1.0)


def _name(kind: str, w: int, inst: PackingInstance) -> str:
    return f"{kind}[{inst.domain.demand.ids[w]}]"


def _spread_max(b, sums: _Sums, assign: Block, w: int, scope: str, most: int) -> None:
    cols, domain, domains = sums.of(w, scope)
    rows = b.add_rows(_name(f"spread_max_{scope}", w, sums.inst), len(domains), hi=float(most))
    b.add_entries(rows, np.searchsorted(domains, domain), assign, cols, 1.0)


def _present(b, sums: _Sums, assign: Block, w: int, scope: str, label: str):
    """Binaries present[d] <= y(w,d) for the workload's domains (1 only where it runs)."""
    cols, domain, domains = sums.of(w, scope)
    present = b.add_columns(_name(f"{label}_{scope}", w, sums.inst), len(domains), hi=1.0)
    rows = b.add_rows(_name(f"{label}_only_where_{scope}", w, sums.inst), len(domains), hi=0.0)
    b.add_entries(rows, np.arange(len(domains)), present, np.arange(len(domains)), 1.0)
    b.add_entries(rows, np.searchsorted(domains, domain), assign, cols, -1.0)
    return present, domains


def _spread_min(b, sums: _Sums, assign: Block, w: int, scope: str, fewest: int) -> None:
    demand = sums.inst.domain.demand
    cols, _, _ = sums.of(w, scope)
    present, domains = _present(b, sums, assign, w, scope, "present")
    on = b.add_columns(_name("runs", w, sums.inst), 1, lo=float(demand.min[w] > 0), hi=1.0)
    rows = b.add_rows(_name(f"spread_min_{scope}", w, sums.inst), 1, lo=0.0)
    b.add_entries(rows, np.zeros(len(domains)), present, np.arange(len(domains)), 1.0)
    b.add_entries(rows, [0], on, [0], -float(fewest))
    runs = b.add_rows(_name("runs_if_placed", w, sums.inst), 1, hi=0.0)
    b.add_entries(runs, np.zeros(len(cols)), assign, cols, 1.0)
    b.add_entries(runs, [0], on, [0], -float(demand.max[w]))


def _survive(b, sums: _Sums, assign: Block, w: int, scope: str) -> None:
    demand = sums.inst.domain.demand
    cols, domain, domains = sums.of(w, scope)
    rows = b.add_rows(
        _name(f"survive_{scope}", w, sums.inst), len(domains), lo=float(demand.min[w])
    )
    # For each domain d: every replica outside d counts.
    outside = domain[None, :] != domains[:, None]
    r, k = np.nonzero(outside)
    b.add_entries(rows, r, assign, cols[k], 1.0)


def _gang(b, sums: _Sums, assign: Block, w: int, within: str) -> None:
    demand = sums.inst.domain.demand
    size = float(demand.max[w])
    cols = np.flatnonzero(sums.pair_w == w)
    gang = b.add_columns(_name("gang", w, sums.inst), 1, lo=float(demand.min[w] > 0), hi=1.0)
    rows = b.add_rows(_name("all_or_nothing", w, sums.inst), 1, lo=0.0, hi=0.0)
    b.add_entries(rows, np.zeros(len(cols)), assign, cols, 1.0)
    b.add_entries(rows, [0], gang, [0], -size)
    if within not in DOMAIN_SCOPES:
        return
    cols, domain, domains = sums.of(w, within)
    inside = b.add_columns(_name(f"gang_in_{within}", w, sums.inst), len(domains), hi=1.0)
    one = b.add_rows(_name(f"gang_one_{within}", w, sums.inst), 1, lo=0.0, hi=0.0)
    b.add_entries(one, np.zeros(len(domains)), inside, np.arange(len(domains)), 1.0)
    b.add_entries(one, [0], gang, [0], -1.0)
    only = b.add_rows(_name(f"gang_only_{within}", w, sums.inst), len(domains), hi=0.0)
    b.add_entries(only, np.searchsorted(domains, domain), assign, cols, 1.0)
    b.add_entries(only, np.arange(len(domains)), inside, np.arange(len(domains)), -size)


def _affinity(b, sums: _Sums, assign: Block, w: int, v: int, scope: str, apart: bool) -> None:
    """w runs only in domains where v runs (or, apart, never in one where v runs)."""
    demand = sums.inst.domain.demand
    w_cols, w_domain, w_domains = sums.of(w, scope)
    v_cols, v_domain, v_domains = sums.of(v, scope)
    domains = np.union1d(w_domains, v_domains)
    label = "apart" if apart else "with"
    there = b.add_columns(f"{label}_{scope}[{demand.ids[w]},{demand.ids[v]}]", len(domains), hi=1.0)
    # there[d] = 1 iff v runs in d (tied from both sides).
    at_most = b.add_rows(
        f"{label}_v_runs_{scope}[{demand.ids[w]},{demand.ids[v]}]", len(domains), hi=0.0
    )
    b.add_entries(at_most, np.arange(len(domains)), there, np.arange(len(domains)), 1.0)
    b.add_entries(at_most, np.searchsorted(domains, v_domain), assign, v_cols, -1.0)
    at_least = b.add_rows(
        f"{label}_v_marks_{scope}[{demand.ids[w]},{demand.ids[v]}]", len(domains), hi=0.0
    )
    b.add_entries(at_least, np.searchsorted(domains, v_domain), assign, v_cols, 1.0)
    b.add_entries(
        at_least, np.arange(len(domains)), there, np.arange(len(domains)), -float(demand.max[v])
    )
    rows = b.add_rows(
        f"{label}_{scope}[{demand.ids[w]},{demand.ids[v]}]",
        len(domains),
        hi=float(demand.max[w]) if apart else 0.0,
    )
    b.add_entries(rows, np.searchsorted(domains, w_domain), assign, w_cols, 1.0)
    b.add_entries(
        rows,
        np.arange(len(domains)),
        there,
        np.arange(len(domains)),
        float(demand.max[w]) if apart else -float(demand.max[w]),
    )
