"""Arrange a placement planned without the rules that count replicas per place (per
rack, say) so that it keeps them.

Nodes alike in everything the plan weighed but their place can trade what they run, and
replicas of one shape on such nodes can trade slots: neither changes any node's load, nor
(but in step 0) how many replicas of each workload run on each kind of node, so every
cost and every other rule stays as it was. Four steps, each over arrays of nodes or places:

0. A gang bound to one place whose replicas run on nodes of several kinds gathers on the
   kind that runs most of them: each replica elsewhere trades slots with a replica of
   the same shape there, of a workload with no rules and no throughput target that may
   run on both kinds. That moves one replica of that workload to another kind, at no
   cost (no node's load changes).
1. Gangs bound to one place: the nodes that run a gang's replicas (joined where two such
   gangs share a node) form a bundle, and bundles go, the largest first, to the place
   with the fewest free nodes of each kind that still holds them.
2. The other nodes of each kind are dealt out over the free nodes place by place, alike
   contents to different places, so that every place holds a mix of node patterns and
   so of slots of every shape.
3. Replicas of spread workloads take the slots of their shape, round by round one in
   each place under the rule's cap, the places with most free slots first; the other
   replicas of that shape take the slots left.

What still breaks a rule after that is left to the caller (`counts.repair` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from allocator.domain.grouping import by_family, rank_among_equal
from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE
from allocator.domain.tables import Domain


@dataclass(frozen=True, eq=False)
class Alike:
    """What may trade: the kind of each node (nodes of a kind are alike but for their
    place), the shape of each demand row, and the scopes whose rules were left out."""

    kind_of_node: np.ndarray
    shape_of_row: np.ndarray
    scopes: tuple[int, ...]
    compat: np.ndarray  # (demand rows x kinds) where each row may run


def arrange(domain: Domain, placement: Replicas, alike: Alike) -> Replicas:
    """`placement` with nodes and slots traded among alike ones so that gangs sit in one
    place and spread workloads keep their caps per place, as far as steps 0 to 3 get."""
    bundled = _bundled(domain, placement, alike)  # by replica; no step changes it
    gathered = _gather_gangs(domain, placement, alike, bundled)
    moved = _place_nodes(domain, gathered, alike, bundled)
    return _assign_slots(domain, moved, alike, bundled)


def _bundled(domain: Domain, placement: Replicas, alike: Alike) -> np.ndarray:
    """Per replica: whether it belongs to a gang bound to a place of a left-out scope."""
    gang = domain.rules.gang
    family = domain.demand.family[placement.workload]
    return gang.member[family] & np.isin(gang.within[family], alike.scopes)


def _gather_gangs(
    domain: Domain, placement: Replicas, alike: Alike, bundled: np.ndarray
) -> Replicas:
    """Step 0: each gang bound to a place onto one kind of node, where replicas free to
    move trade slots with it."""
    rules = domain.rules
    if not bundled.any() or not rules.shares.empty:
        return placement
    family = domain.demand.family[placement.workload]
    kind = alike.kind_of_node[placement.node]
    spans = np.unique(np.stack([family[bundled], kind[bundled]], axis=1), axis=0)[:, 0]
    split = np.unique(spans[np.flatnonzero(np.diff(spans) == 0)])  # on more than one kind
    if not len(split):
        return placement
    ruled = np.zeros(len(domain.demand.families), dtype=bool)
    ruled[rules.spread.f] = ruled[rules.relations.f] = ruled[rules.relations.other] = True
    ruled |= rules.gang.member | (rules.survive != NO_SCOPE) | domain.demand.families.by_target
    free = ~ruled[family]
    shape = alike.shape_of_row[placement.workload]
    slot = np.arange(len(placement))
    for f in split.tolist():
        mine = np.flatnonzero(family == f)
        kinds, counts = np.unique(kind[mine], return_counts=True)
        home = kinds[np.argmax(counts)]
        for r in mine[kind[mine] != home].tolist():
            there = alike.compat[placement.workload, kind[r]]
            swap = np.flatnonzero(free & there & (kind == home) & (shape == shape[r]))
            if len(swap):  # else the gang stays split, for the caller to place again
                q = int(swap[0])
                slot[r], slot[q] = q, r
                free[q] = False
    return replace(placement.take(slot), workload=placement.workload)


def _place_nodes(
    domain: Domain, placement: Replicas, alike: Alike, bundled: np.ndarray
) -> Replicas:
    """Steps 1 and 2: a bijection of nodes within each kind, applied to `placement`."""
    n_nodes, kind = len(domain.fleet), alike.kind_of_node
    target = np.full(n_nodes, -1, dtype=np.int64)  # where each node's contents go
    unheld = _FreeNodes(domain, kind)  # nodes no bundle holds
    if bundled.any():
        family = domain.demand.family[placement.workload[bundled]]
        nodes = placement.node[bundled]
        # nodes and gangs as one graph: a bundle is a connected part holding a node
        gangs, gang_of = np.unique(family, return_inverse=True)
        graph = sp.coo_array(
            (np.ones(len(nodes)), (nodes, n_nodes + gang_of.ravel())),
            shape=(n_nodes + len(gangs),) * 2,
        )
        _, part = connected_components(graph, directed=False)
        held = np.unique(nodes)
        scope_of_part = np.full(part.max() + 1, NO_SCOPE, dtype=np.int64)
        scope_of_part[part[n_nodes + gang_of.ravel()]] = domain.rules.gang.within[family]
        held = held[np.argsort(part[held], kind="stable")]
        parts, first, size = np.unique(part[held], return_index=True, return_counts=True)
        for b in np.argsort(-size, kind="stable").tolist():
            members = held[first[b] : first[b] + size[b]]
            spot = unheld.bundle(members, int(scope_of_part[parts[b]]))
            if spot is not None:
                target[members] = spot
    # Step 2: the rest of each kind, alike contents dealt to different places.
    finest = max(alike.scopes, key=lambda s: len(domain.scopes.names(s)))
    place = domain.scopes.code(finest)
    pattern = _pattern_keys(placement, n_nodes, alike)
    rest = np.flatnonzero(target < 0)
    spots = np.flatnonzero(unheld.free)
    rest = rest[np.lexsort((pattern[rest], kind[rest]))]
    rank = rank_among_equal(kind[spots] * (place.max() + 1) + place[spots])
    spots = spots[np.lexsort((place[spots], rank, kind[spots]))]
    target[rest] = spots  # both hold each kind's count of nodes, kinds in the same order
    return replace(placement, node=target[placement.node])


class _FreeNodes:
    """Nodes no bundle holds yet, of each kind by place of a scope (indexed once per
    kind and scope), taken from the front of each place."""

    def __init__(self, domain: Domain, kind: np.ndarray):
        self.domain, self.kind = domain, kind
        self.free = np.ones(len(kind), dtype=bool)
        self._index: dict[tuple[int, int], _ByPlace] = {}

    def _of(self, k: int, scope: int) -> _ByPlace:
        if (k, scope) not in self._index:
            nodes = np.flatnonzero(self.kind == k)
            self._index[k, scope] = _ByPlace(nodes, self.domain.scopes, scope)
        index = self._index[k, scope]
        index.skip(self.free)
        return index

    def bundle(self, members: np.ndarray, scope: int) -> np.ndarray | None:
        """Free nodes for `members` in one place of `scope`, as many of each kind: of the
        places that have them, the one with the fewest free nodes of those kinds (best
        fit). None where no place has them."""
        kinds, need = np.unique(self.kind[members], return_counts=True)
        indexes = [self._of(k, scope) for k in kinds.tolist()]
        have = np.stack([index.room() for index in indexes])
        fits = np.flatnonzero((have >= need[:, None]).all(axis=0))
        if not len(fits):
            return None
        best = int(fits[np.argmin(have[:, fits].sum(axis=0))])
        chosen = [index.take(best, m) for index, m in zip(indexes, need.tolist(), strict=True)]
        # the members, in node order within each kind, onto the chosen nodes of that kind
        order = np.argsort(self.kind[members], kind="stable")
        spot = np.empty(len(members), dtype=np.int64)
        spot[order] = np.concatenate(chosen)
        self.free[spot] = False
        return spot


class _ByPlace:
    """Some items (nodes, or replicas standing for their slots) sorted by the place of
    their node at one scope, with a cursor per place past the items given out."""

    def __init__(self, items: np.ndarray, scopes, scope: int, node: np.ndarray | None = None):
        code = scopes.code(scope)[items if node is None else node[items]]
        order = np.argsort(code, kind="stable")
        self.items = items[order]
        self.ptr = by_family(code[order], len(scopes.names(scope)))
        self.cursor = self.ptr[:-1].copy()

    def skip(self, free: np.ndarray) -> None:
        """Move each place's cursor past items given out through another index."""
        while True:
            live = np.flatnonzero(self.cursor < self.ptr[1:])
            stale = live[~free[self.items[self.cursor[live]]]]
            if not len(stale):
                return
            self.cursor[stale] += 1

    def room(self) -> np.ndarray:
        return self.ptr[1:] - self.cursor

    def take(self, place: int, count: int) -> np.ndarray:
        taken = self.items[self.cursor[place] : self.cursor[place] + count]
        self.cursor[place] += count
        return taken


