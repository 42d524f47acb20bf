"""Fast greedy placements: baselines, warm starts, and the fallback when no MIP solver runs.

Both rules place required replicas before optional ones, higher priority first and
larger replicas first within a priority, filling nodes that are already in use before
switching on new ones.
  first_fit  new nodes in order of cost per replica they can hold
  best_fit   the node left tightest after the replica, then cost
Replicas that take whole GPUs (or none) are placed a workload at a time, one vectorized
step over all nodes; replicas that share a GPU are placed one at a time, vectorized over
every GPU of every node, each on the fullest GPU that still has room.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE
from allocator.domain.units import MILLI, node_capacity, replica_demand
from allocator.heuristics.budgets import Budgets
from allocator.heuristics.counts import PlaceCounts, repair
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.io.interrupt import INTERRUPT
from allocator.model.reduce import FRACTION, MIG, PackingInstance

RULES = ("first_fit", "best_fit")
_MANY = 2**40
FREE, WHOLE_GPU, SHARED, MIG_MODE = 0, 1, 2, 3


class NodeRules:
    """What the rules about single nodes, said of shapes (`Shapes`), still allow on each
    node: a most per node, shapes kept apart or together, dedicated tenants alone."""

    def __init__(self, inst: PackingInstance):
        self.inst = inst
        shapes = inst.shapes
        cap = shapes.per_node_max[shapes.of_workload].copy()
        self.cap = cap
        self.active = bool(
            (cap < _MANY).any()
            or len(shapes.apart)
            or len(shapes.together)
            or (shapes.tenant != "").any()
        )
        n_nodes = len(inst.domain.fleet)
        self.count = np.zeros((n_nodes, len(shapes)), dtype=np.int64) if self.active else None
        self.tenant = np.full(n_nodes, "", dtype=object)  # "" empty, "-" shared tenants

    def room(self, w: int, nodes: np.ndarray) -> np.ndarray:
        if not self.active:
            return np.full(len(nodes), _MANY, dtype=np.int64)
        shapes = self.inst.shapes
        s = shapes.of_workload[w]
        room = np.maximum(self.cap[w] - self.count[nodes, s], 0)
        for s1, s2 in shapes.apart:
            if s == s1:
                room[self.count[nodes, s2] > 0] = 0
            elif s == s2:
                room[self.count[nodes, s1] > 0] = 0
        for needer, needed in shapes.together:
            if s == needer:
                room[self.count[nodes, needed] == 0] = 0
        mine = shapes.tenant[s] or "-"
        room[(self.tenant[nodes] != "") & (self.tenant[nodes] != mine)] = 0
        return room

    def take(self, w: int, nodes: np.ndarray, counts: np.ndarray) -> None:
        if not self.active:
            return
        s = self.inst.shapes.of_workload[w]
        self.count[nodes, s] += counts
        self.tenant[nodes] = self.inst.shapes.tenant[s] or "-"


class FleetState:
    """Free capacity of every node and of every GPU on it."""

    def __init__(self, inst: PackingInstance):
        fleet = inst.domain.fleet
        self.inst = inst
        # Node resources other than whole GPUs (CPU, RAM, NVMe, NIC), and what replicas need.
        self.capacity = node_capacity(fleet)[:, 1:]
        self.free = self.capacity.copy()
        self.need = replica_demand(inst.domain.demand)[:, 1:]
        self.free[fleet.state == "down"] = 0
        width = int(fleet.gpus.max(initial=0))
        present = np.arange(width)[None, :] < fleet.gpus[:, None]
        self.mode = np.where(present, FREE, -1).astype(np.int8)
        self.milli = np.where(present, MILLI, 0).astype(np.int64)
        self.memory = np.where(present, fleet.gpu_memory_mib[:, None], 0).astype(np.int64)
        self.mig_compute = np.where(present & fleet.mig[:, None], MIG_COMPUTE_SLICES, 0)
        self.mig_memory = np.where(present & fleet.mig[:, None], MIG_MEMORY_SLICES, 0)
        self.in_use = np.zeros(len(fleet), dtype=bool)
        self.records: list[tuple[int, int, list[int]]] = []
        self.budgets = Budgets(inst.domain)
        self.rules = NodeRules(inst)
        self.places = PlaceCounts(inst.domain)
        self.family = inst.domain.demand.family

    def free_gpus(self) -> np.ndarray:
        return (self.mode == FREE).sum(axis=1)

    def take_whole(self, w: int, nodes: np.ndarray, counts: np.ndarray, gpus: int) -> None:
        self.free[nodes] -= counts[:, None] * self.need[w][None, :]
        self.in_use[nodes] = True
        self.rules.take(w, nodes, counts)
        self.places.take(int(self.family[w]), nodes, counts)
        for n, k in zip(nodes.tolist(), counts.tolist(), strict=True):
            self.budgets.take(w, n, k)
            free = np.flatnonzero(self.mode[n] == FREE)
            for r in range(k):
                taken = free[r * gpus : (r + 1) * gpus]
                self.mode[n, taken] = WHOLE_GPU
                self.records.append((w, n, taken.tolist()))

    def take_shared(self, w: int, n: int, gpu: int, kind: int, demand: tuple[int, int]) -> None:
        self.free[n] -= self.need[w]
        self.in_use[n] = True
        self.budgets.take(w, n, 1)
        self.rules.take(w, np.array([n]), np.array([1]))
        self.places.take(int(self.family[w]), np.array([n]), np.array([1]))
        if kind == FRACTION:
            self.mode[n, gpu] = SHARED
            self.milli[n, gpu] -= demand[0]
            self.memory[n, gpu] -= demand[1]
        else:
            self.mode[n, gpu] = MIG_MODE
            self.mig_compute[n, gpu] -= demand[0]
            self.mig_memory[n, gpu] -= demand[1]
        self.records.append((w, n, [gpu]))

    def replicas(self) -> Replicas:
        """The placement so far, less what breaks a rule (`counts.repair`)."""
        domain = self.inst.domain
        fleet, demand = domain.fleet, domain.demand
        if not self.records:
            return Replicas.empty(len(fleet), len(demand))
        w, n, g = zip(*self.records, strict=True)
        keep = repair(domain, np.array(w), np.array(n))
        placement = Replicas.build(
            np.array(w)[keep],
            np.array(n)[keep],
            [gpus for gpus, kept in zip(g, keep, strict=True) if kept],
            len(fleet),
            len(demand),
        ).sorted()
        choice = np.where(placement.placed() > 0, self.budgets.choice, -1)
        return replace(placement, dataset_on=choice)

    def placed_of(self, f: int) -> int:
        family = self.inst.domain.demand.family
        return sum(1 for w, _, _ in self.records if family[w] == f)


def greedy_placement(inst: PackingInstance, rule: str = "first_fit") -> Replicas:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    state = FleetState(inst)
    families = inst.domain.demand.families
    _pin(state)
    _keep_current(state, rule)
    have = np.bincount(
        inst.domain.demand.family[[w for w, _, _ in state.records]], minlength=len(families)
    )
    for f, amount in _sequence(inst, have):
        if INTERRUPT.is_set():  # asked to stop: what is placed so far
            break
        if families.by_target[f]:
            _meet_target(state, f, rule)
            continue
        for w in _row_order(inst, f):
            if amount <= 0:
                break
            amount -= _place_row(state, w, amount, rule)
    return state.replicas()


def _place_row(state: FleetState, w: int, amount: int, rule: str) -> int:
    """Up to `amount` replicas of row w; how many found room."""
    before = len(state.records)
    inst = state.inst
    if inst.shapes.kind[inst.shapes.of_workload[w]] in (FRACTION, MIG):
        for _ in range(amount):
            if not _place_shared(state, w, rule):
                break
    else:
        _place_whole(state, w, amount, rule)
    return len(state.records) - before


def _row_order(inst: PackingInstance, f: int) -> np.ndarray:
    """A workload's ways to run, the smallest replica first (variants trade size)."""
    d = inst.domain.demand
    rows = d.families.rows(f)
    return rows[np.lexsort((rows, d.ram_mib[rows], d.cpu_m[rows], d.gpu_equivalents[rows]))]


