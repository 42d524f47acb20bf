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
import time
from dataclasses import replace

import numpy as np

from allocator.domain.grouping import rank_among_equal
from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE
from allocator.domain.tables import Demand
from allocator.domain.units import MILLI, node_capacity, replica_demand
from allocator.heuristics.budgets import Budgets
from allocator.heuristics.counts import PlaceCounts, repair
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.io.interrupt import INTERRUPT
from allocator.model.reduce import FRACTION, MIG, WHOLE, PackingInstance
from allocator.rules.base import UNLIMITED

RULES = ("first_fit", "best_fit")
_MANY = 2**40
FREE, WHOLE_GPU, SHARED, MIG_MODE = 0, 1, 2, 3


class NodeRules:
    """What the rules about single nodes, said of shapes (`Shapes`), still allow on each
    node: a most per node, shapes kept apart or together, dedicated tenants alone.

    Only shapes some such rule names are counted per node, and tenants are kept as codes,
    so that a fleet without these rules pays nothing for them."""

    def __init__(self, inst: PackingInstance):
        self.inst = inst
        shapes = inst.shapes
        self.cap = shapes.per_node_max[shapes.of_workload].copy()
        ruled = {
            *np.flatnonzero(shapes.per_node_max < UNLIMITED).tolist(),
            *shapes.apart.ravel().tolist(),
            *shapes.together.ravel().tolist(),
        }
        dedicated = bool((shapes.tenant != "").any())
        self.active = bool(ruled) or dedicated
        n_nodes = len(inst.domain.fleet)
        self.count = {s: np.zeros(n_nodes, dtype=np.int64) for s in sorted(ruled)}
        # Tenant codes: 0 nothing on the node yet, 1 workloads of shared tenants, 2... each
        # dedicated tenant.
        names = sorted({t for t in shapes.tenant.tolist() if t})
        code = {t: k + 2 for k, t in enumerate(names)}
        self.tenant_of_shape = np.array(
            [code.get(t, 1) for t in shapes.tenant.tolist()], dtype=np.int64
        )
        self.tenant = np.zeros(n_nodes, dtype=np.int64) if dedicated else None

    def _count(self, s: int, nodes: np.ndarray) -> np.ndarray:
        counted = self.count.get(s)
        return np.zeros(len(nodes), dtype=np.int64) if counted is None else counted[nodes]

    def room(self, w: int, nodes: np.ndarray) -> np.ndarray:
        if not self.active:
            return np.full(len(nodes), self.cap[w], dtype=np.int64)
        shapes = self.inst.shapes
        s = int(shapes.of_workload[w])
        room = np.maximum(self.cap[w] - self._count(s, nodes), 0)
        for s1, s2 in shapes.apart.tolist():
            if s == s1:
                room[self._count(s2, nodes) > 0] = 0
            elif s == s2:
                room[self._count(s1, nodes) > 0] = 0
        for needer, needed in shapes.together.tolist():
            if s == needer:
                room[self._count(needed, nodes) == 0] = 0
        if self.tenant is not None:
            held = self.tenant[nodes]
            room[(held != 0) & (held != self.tenant_of_shape[s])] = 0
        return room

    def take(self, w: int, nodes: np.ndarray, counts: np.ndarray) -> None:
        if not self.active:
            return
        s = int(self.inst.shapes.of_workload[w])
        if s in self.count:
            self.count[s][nodes] += counts
        if self.tenant is not None:
            self.tenant[nodes] = self.tenant_of_shape[s]


