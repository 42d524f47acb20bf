"""The independent plan checker.

It recomputes every constraint from the inventory and the plan alone: no builder, no
model, no solver, and on purpose not the figures API (`evaluate.figures`) that the plan's
own numbers come from: two separate pieces of arithmetic must agree. The workload rules
are checked by each rule family's own `check` (`allocator.rules`). A plan that leaves the
tool has passed it; `allocator check` runs it on any plan file, including ones written by
other tools or edited by hand.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from allocator import rules
from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain
from allocator.domain.units import MIB_PER_GIB, MILLI, NODE_RESOURCES, to_mib
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.output.plan import PlanFile, moves_against, row_key
from allocator.rules.base import Placed, Violation

COST_TOLERANCE = 1e-6


def check_plan(domain: Domain, plan: PlanFile) -> list[Violation]:
    """Every way the plan breaks the inventory's rules; empty when it is valid."""
    out: list[Violation] = []
    fleet, demand = domain.fleet, domain.demand
    w_index, n_index = demand.index, fleet.index

    known: list[tuple[int, int, int, list[int]]] = []
    seen: Counter[tuple[str, int]] = Counter()
    for k, p in enumerate(plan.placements):
        seen[(p.workload, p.replica)] += 1
        if row_key(p) not in w_index:
            what = (
                f"workload {p.workload!r} has no variant {p.variant!r}"
                if p.workload in demand.families.index
                else f"workload {p.workload!r} is not in the inventory"
            )
            out.append(Violation("unknown_workload", f"placements[{k}]: {what}"))
        elif p.node not in n_index:
            out.append(
                Violation(
                    "unknown_node", f"placements[{k}]: node {p.node!r} is not in the inventory"
                )
            )
        else:
            known.append((w_index[row_key(p)], n_index[p.node], p.replica, list(p.gpus)))
    for k, u in enumerate(plan.unplaced):
        seen[(u.workload, u.replica)] += 1
        if u.workload not in demand.families.index:
            out.append(
                Violation(
                    "unknown_workload",
                    f"unplaced[{k}]: workload {u.workload!r} is not in the inventory",
                )
            )
    for (workload, replica), times in sorted(seen.items()):
        if times > 1:
            out.append(
                Violation(
                    "duplicate_replica", f"{workload} replica {replica} appears {times} times"
                )
            )

    w = np.array([t[0] for t in known], dtype=np.int64)
    n = np.array([t[1] for t in known], dtype=np.int64)
    placed = np.bincount(w, minlength=len(demand))
    out += _replica_accounting(domain, plan, placed)
    out += _host_rules(domain, known)
    out += _gpu_sharing(domain, known)
    out += _capacity(domain, w, n)
    out += _node_states(domain, w, n)
    out += _datacenter(domain, plan, w, n, placed)
    replica = np.array([t[2] for t in known], dtype=np.int64)
    out += rules.check(domain, Placed(w, n, replica))
    out += _objective(domain, plan, w, n, placed)
    expected_moves = moves_against(domain.current, plan.placements)
    if sorted(map(repr, expected_moves)) != sorted(map(repr, plan.moves)):
        out.append(
            Violation(
                "moves",
                f"plan lists {len(plan.moves)} move(s) but the placement "
                f"differs from the current one by {len(expected_moves)}",
            )
        )
    return out