def _meet_target(state: FleetState, f: int, rule: str) -> None:
    """Replicas of a workload with a throughput target until it is met (and still met
    after the worst loss it must survive), each the cheapest throughput on offer: a
    node already on first, then the least cost per unit of throughput."""
    inst = state.inst
    domain = inst.domain
    families = domain.demand.families
    target = families.target[f]
    scope = int(domain.rules.survive[f])
    for _ in range(int(families.max[f])):
        mine = [(w, n) for w, n, _ in state.records if domain.demand.family[w] == f]
        if len(mine) >= families.max[f]:
            return
        rates = np.array([_rate(inst, w, n) for w, n in mine])
        achieved, worst = rates.sum(), None
        if scope != NO_SCOPE and mine:
            place = domain.scopes.code(scope)[[n for _, n in mine]]
            per = np.bincount(place, weights=rates)
            worst = int(per.argmax())
            if achieved - per.max() >= target - 1e-9:
                return
        elif achieved >= target - 1e-9:
            return
        short = target - achieved if worst is None or achieved < target else target
        if not _take_cheapest_throughput(state, f, short, scope, worst, rule):
            return


def _rate(inst: PackingInstance, w: int, n: int) -> float:
    t = inst.domain.fleet.gpu_type[n]
    return float(inst.domain.demand.rate[w, t]) if t >= 0 else 0.0