class _Records:
    """The replicas placed so far, in the order placed, kept as one array chunk per step."""

    def __init__(self) -> None:
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._by_family: dict[int, list[int]] = {}  # chunk numbers per workload
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, w: int, f: int, nodes: np.ndarray, sizes: np.ndarray, gpus) -> None:
        """Replicas of row w (of workload f), one per entry of `nodes`, the GPUs of each
        (`sizes[i]` of them) one after another in `gpus`."""
        rows = np.full(len(nodes), w, dtype=np.int64)
        chunk = (rows, nodes.astype(np.int64), sizes, np.asarray(gpus, dtype=np.int64))
        self._by_family.setdefault(f, []).append(len(self._chunks))
        self._chunks.append(chunk)
        self._count += len(nodes)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Row and node of every replica, and its GPUs in CSR form (pointers, indices)."""
        if not self._chunks:
            zero = np.zeros(0, dtype=np.int64)
            return zero, zero, np.zeros(1, dtype=np.int64), zero
        parts = zip(*self._chunks, strict=True)
        rows, nodes, sizes, gpus = (np.concatenate(part) for part in parts)
        return rows, nodes, np.concatenate([[0], np.cumsum(sizes)]), gpus

    def of_family(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and node of every replica of workload f."""
        chunks = [self._chunks[i] for i in self._by_family.get(f, [])]
        if not chunks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