def _replica_accounting(domain: Domain, plan: PlanFile, placed: np.ndarray) -> list[Violation]:
    """Per workload (over its variants): placed + listed unplaced = max, the required
    ones flagged; a workload sized by a throughput target lists none unplaced."""
    out = []
    families = domain.demand.families
    placed = np.bincount(domain.demand.family, weights=placed, minlength=len(families)).astype(
        np.int64
    )
    listed = Counter(u.workload for u in plan.unplaced)
    required_listed = Counter(u.workload for u in plan.unplaced if u.required)
    for i, wid in enumerate(families.ids):
        lo, hi = int(families.min[i]), int(families.max[i])
        if placed[i] > hi:
            out.append(
                Violation("replica_count", f"{wid}: {placed[i]} replicas placed, max is {hi}")
            )
        if families.by_target[i]:
            if listed[wid]:
                out.append(
                    Violation(
                        "replica_count",
                        f"{wid}: {listed[wid]} replicas listed unplaced; a workload sized by "
                        "its throughput target lists none",
                    )
                )
            continue
        if placed[i] + listed[wid] != hi:
            out.append(
                Violation(
                    "replica_count",
                    f"{wid}: {placed[i]} placed + {listed[wid]} "
                    f"listed unplaced != {hi} replicas wanted",
                )
            )
        if required_listed[wid] != max(lo - placed[i], 0):
            out.append(
                Violation(
                    "required_flag",
                    f"{wid}: {required_listed[wid]} unplaced replicas "
                    f"marked required, expected {max(lo - placed[i], 0)} "
                    f"(min {lo}, placed {placed[i]})",
                )
            )
    for k, p in enumerate(plan.placements + plan.unplaced):
        i = families.index.get(p.workload)
        if i is not None and p.replica >= families.max[i]:
            out.append(
                Violation(
                    "replica_count",
                    f"{p.workload} replica {p.replica} is beyond max {families.max[i]} (entry {k})",
                )
            )
    return out


def _host_rules(domain: Domain, known: list[tuple[int, int, int, list[int]]]) -> list[Violation]:
    """Per replica: the node's GPU type, the number and indices of GPUs, memory, MIG."""
    out = []
    fleet, demand = domain.fleet, domain.demand
    type_names = fleet.gpu_type_names
    for wi, ni, r, gpus in known:
        who = f"{demand.ids[wi]} replica {r} on {fleet.ids[ni]}"
        whole, milli, profile = (
            int(demand.gpus[wi]),
            int(demand.gpu_milli[wi]),
            str(demand.mig_profile[wi]),
        )
        wanted = whole if whole else (1 if milli or profile else 0)
        if len(gpus) != wanted:
            asked = (
                f"{whole} whole GPU(s)" if whole else ("a share of one GPU" if wanted else "no GPU")
            )
            out.append(
                Violation("gpu_count", f"{who}: uses {len(gpus)} GPU(s) {gpus}, asks for {asked}")
            )
        bad = [g for g in gpus if not 0 <= g < fleet.gpus[ni]]
        if bad or len(set(gpus)) != len(gpus):
            out.append(
                Violation(
                    "gpu_index",
                    f"{who}: GPU indices {gpus} are not distinct "
                    f"GPUs of a node with {fleet.gpus[ni]}",
                )
            )
        if not wanted:
            continue
        if fleet.gpus[ni] == 0:
            out.append(Violation("gpu_type", f"{who}: needs a GPU, the node has none"))
            continue
        family = demand.family[wi]
        if demand.families.target[family] > 0 and demand.rate[wi, fleet.gpu_type[ni]] <= 0:
            out.append(
                Violation(
                    "gpu_type",
                    f"{who}: gives no throughput on {type_names[ni]} (no per-replica figure)",
                )
            )
        allowed = domain.allowed_type_names.get(str(demand.ids[wi]))
        if allowed is not None and type_names[ni] not in allowed:
            out.append(
                Violation(
                    "gpu_type",
                    f"{who}: GPU type {type_names[ni]} is not one of {', '.join(allowed)}",
                )
            )
        if whole and whole > fleet.gpus[ni]:
            out.append(
                Violation(
                    "gpu_count",
                    f"{who}: needs {whole} GPUs on one node, the node has {fleet.gpus[ni]}",
                )
            )
        memory = fleet.gpu_memory_mib[ni]
        if whole and demand.gpu_mem_mib[wi] > whole * memory:
            out.append(
                Violation(
                    "gpu_memory",
                    f"{who}: needs "
                    f"{demand.gpu_mem_mib[wi] / MIB_PER_GIB:g} GiB over {whole} "
                    f"GPU(s), {type_names[ni]} gives "
                    f"{whole * memory / MIB_PER_GIB:g} GiB",
                )
            )
        if profile:
            offered = fleet.gpu_types[fleet.gpu_type[ni]].mig_profiles.get(profile)
            if not fleet.mig[ni]:
                out.append(
                    Violation(
                        "gpu_mig",
                        f"{who}: MIG instance on a node whose GPUs may "
                        "not be partitioned (mig: false)",
                    )
                )
            if offered is None:
                out.append(
                    Violation("gpu_type", f"{who}: {type_names[ni]} has no MIG profile {profile}")
                )
            elif demand.gpu_mem_mib[wi] > to_mib(offered.memory_gib):
                out.append(
                    Violation(
                        "gpu_memory",
                        f"{who}: needs "
                        f"{demand.gpu_mem_mib[wi] / MIB_PER_GIB:g} GiB, profile "
                        f"{profile} has {offered.memory_gib:g} GiB",
                    )
                )
    return out