def _take_cheapest_throughput(
    state: FleetState, f: int, short: float, scope: int, avoid: int | None, rule: str
) -> bool:
    """One step towards a target: the replica (or, with no loss to survive, as many as
    the shortfall needs) on the node that gives throughput cheapest, away from `avoid`,
    the place at `scope` whose loss would hurt most."""
    inst = state.inst
    demand, fleet = inst.domain.demand, inst.domain.fleet
    best = None
    for w in demand.families.rows(f):
        nodes = _candidates(state, w)
        if avoid is not None:
            nodes = nodes[inst.domain.scopes.code(scope)[nodes] != avoid]
        rate = np.array([_rate(inst, w, n) for n in nodes])
        nodes, rate = nodes[rate > 0], rate[rate > 0]
        if inst.shapes.kind[inst.shapes.of_workload[w]] in (FRACTION, MIG):
            fit = np.ones(len(nodes), dtype=np.int64)  # checked when taking
        else:
            nodes, fit = _whole_room(state, w, nodes)
            rate = np.array([_rate(inst, w, n) for n in nodes])
        if len(nodes) == 0:
            continue
        opens = np.where(state.in_use[nodes], 0.0, fleet.cost[nodes])
        reach = np.minimum(fit * rate, short)
        score = opens / np.maximum(reach, 1e-12) - 1e-9 * reach
        k = int(np.argmin(score))
        if best is None or score[k] < best[0]:
            best = (score[k], w, nodes, rate[k], k)
    if best is None:
        return False
    _, w, nodes, rate, k = best
    count = 1 if scope != NO_SCOPE else max(1, math.ceil(short / rate))
    return _place_row_on(state, w, nodes[k : k + 1], count, rule) > 0


def _place_row_on(state: FleetState, w: int, nodes: np.ndarray, amount: int, rule: str) -> int:
    before = len(state.records)
    inst = state.inst
    if inst.shapes.kind[inst.shapes.of_workload[w]] in (FRACTION, MIG):
        for _ in range(amount):
            if not _place_shared(state, w, rule, nodes=nodes):
                break
    else:
        _place_whole(state, w, amount, rule, nodes=nodes)
    return len(state.records) - before


def choose_storage(inst: PackingInstance, placement: Replicas) -> np.ndarray:
    """A storage system per workload with placed replicas and a dataset: the cheapest
    eligible one with room and read throughput left, else the roomiest (which the
    model may then reject)."""
    demand, systems = inst.domain.demand, inst.domain.storage
    choice = np.full(len(demand), -1, dtype=np.int64)
    if systems is None or len(systems) == 0:
        return choice
    placed = placement.placed()
    space = systems.capacity_tb.astype(float).copy()
    reads = systems.read_mbps.astype(float).copy()
    order = np.argsort(-demand.read_mbps * placed, kind="stable")
    for w in order[(demand.dataset_tier[order] >= 0) & (placed[order] > 0)]:
        need = demand.read_mbps[w] * placed[w]
        eligible = np.flatnonzero(
            (systems.tier >= demand.dataset_tier[w]) & (space >= demand.dataset_tb[w])
        )
        if len(eligible) == 0:
            continue
        roomy = eligible[reads[eligible] >= need]
        pick = (
            roomy[np.argmin(systems.cost_per_tb_hour[roomy])]
            if len(roomy)
            else eligible[np.argmax(reads[eligible])]
        )
        choice[w] = pick
        space[pick] -= demand.dataset_tb[w]
        reads[pick] -= need
    return choice


def pinned_only(inst: PackingInstance) -> Replicas:
    """The placement with nothing but the replicas that must stay where they are."""
    state = FleetState(inst)
    _pin(state)
    return state.replicas()