def _pattern_keys(placement: Replicas, n_nodes: int, alike: Alike) -> np.ndarray:
    """A key per node equal for nodes that run the same shapes (a hash of the multiset)."""
    salt = np.random.default_rng(0).integers(1, 2**62, size=alike.shape_of_row.max() + 1)
    key = np.zeros(n_nodes, dtype=np.uint64)
    np.add.at(key, placement.node, salt[alike.shape_of_row[placement.workload]].astype(np.uint64))
    return key


def _assign_slots(domain: Domain, placement: Replicas, alike: Alike, fixed: np.ndarray) -> Replicas:
    """Step 3: per kind of node and shape, spread workloads' replicas take slots first,
    under each place's cap; the others take the slots left. `fixed` replicas (bundled
    gangs) keep theirs."""
    spread = domain.rules.spread
    relaxed = np.flatnonzero(np.isin(spread.scope, alike.scopes))
    family = domain.demand.family[placement.workload]
    capped = np.flatnonzero(np.isin(family, spread.f[relaxed]) & ~fixed)
    if not len(capped):
        return placement
    kind = alike.kind_of_node[placement.node]
    shape = alike.shape_of_row[placement.workload]
    _, pool_of = np.unique(np.stack([kind, shape], axis=1), axis=0, return_inverse=True)
    pool_of = pool_of.ravel()
    trading = np.isin(pool_of, pool_of[capped]) & ~fixed  # pools holding a capped replica
    slots = _Slots(placement.node, trading, pool_of, domain.scopes)
    slot = np.arange(len(placement))  # the slot (a replica's node and GPUs) each one takes
    taken = np.zeros(len(placement), dtype=bool)
    # One rule per family leads: a cap if it has one, counted at its scope.
    rules = relaxed[np.lexsort((spread.most[relaxed] < 0, spread.f[relaxed]))]
    lead = dict(zip(spread.f[rules][::-1].tolist(), rules[::-1].tolist(), strict=True))
    capped = capped[np.lexsort((pool_of[capped], family[capped]))]
    families, first, size = np.unique(family[capped], return_index=True, return_counts=True)
    for k in np.argsort(-size, kind="stable").tolist():  # the most replicas first
        r = lead[int(families[k])]
        scope = int(spread.scope[r])
        cap = int(spread.most[r]) if spread.most[r] >= 0 else len(placement)
        count = np.zeros(len(domain.scopes.names(scope)), dtype=np.int64)
        mine = capped[first[k] : first[k] + size[k]]
        pools, at, many = np.unique(pool_of[mine], return_index=True, return_counts=True)
        for pool, a, m in zip(pools.tolist(), at.tolist(), many.tolist(), strict=True):
            who = mine[a : a + m]
            got = slots.take(pool, scope, m, count, cap)
            slot[who[: len(got)]] = got
            taken[who[: len(got)]] = True
    # the rest of each trading pool, capped replicas that found no slot included, take
    # the slots left
    waiting = np.flatnonzero(trading & ~taken)
    waiting = waiting[np.argsort(pool_of[waiting], kind="stable")]
    pools, at, many = np.unique(pool_of[waiting], return_index=True, return_counts=True)
    for pool, a, m in zip(pools.tolist(), at.tolist(), many.tolist(), strict=True):
        slot[waiting[a : a + m]] = slots.left(pool)
    arranged = placement.take(slot)
    return replace(arranged, workload=placement.workload)