def _gpu_sharing(domain: Domain, known: list[tuple[int, int, int, list[int]]]) -> list[Violation]:
    """Per physical GPU: whole GPUs are exclusive; fractions sum to at most one GPU (and its
    memory); MIG instances fit its 7 compute and 8 memory slices; no GPU mixes the two."""
    out = []
    fleet, demand = domain.fleet, domain.demand
    users: dict[tuple[int, int], list[int]] = {}
    for k, (_, ni, _, gpus) in enumerate(known):
        for g in gpus:
            users.setdefault((ni, g), []).append(k)
    for (ni, g), on_gpu in sorted(users.items()):
        where = f"node {fleet.ids[ni]} GPU {g}"
        loads = [known[k][0] for k in on_gpu]
        names = ", ".join(
            f"{demand.ids[w]} replica {known[k][2]}" for w, k in zip(loads, on_gpu, strict=True)
        )
        whole = [w for w in loads if demand.gpus[w] > 0]
        fractions = [w for w in loads if demand.gpu_milli[w] > 0]
        migs = [w for w in loads if demand.mig_profile[w]]
        if whole and len(on_gpu) > 1:
            out.append(
                Violation(
                    "gpu_exclusive",
                    f"{where}: held whole by one replica but used by {len(on_gpu)}: {names}",
                )
            )
        if fractions and migs:
            out.append(
                Violation("gpu_mig", f"{where}: mixes MIG instances and GPU fractions: {names}")
            )
        if fractions:
            share = int(demand.gpu_milli[fractions].sum())
            memory = int(demand.gpu_mem_mib[fractions].sum())
            if share > MILLI:
                out.append(
                    Violation(
                        "gpu_share",
                        f"{where}: fractions sum to {share / MILLI:g} of the GPU: {names}",
                    )
                )
            if memory > fleet.gpu_memory_mib[ni]:
                out.append(
                    Violation(
                        "gpu_memory",
                        f"{where}: shared replicas need "
                        f"{memory / MIB_PER_GIB:g} GiB, the GPU has "
                        f"{fleet.gpu_memory_mib[ni] / MIB_PER_GIB:g} GiB: {names}",
                    )
                )
        if migs and fleet.gpu_type[ni] >= 0:
            profiles = fleet.gpu_types[fleet.gpu_type[ni]].mig_profiles
            slices = [
                profiles[demand.mig_profile[w]] for w in migs if demand.mig_profile[w] in profiles
            ]
            compute = sum(p.compute_slices for p in slices)
            memory = sum(p.memory_slices for p in slices)
            if compute > MIG_COMPUTE_SLICES or memory > MIG_MEMORY_SLICES:
                out.append(
                    Violation(
                        "gpu_mig",
                        f"{where}: MIG instances take {compute} compute "
                        f"and {memory} memory slices, the GPU has "
                        f"{MIG_COMPUTE_SLICES} and {MIG_MEMORY_SLICES}: {names}",
                    )
                )
    return out