class FleetState:
    """Free capacity of every node and of every GPU on it.

    Nodes not yet in use are as their group left them, so the placers look at those in
    use that may still have room and, of each group, only the first few untouched nodes
    (`pool`): identical nodes are taken in node order, which is the order the full scan
    would take them in."""

    def __init__(self, inst: PackingInstance):
        fleet = inst.domain.fleet
        self.inst = inst
        # Node resources other than whole GPUs (CPU, RAM, NVMe, NIC), and what replicas need.
        self.capacity = node_capacity(fleet)[:, 1:]
        self.scale = np.maximum(self.capacity.max(axis=0, initial=0), 1)
        self.free = self.capacity.copy()
        self.need = replica_demand(inst.domain.demand)[:, 1:]
        # free // divisor + pad: replicas of a row that fit by each resource; a resource
        # the row does not use gives 0 + _MANY.
        self.divisor = np.where(self.need > 0, self.need, 2**62)
        self.pad = np.where(self.need > 0, 0, _MANY)
        self.free[fleet.state == "down"] = 0
        width = int(fleet.gpus.max(initial=0))
        present = np.arange(width)[None, :] < fleet.gpus[:, None]
        self.mode = np.where(present, FREE, -1).astype(np.int8)
        self.milli = np.where(present, MILLI, 0).astype(np.int64)
        self.memory = np.where(present, fleet.gpu_memory_mib[:, None], 0).astype(np.int64)
        self.mig_compute = np.where(present & fleet.mig[:, None], MIG_COMPUTE_SLICES, 0)
        self.mig_memory = np.where(present & fleet.mig[:, None], MIG_MEMORY_SLICES, 0)
        self.free_gpus = fleet.gpus.astype(np.int64).copy()  # GPUs in mode FREE per node
        self.shared = np.zeros(len(fleet), dtype=bool)  # some GPU is shared (or MIG)
        self.in_use = np.zeros(len(fleet), dtype=bool)
        self.free_gpu_in_use = np.zeros(len(fleet), dtype=bool)  # in use, a GPU still FREE
        self.records = _Records()
        self.budgets = Budgets(inst.domain)
        self.rules = NodeRules(inst)
        self.places = PlaceCounts(inst.domain)
        self.family = inst.domain.demand.family
        self.gpu_equivalents = inst.domain.demand.gpu_equivalents
        self.row_order = _row_order(inst.domain.demand)
        groups = inst.groups
        self.planned = groups.state == "up"
        # order[next[g]] is group g's first member (in node order) not in use; end[g] past it.
        self.next = groups.start[:-1].copy()
        self.end = groups.start[1:].copy()

    def take_whole(self, w: int, nodes: np.ndarray, counts: np.ndarray, gpus: int) -> None:
        self.free[nodes] -= counts[:, None] * self.need[w][None, :]
        self.free_gpus[nodes] -= counts * gpus
        self._use(nodes)
        self.rules.take(w, nodes, counts)
        self.places.take(int(self.family[w]), nodes, counts)
        if self.budgets.active or self.budgets.power:
            for n, k in zip(nodes.tolist(), counts.tolist(), strict=True):
                self.budgets.take(w, n, k)
        else:
            self.budgets.on[nodes] = True
        # Each node's first free GPUs, `gpus` to a replica in GPU order.
        free = self.mode[nodes] == FREE
        rank = np.cumsum(free, axis=1) - 1
        row, gpu = np.nonzero(free & (rank < (counts * gpus)[:, None]))
        self.mode[nodes[row], gpu] = WHOLE_GPU
        on = np.repeat(nodes, counts)
        if len(gpu) == len(on) * gpus:
            sizes = np.full(len(on), gpus, dtype=np.int64)
        else:  # fewer free GPUs than asked (replicas kept as they run): what there is
            lists = [
                gpu[row == i][r * gpus : (r + 1) * gpus]
                for i, k in enumerate(counts.tolist())
                for r in range(k)
            ]
            sizes = np.array([len(g) for g in lists], dtype=np.int64)
            gpu = np.concatenate(lists) if lists else gpu
        self.records.add(w, int(self.family[w]), on, sizes, gpu)

    def take_shared(self, w: int, n: int, gpu: int, kind: int, demand: tuple[int, int]) -> None:
        self.free[n] -= self.need[w]
        if self.mode[n, gpu] == FREE:
            self.free_gpus[n] -= 1
        self._use(np.array([n]))
        self.budgets.take(w, n, 1)
        self.rules.take(w, np.array([n]), np.array([1]))
        self.places.take(int(self.family[w]), np.array([n]), np.array([1]))
        self.shared[n] = True
        if kind == FRACTION:
            self.mode[n, gpu] = SHARED
            self.milli[n, gpu] -= demand[0]
            self.memory[n, gpu] -= demand[1]
        else:
            self.mode[n, gpu] = MIG_MODE
            self.mig_compute[n, gpu] -= demand[0]
            self.mig_memory[n, gpu] -= demand[1]
        self.records.add(w, int(self.family[w]), np.array([n]), np.ones(1, np.int64), [gpu])

    def _use(self, nodes: np.ndarray) -> None:
        """Mark nodes in use (and whether a GPU of theirs is still free), and move each
        group's first untouched member past them."""
        self.in_use[nodes] = True
        self.free_gpu_in_use[nodes] = self.free_gpus[nodes] > 0
        groups = self.inst.groups
        order = groups.order
        for g in set(groups.of_node[nodes].tolist()):
            i, end = int(self.next[g]), int(self.end[g])
            while i < end:
                busy = self.in_use[order[i : min(i + 64, end)]]
                first = int(np.argmin(busy))
                if not busy[first]:
                    i += first
                    break
                i += len(busy)
            self.next[g] = i

    def untouched(self, gs: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The first k[i] members of group gs[i] that are not in use (fewer where the group
        has fewer)."""
        order = self.inst.groups.order
        k = np.minimum(k, self.end[gs] - self.next[gs])
        if len(gs) == 1:
            nodes = order[self.next[gs[0]] : self.next[gs[0]] + k[0]]
            if not self.in_use[nodes].any():
                return nodes
        ramp = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        nodes = order[np.repeat(self.next[gs], k) + ramp]
        busy = self.in_use[nodes]
        if not busy.any():
            return nodes
        # A node in use behind the first untouched one (kept where it runs now): those
        # groups are walked member by member.
        owner = np.repeat(np.arange(len(gs)), k)
        walk = np.unique(owner[busy])
        parts = [nodes[~np.isin(owner, walk)]]
        for i in walk.tolist():
            members = order[self.next[gs[i]] : self.end[gs[i]]]
            parts.append(members[~self.in_use[members]][: k[i]])
        return np.concatenate(parts)

    def pool(self, w: int, amount: int) -> np.ndarray:
        """The nodes (in no particular order) that a placement of up to `amount` replicas of row w
        needs to look at: the compatible nodes in use that may have room, and per
        compatible group enough untouched nodes to hold them all (one each for a replica
        that shares a GPU). Untouched nodes of a group are alike (room, score, places,
        shared limits), so the scan over all nodes would take them in node order too."""
        inst = self.inst
        shapes = inst.shapes
        open_to = inst.compat[w] & self.planned
        gpus = int(inst.domain.demand.gpus[w])
        whole = shapes.kind[shapes.of_workload[w]] not in (FRACTION, MIG)
        if not whole:
            mask = self.in_use & ((self.free_gpus > 0) | self.shared)
        elif gpus:
            mask = self.free_gpu_in_use
        else:
            mask = self.in_use
        used = np.flatnonzero(mask)
        if whole and gpus > 1:
            used = used[self.free_gpus[used] >= gpus]
        used = used[open_to[inst.groups.of_node[used]]]
        gs = np.flatnonzero(open_to & (self.next < self.end))
        if whole and len(gs):
            fit = _whole_fit(self, w, inst.groups.order[self.next[gs]])
            gs, fit = gs[fit > 0], fit[fit > 0]
            k = -(-max(amount, 1) // fit)
        else:
            k = np.ones(len(gs), dtype=np.int64)
        fresh = self.untouched(gs, k) if len(gs) else np.zeros(0, dtype=np.int64)
        return np.concatenate([used, fresh])

    def replicas(self) -> Replicas:
        """The placement so far, less what breaks a rule (`counts.repair`)."""
        domain = self.inst.domain
        fleet, demand = domain.fleet, domain.demand
        if not len(self.records):
            return Replicas.empty(len(fleet), len(demand))
        w, n, ptr, gpus = self.records.arrays()
        keep = np.flatnonzero(repair(domain, w, n))
        placement = Replicas(w, n, ptr, gpus, len(fleet), len(demand)).take(keep).sorted()
        choice = np.where(placement.placed() > 0, self.budgets.choice, -1)
        return replace(placement, dataset_on=choice)

    def placed_of(self, f: int) -> int:
        return self.places.placed(f)


def _row_order(d: Demand) -> list[np.ndarray]:
    """Each workload's ways to run, the smallest replica first (variants trade size)."""
    rows = np.lexsort((np.arange(len(d)), d.ram_mib, d.cpu_m, d.gpu_equivalents, d.family))
    ends = np.cumsum(np.bincount(d.family, minlength=len(d.families)))
    return np.split(rows, ends[:-1])


def greedy_placement(
    inst: PackingInstance,
    rule: str = "first_fit",
    start: Replicas | None = None,
    stop_at: float | None = None,
) -> Replicas:
    """Place every workload by `rule`. With `start` (a rounded LP solution, say) its
    replicas are taken where they are, less those that break a rule (part of a gang, one
    zone of two), and only the rest is placed: nodes it opened are filled first, as any
    node in use. At `stop_at` (a `time.perf_counter` moment) it
    stops and returns what it placed so far, as on a request to stop: a warm start that
    places less is still a start, and a solve keeps to its limit."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    if inst.most_on_group is not None:
        return _within_group_caps(inst, rule, start, stop_at)
    return _place_all(inst, rule, start, stop_at)


CAP_PASSES = 8  # of placing again what went over a cap on a group (`_within_group_caps`)


def _within_group_caps(
    inst: PackingInstance, rule: str, start: Replicas | None, stop_at: float | None
) -> Replicas:
    """Greedy placement under most-replicas-per-group caps, which the placers do not
    count: replicas over a cap are taken off, the group is closed to their workload, and
    they are placed again, pass after pass (a few: each closes groups for good)."""
    most, family = inst.most_on_group, inst.domain.demand.family
    assert most is not None
    placed = _place_all(inst, rule, start, stop_at)
    for attempt in range(CAP_PASSES + 1):
        f, g = family[placed.workload], inst.groups.of_node[placed.node]
        over = rank_among_equal(f * most.shape[1] + g) >= most[f, g]
        if not over.any():
            break
        placed = placed.take(np.flatnonzero(~over))
        if attempt == CAP_PASSES:
            break  # what is still over its cap stays unplaced
        closed = np.zeros(most.shape, dtype=bool)
        closed[f[over], g[over]] = True
        inst = replace(inst, compat=inst.compat & ~closed[family])
        placed = _place_all(inst, rule, placed, stop_at)
    return placed


def _place_all(
    inst: PackingInstance, rule: str, start: Replicas | None, stop_at: float | None
) -> Replicas:
    state = FleetState(inst)
    families = inst.domain.demand.families
    if start is None:
        _pin(state)
        _keep_current(state, rule)
    else:
        _take(state, start.take(np.flatnonzero(repair(inst.domain, start.workload, start.node))))
    have = np.bincount(
        inst.domain.demand.family[state.records.arrays()[0]], minlength=len(families)
    )
    for f, amount in _sequence(inst, have):
        if INTERRUPT.is_set() or (stop_at is not None and time.perf_counter() >= stop_at):
            break  # asked to stop, or out of time: what is placed so far
        if families.by_target[f]:
            _meet_target(state, f, rule)
            continue
        for w in state.row_order[f].tolist():
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
        rows, nodes = state.records.of_family(f)
        if len(rows) >= families.max[f]:
            return
        rates = _rates(inst, rows, nodes)
        achieved, worst = rates.sum(), None
        if scope != NO_SCOPE and len(rows):
            place = domain.scopes.code(scope)[nodes]
            per = np.bincount(place, weights=rates)
            worst = int(per.argmax())
            if achieved - per.max() >= target - 1e-9:
                return
        elif achieved >= target - 1e-9:
            return
        short = target - achieved if worst is None or achieved < target else target
        if not _take_cheapest_throughput(state, f, short, scope, worst, rule):
            return


def _rates(inst: PackingInstance, w: int | np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Throughput of one replica of row w (or of each row of w) on each node (0 off its
    GPU types)."""
    rate = inst.domain.demand.rate
    t = inst.domain.fleet.gpu_type[nodes]
    if rate.shape[1] == 0:
        return np.zeros(len(nodes))
    return np.where(t >= 0, rate[w, np.maximum(t, 0)], 0.0)


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
        nodes = np.sort(state.pool(w, 1))  # ties go to the first node
        if avoid is not None:
            nodes = nodes[inst.domain.scopes.code(scope)[nodes] != avoid]
        rate = _rates(inst, w, nodes)
        nodes, rate = nodes[rate > 0], rate[rate > 0]
        if inst.shapes.kind[inst.shapes.of_workload[w]] in (FRACTION, MIG):
            fit = np.ones(len(nodes), dtype=np.int64)  # checked when taking
        else:
            nodes, fit = _whole_room(state, w, nodes)
            rate = _rates(inst, w, nodes)
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
    count = min(count, int(demand.families.max[f]) - state.placed_of(f))  # never past max
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


def _order(state: FleetState, nodes: np.ndarray, fit: np.ndarray, w: int, rule: str) -> np.ndarray:
    fleet = state.inst.domain.fleet
    if rule == "first_fit":
        score = fleet.cost[nodes] / fit
    else:
        used = state.need[w] > 0
        scale = state.scale[used]
        score = ((state.free[nodes][:, used] - state.need[w][used]) / scale).sum(axis=1)
    return np.lexsort((nodes, score, ~state.in_use[nodes]))


def _whole_fit(state: FleetState, w: int, nodes: np.ndarray) -> np.ndarray:
    """How many replicas of w, which takes whole GPUs, each of `nodes` holds now."""
    fit = (state.free[nodes] // state.divisor[w] + state.pad[w]).min(axis=1)
    gpus = int(state.inst.domain.demand.gpus[w])
    if gpus:
        fit = np.minimum(fit, state.free_gpus[nodes] // gpus)
    if state.rules.active:
        fit = np.minimum(fit, state.rules.room(w, nodes))
    else:
        fit = np.minimum(fit, state.rules.cap[w])
    if state.places.active:
        fit = np.minimum(fit, state.places.room(int(state.family[w]), nodes))
    return fit


def _whole_room(state: FleetState, w: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nodes (of `nodes`) with room for a replica of w that takes whole GPUs, and how
    many each holds."""
    fit = _whole_fit(state, w, nodes)
    return nodes[fit > 0], fit[fit > 0]


def _place_whole(
    state: FleetState, w: int, amount: int, rule: str, nodes: np.ndarray | None = None
) -> None:
    domain = state.inst.domain
    gpus = int(domain.demand.gpus[w])
    f = int(state.family[w])
    scope = state.places.spreads(f)
    if scope is not None and amount > 1:
        # Each replica into the place that holds fewest of the workload. While w alone
        # is placed no node gains room, so the nodes looked at carry over, less those
        # left without room, plus a group's next untouched node when its first one is
        # taken. A replica changes the room and rank of nodes in its own place only (a
        # group lies in one place), so the replicas that go one to each of the
        # fewest-held places, in rank order, go in one step; where shared limits tie
        # places together, one at a time.
        candidates = state.pool(w, 1) if nodes is None else nodes
        batched = not (
            state.budgets.active or state.budgets.power or state.places.shares is not None
        )
        code = state.inst.domain.scopes.code(scope)
        while amount > 0:
            candidates, fit = _whole_room(state, w, candidates)
            if len(candidates) == 0:
                return
            ordered = candidates[_order(state, candidates, fit, w, rule)]
            held = state.places.at(scope, f, ordered)
            fewest = ordered[held == held.min()]
            if batched:
                _, first = np.unique(code[fewest], return_index=True)
                chosen = fewest[np.sort(first)[:amount]]
            else:
                chosen = fewest[:1]
                if state.budgets.fit(w, int(chosen[0])) < 1:
                    return
            fresh = chosen[~state.in_use[chosen]] if nodes is None else chosen[:0]
            state.take_whole(w, chosen, np.ones(len(chosen), dtype=np.int64), gpus)
            amount -= len(chosen)
            if len(fresh):
                g = state.inst.groups.of_node[fresh]
                more = state.untouched(g, np.ones(len(g), dtype=np.int64))
                candidates = np.concatenate([candidates, more])
        return
    nodes, fit = _whole_room(state, w, state.pool(w, amount) if nodes is None else nodes)
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
    take = np.minimum(np.maximum(amount - (np.cumsum(fit) - fit), 0), fit)
    chosen = take > 0
    state.take_whole(w, nodes[chosen], take[chosen], gpus)


def _place_shared(state: FleetState, w: int, rule: str, nodes: np.ndarray | None = None) -> bool:
    """One replica that shares a GPU (on one of `nodes`, or anywhere it may go); False when
    no GPU has room."""
    inst = state.inst
    demand = inst.domain.demand
    nodes = state.pool(w, 1) if nodes is None else nodes
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


def _take(state: FleetState, start: Replicas) -> None:
    """A placement's replicas where they are: shared ones on their GPU first, then those
    taking whole GPUs, one step per workload (on each node's first GPUs still free)."""
    inst = state.inst
    demand = inst.domain.demand
    kind = inst.shapes.kind[inst.shapes.of_workload]
    shared = np.flatnonzero(kind[start.workload] != WHOLE)
    for r in shared.tolist():
        w, n = int(start.workload[r]), int(start.node[r])
        gpu = int(start.gpu_index[start.gpu_ptr[r]])
        if kind[w] == FRACTION:
            per = (int(demand.gpu_milli[w]), int(demand.gpu_mem_mib[w]))
        else:
            slices = _mig_demand(state, np.array([n]), w)[0]
            per = (int(slices[0]), int(slices[1]))
        state.take_shared(w, n, gpu, int(kind[w]), per)
    whole = kind[start.workload] == WHOLE
    pairs, count = np.unique(
        np.stack([start.workload[whole], start.node[whole]]), axis=1, return_counts=True
    )
    firsts = np.flatnonzero(np.diff(pairs[0], prepend=-1) != 0)
    for part in np.split(np.arange(pairs.shape[1]), firsts[1:]) if len(firsts) else []:
        w = int(pairs[0, part[0]])
        state.take_whole(w, pairs[1, part], count[part], int(demand.gpus[w]))


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