class _Slots:
    """Free slots of each trading pool (a replica stands for its own node and GPUs), by
    place of each scope asked for."""

    def __init__(self, node: np.ndarray, trading: np.ndarray, pool_of: np.ndarray, scopes):
        self.node, self.scopes = node, scopes
        self.free = trading.copy()
        members = np.flatnonzero(trading)
        members = members[np.argsort(pool_of[members], kind="stable")]
        pools, at, many = np.unique(pool_of[members], return_index=True, return_counts=True)
        self._members = {
            p: members[a : a + m]
            for p, a, m in zip(pools.tolist(), at.tolist(), many.tolist(), strict=True)
        }
        self._index: dict[tuple[int, int], _ByPlace] = {}

    def take(self, pool: int, scope: int, wanted: int, count: np.ndarray, cap: int) -> np.ndarray:
        """Up to `wanted` free slots of `pool`, round by round one per place whose
        `count` is under `cap`, the places with most free slots first; `count` is kept."""
        if (pool, scope) not in self._index:
            self._index[pool, scope] = _ByPlace(self._members[pool], self.scopes, scope, self.node)
        index = self._index[pool, scope]
        got: list[np.ndarray] = []
        while wanted > 0:
            index.skip(self.free)
            room = index.room()
            open_ = np.flatnonzero((room > 0) & (count < cap))
            if not len(open_):
                break
            chosen = open_[np.argsort(-room[open_], kind="stable")][:wanted]
            picked = index.items[index.cursor[chosen]]
            index.cursor[chosen] += 1
            count[chosen] += 1
            self.free[picked] = False
            got.append(picked)
            wanted -= len(chosen)
        return np.concatenate(got) if got else np.zeros(0, dtype=np.int64)

    def left(self, pool: int) -> np.ndarray:
        """The pool's free slots, all given out."""
        members = self._members[pool]
        members = members[self.free[members]]
        self.free[members] = False
        return members