def _capacity(domain: Domain, w: np.ndarray, n: np.ndarray) -> list[Violation]:
    out = []
    fleet, demand = domain.fleet, domain.demand
    for resource in NODE_RESOURCES[1:]:  # whole GPUs are checked GPU by GPU
        need = getattr(demand, resource.replica_field)
        have = getattr(fleet, resource.node_field)
        used = np.bincount(n, weights=need[w], minlength=len(fleet))
        for ni in np.flatnonzero(used > have):
            out.append(
                Violation(
                    f"node_{resource.key}",
                    f"node {fleet.ids[ni]}: {used[ni] / resource.scale:g}{resource.unit} of "
                    f"{resource.name} placed, capacity "
                    f"{have[ni] / resource.scale:g}{resource.unit}",
                )
            )
    return out


def _node_states(domain: Domain, w: np.ndarray, n: np.ndarray) -> list[Violation]:
    """Down nodes run nothing; draining nodes run only what ran on them before."""
    out = []
    fleet, demand = domain.fleet, domain.demand
    before = domain.running_now
    now = Counter(zip(w.tolist(), n.tolist(), strict=True))
    for (wi, ni), count in sorted(now.items()):
        state = fleet.state[ni]
        if state == "down":
            out.append(
                Violation(
                    "node_state",
                    f"node {fleet.ids[ni]} is down but runs {count} replica(s) of {demand.ids[wi]}",
                )
            )
        elif state == "draining" and count > before[ni, wi]:
            out.append(
                Violation(
                    "node_state",
                    f"node {fleet.ids[ni]} is draining but gets "
                    f"{count - before[ni, wi]} new replica(s) of {demand.ids[wi]}",
                )
            )
    return out


def _objective(
    domain: Domain, plan: PlanFile, w: np.ndarray, n: np.ndarray, placed: np.ndarray
) -> list[Violation]:
    out = []
    fleet, demand = domain.fleet, domain.demand
    in_use = np.zeros(len(fleet), dtype=bool)
    in_use[n] = True
    nodes = float(fleet.cost[in_use].sum())
    storage = _stated_storage_cost(domain, plan)
    energy = float(_power_w(domain, w, n) @ _price_per_wh(domain))
    families = demand.families
    placed_f = np.bincount(demand.family, weights=placed, minlength=len(families))
    counted = np.where(families.target > 0, 0, families.priority)
    short, breaches = _shortfall(domain, w, n, placed_f)
    recomputed = {
        "node_cost_per_hour": nodes,
        "storage_cost_per_hour": storage,
        "energy_cost_per_hour": energy,
        "unplaced_priority": float(counted @ (families.max - np.minimum(placed_f, families.max))),
        "hard_shortfall": float(families.priority @ short),
    }
    if plan.objective.hard_shortfall < recomputed["hard_shortfall"] - COST_TOLERANCE:
        # Say which loss is not survived rather than only that the sum is off.
        out += breaches
        if breaches:
            recomputed.pop("hard_shortfall")
    left = _replicas_leaving(domain, plan)
    recomputed["migration_cost_per_hour"] = float(
        sum(demand.move_cost[demand.index[wid]] * k for wid, k in left.items())
    )
    recomputed["moved_replicas"] = float(sum(left.values()))
    recomputed["cost_per_hour"] = (
        nodes
        + storage
        + domain.objective.weights.energy * energy
        + recomputed["migration_cost_per_hour"]
    )
    for name, value in recomputed.items():
        stated = getattr(plan.objective, name)
        if abs(stated - value) > COST_TOLERANCE * max(1.0, abs(value)):
            out.append(
                Violation(
                    f"objective_{name}",
                    f"plan states {name} = {stated:g}, the placement gives {value:g}",
                )
            )
    cap = domain.objective.migration.max_moves
    if cap is not None and sum(left.values()) > cap:
        out.append(
            Violation("max_moves", f"{sum(left.values())} replicas leave their node, cap {cap}")
        )
    out += _unplaced_by_class(domain, plan, placed_f)
    out += _throughput(domain, plan, w, n)
    return out


