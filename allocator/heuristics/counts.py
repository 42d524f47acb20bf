"""Replicas of every workload per place, as a greedy placement grows, and what the rule
families (`allocator.rules`) make of them: how many more replicas each node may take,
where to spread, and which replicas of a finished placement break a rule."""

from __future__ import annotations

import numpy as np

from allocator.domain.scopes import NODE
from allocator.domain.tables import Domain
from allocator.rules import FAMILIES, scopes_counted
from allocator.rules.base import Placed
from allocator.rules.shares import Held


class PlaceCounts:
    """Replicas per (workload, place) at every scope some rule counts at. At scope node
    only the workloads with a rule there are counted (one array per such workload)."""

    many = 2**40  # room that limits nothing

    def __init__(self, domain: Domain):
        self.domain = domain
        families = domain.demand.families
        self.scopes = sorted(scopes_counted(domain))
        self.shares = Held.of(domain)  # GPUs held per capped tenant or workload and type
        self.active = bool(self.scopes) or self.shares is not None
        self._places = {
            s: np.zeros((len(families), len(domain.scopes.names(s))), dtype=np.int64)
            for s in self.scopes
            if s != NODE
        }
        self._on_nodes: dict[int, np.ndarray] = {}
        if NODE in self.scopes:
            t = domain.rules
            at_node = {
                *t.spread.f[t.spread.scope == NODE].tolist(),
                *np.flatnonzero(t.survive == NODE).tolist(),
                *np.flatnonzero(t.gang.member & (t.gang.within == NODE)).tolist(),
            }
            self._on_nodes = {f: np.zeros(len(domain.fleet), dtype=np.int64) for f in at_node}
        self._placed = np.zeros(len(families), dtype=np.int64)
        self._spreads: dict[int, int | None] = {}

    def at(self, scope: int, f: int, nodes: np.ndarray) -> np.ndarray:
        """Replicas of workload f already in the place (at `scope`) of each node."""
        if scope == NODE:
            counted = self._on_nodes.get(f)
            return np.zeros(len(nodes), dtype=np.int64) if counted is None else counted[nodes]
        return self._places[scope][f, self.domain.scopes.code(scope)[nodes]]

    def placed(self, f: int) -> int:
        return int(self._placed[f])

    def take(self, f: int, nodes: np.ndarray, counts: np.ndarray) -> None:
        self._placed[f] += int(np.sum(counts))
        for scope, table in self._places.items():
            np.add.at(table[f], self.domain.scopes.code(scope)[nodes], counts)
        if f in self._on_nodes:
            np.add.at(self._on_nodes[f], nodes, counts)
        if self.shares is not None:
            self.shares.take(f, nodes, counts)

    def room(self, f: int, nodes: np.ndarray) -> np.ndarray:
        """Most replicas of workload f each node may still take by the rules."""
        room = np.full(len(nodes), self.many, dtype=np.int64)
        if not self.active:
            return room
        for family in FAMILIES:
            if family.room is not None:
                limit = family.room(self, f, nodes)
                if limit is not None:
                    room = np.minimum(room, limit)
        return room

    def spreads(self, f: int) -> int | None:
        """The scope to spread workload f over (each replica to a place holding fewest), if
        any."""
        if f not in self._spreads:
            self._spreads[f] = self._spread_scope(f)
        return self._spreads[f]

    def _spread_scope(self, f: int) -> int | None:
        for family in FAMILIES:
            if family.spreads is not None:
                scope = family.spreads(self.domain, f)
                if scope is not None and scope in self._places:
                    return scope
        return None


def repair(domain: Domain, row: np.ndarray, node: np.ndarray) -> np.ndarray:
    """Which replicas to keep so that every rule holds: drop what a family says breaks
    its rule (extras over a spread cap, replicas where an affinity partner is absent,
    incomplete or split gangs...), and again, until nothing more goes."""
    keep = np.ones(len(row), dtype=bool)
    for _ in range(len(domain.demand.families) + 1):
        kept = np.flatnonzero(keep)
        placed = Placed(row[kept], node[kept])
        drop = np.zeros(len(kept), dtype=bool)
        for family in FAMILIES:
            if family.repair is not None:
                drop |= family.repair(domain, placed)
        if not drop.any():
            break
        keep[kept[drop]] = False
    return keep