def _pin(state: FleetState) -> None:
    """Replicas on draining nodes stay there."""
    inst = state.inst
    for w, g in zip(*np.nonzero(inst.pinned), strict=True):
        node = inst.groups.members(g)[:1]
        if inst.shapes.kind[inst.shapes.of_workload[w]] in (FRACTION, MIG):
            for _ in range(int(inst.pinned[w, g])):
                _place_shared(state, int(w), "first_fit", nodes=node)
        else:
            state.take_whole(
                int(w), node, np.array([inst.pinned[w, g]]), int(inst.domain.demand.gpus[w])
            )


def _candidates(state: FleetState, w: int) -> np.ndarray:
    inst = state.inst
    planned = inst.groups.state == "up"
    return np.flatnonzero((inst.compat[w] & planned)[inst.groups.of_node])


def _order(state: FleetState, nodes: np.ndarray, fit: np.ndarray, w: int, rule: str) -> np.ndarray:
    fleet = state.inst.domain.fleet
    if rule == "first_fit":
        score = fleet.cost[nodes] / fit
    else:
        used = state.need[w] > 0
        scale = np.maximum(state.capacity.max(axis=0), 1)
        score = ((state.free[nodes][:, used] - state.need[w][used]) / scale[used]).sum(axis=1)
    return np.lexsort((nodes, score, ~state.in_use[nodes]))


