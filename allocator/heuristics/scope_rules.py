"""Workload rules over racks, zones, regions and sites, for the greedy placers.

The greedy placers ask, node by node, how many more replicas the rules allow there
(spread caps, affinity, anti-affinity, a gang's one domain) and which nodes to try
first (domains that hold fewest of the workload, for spread minimums and surviving a
loss). What greed still gets wrong, `repair` removes, so a greedy plan never breaks a
rule: it falls short instead, and says so.
"""

from __future__ import annotations

import numpy as np

from allocator.model.reduce import PackingInstance

SCOPES = ("rack", "fabric", "zone", "region", "site")
_MANY = 2**40


class DomainRules:
    """Replicas of every workload per domain of every scope a rule uses."""

    def __init__(self, inst: PackingInstance):
        self.inst = inst
        demand, fleet = inst.domain.demand, inst.domain.fleet
        families = demand.families
        self.first = families.first_row
        used = set()
        for w in self.first:
            used |= {s for s, _, _ in demand.spread[w]} | {demand.survive[w], demand.gang_within[w]}
            used |= {s for _, s in (*demand.affinity[w], *demand.anti_affinity[w])}
        self.scopes = [s for s in SCOPES if s in used]
        self.code = {}  # scope -> domain code of every node
        self.count = {}  # scope -> (families x domains) replicas placed
        for scope in self.scopes:
            codes = np.unique(getattr(fleet, scope).astype(str), return_inverse=True)[1].ravel()
            self.code[scope] = codes
            self.count[scope] = np.zeros((len(families), codes.max(initial=0) + 1), np.int64)
        # Who must stay away from whom, in both directions.
        self.apart: dict[int, list[tuple[int, str]]] = {f: [] for f in range(len(families))}
        for f, w in enumerate(self.first):
            for v, scope in demand.anti_affinity[w]:
                if scope in SCOPES:
                    self.apart[f].append((v, scope))
                    self.apart[v].append((f, scope))
        self.active = bool(self.scopes)

    def family(self, w: int) -> int:
        return int(self.inst.domain.demand.family[w])

    def room(self, w: int, nodes: np.ndarray) -> np.ndarray:
        """Most replicas of row w the domain rules allow on each node, now."""
        room = np.full(len(nodes), _MANY, dtype=np.int64)
        if not self.active:
            return room
        demand = self.inst.domain.demand
        f, first = self.family(w), self.first[self.family(w)]
        for scope, most, _ in demand.spread[first]:
            if scope in self.count and most is not None:
                here = self.count[scope][f, self.code[scope][nodes]]
                room = np.minimum(room, np.maximum(most - here, 0))
        for v, scope in self.apart[f]:
            room[self.count[scope][v, self.code[scope][nodes]] > 0] = 0
        for v, scope in demand.affinity[first]:
            if scope in self.count:
                room[self.count[scope][v, self.code[scope][nodes]] == 0] = 0
        within = demand.gang_within[first]
        if within in self.count and self.count[within][f].any():
            room[self.count[within][f, self.code[within][nodes]] == 0] = 0
        return room

    def spreads(self, w: int) -> str | None:
        """The scope to spread row w's workload over, one replica at a time (a spread
        rule, or surviving a loss)."""
        demand = self.inst.domain.demand
        first = self.first[self.family(w)]
        for scope, _, _ in demand.spread[first]:
            if scope in self.count:
                return scope
        return demand.survive[first] if demand.survive[first] in self.count else None

    def crowding(self, w: int, nodes: np.ndarray, scope: str) -> np.ndarray:
        """Replicas of w's workload already in each node's domain (fewer is better)."""
        return self.count[scope][self.family(w), self.code[scope][nodes]]

    def take(self, w: int, nodes: np.ndarray, counts: np.ndarray) -> None:
        f = self.family(w)
        for scope in self.scopes:
            np.add.at(self.count[scope][f], self.code[scope][nodes], counts)


def repair(inst: PackingInstance, records: list[tuple[int, int, list[int]]]) -> list:
    """Drop replicas until every domain rule holds: extras over a spread cap, replicas
    where an affinity partner is absent or an anti-affinity one present, gangs that are
    incomplete or span domains, and workloads short of their minimum number of domains."""
    demand, fleet = inst.domain.demand, inst.domain.fleet
    families = demand.families
    first = families.first_row
    keep = [True] * len(records)
    for _ in range(len(families) + 1):
        changed = False

        def domains_of(f: int, scope: str) -> dict:
            where = getattr(fleet, scope) if scope != "node" else fleet.ids
            out: dict = {}
            for k, (w, n, _) in enumerate(records):
                if keep[k] and demand.family[w] == f:
                    out.setdefault(where[n], []).append(k)
            return out

        def drop(ks: list[int]) -> None:
            nonlocal changed
            for k in ks:
                if keep[k]:
                    keep[k] = False
                    changed = True

        for f, w in enumerate(first):
            for scope, most, fewest in demand.spread[w]:
                per = domains_of(f, scope)
                if most is not None:
                    for ks in per.values():
                        drop(ks[most:])
                if fewest is not None and 0 < len(per) < fewest:
                    drop([k for ks in per.values() for k in ks])
            for relations, apart in ((demand.affinity[w], False), (demand.anti_affinity[w], True)):
                for v, scope in relations:
                    theirs = set(domains_of(v, scope))
                    for d, ks in domains_of(f, scope).items():
                        if (d in theirs) == apart:
                            drop(ks)
            if demand.gang[w]:
                per = domains_of(f, demand.gang_within[w] or "node")
                placed = sum(len(ks) for ks in per.values())
                split = demand.gang_within[w] and len(per) > 1
                if placed and (placed < families.max[f] or split):
                    drop([k for ks in per.values() for k in ks])
        if not changed:
            break
    return [r for r, kept in zip(records, keep, strict=True) if kept]