def _replicas_leaving(domain: Domain, plan: PlanFile) -> Counter[str]:
    """Per workload, replicas running now on a node that the plan gives fewer of them."""
    after: Counter[tuple[str, str]] = Counter((row_key(p), p.node) for p in plan.placements)
    before: Counter[tuple[str, str]] = Counter(
        (wid, node) for wid, nodes in domain.current.items() for node in nodes
    )
    left: Counter[str] = Counter()
    for (wid, _node), k in (before - after).items():
        left[wid] += k
    return left


def _unplaced_by_class(domain: Domain, plan: PlanFile, placed: np.ndarray) -> list[Violation]:
    demand = domain.demand
    families = demand.families
    names = list(domain.objective.priority_classes)
    if not names:
        return []
    counted = np.where(families.target > 0, 0, families.priority)
    unplaced = counted * (families.max - np.minimum(placed, families.max))
    rank = demand.class_rank[families.first_row]
    out = []
    for name in domain.priority_classes:
        value = float(unplaced[rank == (names.index(name) if name in names else len(names))].sum())
        stated = plan.objective.unplaced_by_class.get(name, 0.0)
        if abs(stated - value) > COST_TOLERANCE * max(1.0, abs(value)):
            out.append(
                Violation(
                    "objective_unplaced_by_class",
                    f"plan states {stated:g} unplaced priority in class {name}, "
                    f"the placement gives {value:g}",
                )
            )
    return out