def _whole_room(state: FleetState, w: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nodes (of `nodes`) with room for a replica of w that takes whole GPUs, and how
    many each holds."""
    need = state.need[w]
    fit = np.where(need > 0, state.free[nodes] // np.maximum(need, 1), _MANY).min(axis=1)
    gpus = int(state.inst.domain.demand.gpus[w])
    if gpus:
        fit = np.minimum(fit, state.free_gpus()[nodes] // gpus)
    fit = np.minimum(fit, state.rules.room(w, nodes))
    fit = np.minimum(fit, state.places.room(int(state.family[w]), nodes))
    return nodes[fit > 0], fit[fit > 0]


def _place_whole(
    state: FleetState, w: int, amount: int, rule: str, nodes: np.ndarray | None = None
) -> None:
    domain = state.inst.domain
    gpus = int(domain.demand.gpus[w])
    f = int(state.family[w])
    candidates = _candidates(state, w) if nodes is None else nodes
    scope = state.places.spreads(f)
    if scope is not None and amount > 1:
        # One at a time, each into the place that holds fewest of the workload.
        for _ in range(amount):
            nodes, fit = _whole_room(state, w, candidates)
            if len(nodes) == 0:
                return
            order = _order(state, nodes, fit, w, rule)
            first = np.argsort(state.places.at(scope, f, nodes[order]), kind="stable")
            n = int(nodes[order][first][0])
            if state.budgets.fit(w, n) < 1:
                return
            state.take_whole(w, np.array([n]), np.array([1]), gpus)
        return
    nodes, fit = _whole_room(state, w, candidates)
    if len(nodes) == 0:
        return
    order = _order(state, nodes, fit, w, rule)
    nodes, fit = nodes[order], fit[order]
    within = int(domain.rules.gang.within[f])
    if domain.rules.gang.member[f] and within != NO_SCOPE:
        # A gang goes whole into the first place (in node order) with room for it.
        place = domain.scopes.code(within)[nodes]
        room = np.bincount(place, weights=fit)
        fits = np.flatnonzero(room >= amount)
        if len(fits) == 0:
            return
        first = place[np.isin(place, fits)][0]
        nodes, fit = nodes[place == first], fit[place == first]
    if state.budgets.active or state.budgets.power:
        # Shared limits change as nodes fill: go node by node.
        for n, k in zip(nodes.tolist(), fit.tolist(), strict=True):
            if amount <= 0:
                break
            take = min(k, amount, state.budgets.fit(w, n))
            if take > 0:
                state.take_whole(w, np.array([n]), np.array([take]), gpus)
                amount -= take
        return
    take = np.clip(amount - (np.cumsum(fit) - fit), 0, fit)
    chosen = take > 0
    state.take_whole(w, nodes[chosen], take[chosen], gpus)


def _place_shared(state: FleetState, w: int, rule: str, nodes: np.ndarray | None = None) -> bool:
    """One replica that shares a GPU (on one of `nodes`, or anywhere it may go); False when
    no GPU has room."""
    inst = state.inst
    demand = inst.domain.demand
    nodes = _candidates(state, w) if nodes is None else nodes
    if len(nodes) == 0:
        return False
    nodes = nodes[(state.free[nodes] >= state.need[w]).all(axis=1)]
    nodes = nodes[state.rules.room(w, nodes) > 0]
    nodes = nodes[state.places.room(int(state.family[w]), nodes) > 0]
    kind = inst.shapes.kind[inst.shapes.of_workload[w]]
    if kind == FRACTION:
        per = np.broadcast_to(
            np.array([demand.gpu_milli[w], demand.gpu_mem_mib[w]]), (len(nodes), 2)
        )
        ok = (
            np.isin(state.mode[nodes], (FREE, SHARED))
            & (state.milli[nodes] >= per[:, :1])
            & (state.memory[nodes] >= per[:, 1:])
        )
        left = state.milli[nodes] - per[:, :1]
    else:
        per = _mig_demand(state, nodes, w)
        ok = (
            np.isin(state.mode[nodes], (FREE, MIG_MODE))
            & (state.mig_compute[nodes] >= per[:, :1])
            & (state.mig_memory[nodes] >= per[:, 1:])
            & (per[:, :1] > 0)
        )
        left = state.mig_compute[nodes] - per[:, :1]
    has_room = ok.any(axis=1)
    nodes, ok, left, per = nodes[has_room], ok[has_room], left[has_room], per[has_room]
    if len(nodes) == 0:
        return False
    # Prefer a GPU already shared (fullest first) over opening a free one.
    opened = np.isin(state.mode[nodes], (SHARED, MIG_MODE))
    gpu_score = np.where(ok, np.where(opened, left, MILLI + left), np.iinfo(np.int64).max)
    best_gpu = gpu_score.argmin(axis=1)
    fit = np.ones(len(nodes), dtype=np.int64)
    for k in _order(state, nodes, fit, w, rule):
        if state.budgets.fit(w, int(nodes[k])) >= 1:
            state.take_shared(
                w, int(nodes[k]), int(best_gpu[k]), kind, tuple(int(v) for v in per[k])
            )
            return True
    return False


def _mig_demand(state: FleetState, nodes: np.ndarray, w: int) -> np.ndarray:
    """(nodes x 2) compute and memory slices of w's MIG profile on each node's GPU type."""
    fleet = state.inst.domain.fleet
    profile = state.inst.domain.demand.mig_profile[w]
    table = np.zeros((len(fleet.gpu_types) + 1, 2), dtype=np.int64)
    for t, gpu_type in enumerate(fleet.gpu_types):
        found = gpu_type.mig_profiles.get(profile)
        if found:
            table[t] = (found.compute_slices, found.memory_slices)
    return table[fleet.gpu_type[nodes]]


def _keep_current(state: FleetState, rule: str) -> None:
    """Replicas that run now stay on their node where it still has room (highest priority
    first): re-planning moves only what it must."""
    inst = state.inst
    domain = inst.domain
    demand, fleet = domain.demand, domain.fleet
    families = demand.families
    rows = sorted(
        (demand.index[row], nodes) for row, nodes in domain.current.items() if row in demand.index
    )
    rows.sort(key=lambda item: -families.priority[demand.family[item[0]]])
    for w, nodes in rows:
        f = demand.family[w]
        for node_id in nodes:
            n = fleet.index[node_id]
            if fleet.state[n] != "up" or state.placed_of(f) >= families.max[f]:
                continue
            if not inst.compat[w, inst.groups.of_node[n]]:
                continue  # its rules no longer admit it there (a new taint or label): it moves
            _place_row_on(state, w, np.array([n]), 1, rule)


def _sequence(inst: PackingInstance, have: np.ndarray) -> list[tuple[int, int]]:
    """(workload, replicas) steps: required parts (and throughput targets) first, then
    optional, by priority and size."""
    d = inst.domain.demand
    families = d.families
    first = families.first_row
    size = d.gpu_equivalents[first]
    order = np.lexsort(
        (np.arange(len(families)), -d.ram_mib[first], -d.cpu_m[first], -size, -families.priority)
    )
    needed = set(d.family[np.isin(inst.shapes.of_workload, inst.shapes.together[:, 1])].tolist())
    order = sorted(order.tolist(), key=lambda f: f not in needed)
    low, high = np.maximum(families.min - have, 0), np.maximum(families.max - have, 0)
    target = families.by_target
    steps = [(int(f), int(low[f])) for f in order if low[f] > 0 or target[f]]
    steps += [(int(f), int(high[f] - low[f])) for f in order if high[f] > low[f] and not target[f]]
    return steps