def _rates(domain: Domain, w: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Throughput of each placed replica: its row's rate on its node's GPU type."""
    demand, fleet = domain.demand, domain.fleet
    out = np.zeros(len(w))
    typed = fleet.gpu_type[n] >= 0
    if demand.rate.shape[1]:
        out[typed] = demand.rate[w[typed], fleet.gpu_type[n[typed]]]
    return out


def _shortfall(
    domain: Domain, w: np.ndarray, n: np.ndarray, placed: np.ndarray
) -> tuple[np.ndarray, list[Violation]]:
    """Per workload: required replicas missing, plus throughput missing from its target
    in replicas of its fastest kind; both after the worst loss it must survive. And the
    losses that leave a workload short, as violations to cite if the plan hides them."""
    demand, families = domain.demand, domain.demand.families
    family = demand.family[w]
    rates = _rates(domain, w, n)
    achieved = np.bincount(family, weights=rates, minlength=len(families))
    best = np.zeros(len(families))
    if demand.rate.size:
        np.maximum.at(best, demand.family, demand.rate.max(axis=1))
    short = np.zeros(len(families))
    breaches = []
    for f in range(len(families)):
        target, low = families.target[f], families.min[f]
        lost_count, lost_rate, where = 0, 0.0, None
        scope = int(domain.rules.survive[f])
        mine = family == f
        if scope != NO_SCOPE and mine.any() and (low > 0 or target > 0):
            places = np.asarray(domain.scopes.names(scope))[domain.scopes.code(scope)[n[mine]]]
            per_count = Counter(places.tolist())
            per_rate: Counter = Counter()
            for d, r in zip(places.tolist(), rates[mine].tolist(), strict=True):
                per_rate[d] += r
            measure = per_rate if target > 0 else per_count
            where = max(measure, key=lambda d: (measure[d], str(d)))
            lost_count, lost_rate = per_count[where], per_rate[where]
        if target > 0:
            missing = math.ceil(max(target - achieved[f] + lost_rate, 0) - 1e-9)
            short[f] = max(low - placed[f], 0) + missing / best[f]
            left, floor, unit = achieved[f] - lost_rate, target, f" {families.unit[f]}"
        else:
            short[f] = max(low - (placed[f] - lost_count), 0)
            left, floor, unit = placed[f] - lost_count, low, " replica(s)"
        if where is not None and left < floor - 1e-9:
            breaches.append(
                Violation(
                    "survive",
                    f"{families.ids[f]}: losing {SCOPES[scope]} {where} leaves {left:g}{unit}, "
                    f"less than {floor:g}, and the plan does not count it as a shortfall",
                )
            )
    return short, breaches


def _throughput(domain: Domain, plan: PlanFile, w: np.ndarray, n: np.ndarray) -> list[Violation]:
    """The plan's throughput figures match what its replicas reach."""
    families = domain.demand.families
    achieved = np.bincount(
        domain.demand.family[w], weights=_rates(domain, w, n), minlength=len(families)
    )
    stated = {t.workload: t for t in plan.throughput}
    out = []
    for f in np.flatnonzero(families.target > 0):
        wid = families.ids[f]
        entry = stated.get(wid)
        if entry is None:
            out.append(Violation("throughput", f"{wid}: the plan states no throughput"))
        elif abs(entry.achieved - achieved[f]) > COST_TOLERANCE * max(1.0, achieved[f]):
            out.append(
                Violation(
                    "throughput",
                    f"{wid}: plan states {entry.achieved:g} {entry.unit}, "
                    f"its replicas reach {achieved[f]:g}",
                )
            )
        elif entry.met and achieved[f] < families.target[f] - 1e-9:
            out.append(
                Violation(
                    "throughput",
                    f"{wid}: plan says the target {families.target[f]:g} is met, "
                    f"its replicas reach {achieved[f]:g}",
                )
            )
    return out


def _power_w(domain: Domain, w: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Watts per node: idle when anything runs on it, plus the busy-idle span times the
    share of its GPUs (of its CPU, if it has none) its replicas take."""
    fleet, demand = domain.fleet, domain.demand
    on = np.bincount(n, minlength=len(fleet)) > 0
    gpus = np.bincount(n, weights=demand.gpu_equivalents[w], minlength=len(fleet))
    cpu = np.bincount(n, weights=demand.cpu_m[w], minlength=len(fleet))
    share = np.where(
        fleet.gpus > 0, gpus / np.maximum(fleet.gpus, 1), cpu / np.maximum(fleet.cpu_m, 1)
    )
    return np.where(on, fleet.idle_w + (fleet.busy_w - fleet.idle_w) * share, 0.0)


def _price_per_wh(domain: Domain) -> np.ndarray:
    network = domain.network
    if network is None:
        return np.zeros(len(domain.fleet))
    return np.array(
        [
            network.energy_price.get(site, 0.0) * network.pue.get(site, 1.0) / 1000
            for site in domain.fleet.site
        ]
    )


def _stated_storage_cost(domain: Domain, plan: PlanFile) -> float:
    systems = domain.storage
    if systems is None:
        return 0.0
    return float(
        sum(
            systems.cost_per_tb_hour[systems.index[u.system]] * u.size_tb
            for u in plan.storage
            if u.system in systems.index
        )
    )


def _datacenter(
    domain: Domain, plan: PlanFile, w: np.ndarray, n: np.ndarray, placed: np.ndarray
) -> list[Violation]:
    """Datasets on storage of the right tier within capacity and read throughput; traffic
    within every link; power within every row and site cap; peer traffic within a site."""
    out = []
    demand, fleet, systems, network = domain.demand, domain.fleet, domain.storage, domain.network
    where: dict[str, int] = {}
    for k, use in enumerate(plan.storage):
        if use.workload not in demand.index:
            continue
        if systems is None or use.system not in systems.index:
            out.append(
                Violation(
                    "storage",
                    f"storage[{k}]: {use.workload}'s dataset is on "
                    f"unknown storage system {use.system!r}",
                )
            )
            continue
        if use.workload in where:
            out.append(Violation("storage", f"{use.workload}'s dataset is listed on two systems"))
        where[use.workload] = systems.index[use.system]
    choice = np.full(len(demand), -1, dtype=np.int64)
    for workload, s in where.items():
        choice[demand.index[workload]] = s
    for wi in np.flatnonzero(demand.dataset_tier >= 0):
        wid = demand.ids[wi]
        if placed[wi] and choice[wi] < 0:
            out.append(
                Violation(
                    "storage",
                    f"{wid} runs {placed[wi]} replica(s) but its dataset is on no storage system",
                )
            )
        elif choice[wi] >= 0:
            s = choice[wi]
            if systems.tier[s] < demand.dataset_tier[wi]:
                out.append(
                    Violation(
                        "storage",
                        f"{wid}'s dataset is on {systems.ids[s]}, of a "
                        "slower tier than it asks for",
                    )
                )
            stated = next(u.size_tb for u in plan.storage if u.workload == wid)
            if abs(stated - demand.dataset_tb[wi]) > 1e-9:
                out.append(
                    Violation(
                        "storage",
                        f"{wid}'s dataset is {demand.dataset_tb[wi]:g} "
                        f"TB, the plan stores {stated:g} TB",
                    )
                )
    if systems is not None and len(systems):
        on = choice >= 0
        size = np.bincount(choice[on], weights=demand.dataset_tb[on], minlength=len(systems))
        reads = np.bincount(
            choice[on], weights=(demand.read_mbps * placed)[on], minlength=len(systems)
        )
        for s in np.flatnonzero(size > systems.capacity_tb + 1e-9):
            out.append(
                Violation(
                    "storage_capacity",
                    f"{systems.ids[s]}: {size[s]:g} TB of "
                    f"datasets, capacity {systems.capacity_tb[s]:g} TB",
                )
            )
        for s in np.flatnonzero(reads > systems.read_mbps):
            out.append(
                Violation(
                    "storage_throughput",
                    f"{systems.ids[s]}: replicas read "
                    f"{reads[s] / 1000:g} Gbps, it serves "
                    f"{systems.read_mbps[s] / 1000:g} Gbps",
                )
            )
    if network is None:
        return out
    loads = np.zeros(len(network.links))
    for wi, ni in zip(w.tolist(), n.tolist(), strict=True):
        rack, spine = f"rack:{fleet.rack[ni]}", f"spine:{fleet.site[ni]}"
        if choice[wi] >= 0 and demand.read_mbps[wi]:
            route = network.route(systems.vertex[choice[wi]], rack)
            if -1 in route:
                out.append(
                    Violation(
                        "link",
                        f"{demand.ids[wi]} on {fleet.ids[ni]} cannot reach "
                        f"storage system {systems.ids[choice[wi]]}",
                    )
                )
                continue
            loads[list(route)] += demand.read_mbps[wi]
        if demand.interconnect_mbps[wi]:
            for route in (network.route(rack, spine), network.route(spine, rack)):
                loads[list(route)] += demand.interconnect_mbps[wi]
    for k in np.flatnonzero(loads > network.capacity_gbps * 1000 + 1e-6):
        out.append(
            Violation(
                "link",
                f"{network.link_name(k)}: {loads[k] / 1000:g} Gbps "
                f"routed, capacity {network.capacity_gbps[k]:g} Gbps",
            )
        )
    watts = _power_w(domain, w, n)
    for scope, key, caps in (
        ("site", fleet.site, network.site_power_cap_kw),
        ("row", fleet.row, network.row_power_cap_kw),
    ):
        for name, cap in caps.items():
            kw = watts[key == name].sum() / 1000
            if kw > cap + 1e-6:
                out.append(Violation("power", f"{scope} {name}: {kw:g} kW drawn, cap {cap:g} kW"))
    peers = np.flatnonzero(demand.interconnect_mbps > 0)
    for wi in peers:
        in_sites = set(fleet.site[n[w == wi]])
        if len(in_sites) > 1:
            out.append(
                Violation(
                    "one_site",
                    f"{demand.ids[wi]} exchanges traffic between "
                    f"replicas but runs in {len(in_sites)} sites",
                )
            )
    return out
