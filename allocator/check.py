"""The independent plan checker.

It recomputes every constraint from the inventory and the plan alone: no builder, no
model, no solver. A plan that leaves the tool has passed it; `allocator check` runs it
on any plan file, including ones written by other tools or edited by hand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from allocator.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.domain import MIB_PER_GIB, MILLI, NODE_RESOURCES, Domain, to_mib
from allocator.plan import PlanFile, moves_against

COST_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def check_plan(domain: Domain, plan: PlanFile) -> list[Violation]:
    """Every way the plan breaks the inventory's rules; empty when it is valid."""
    out: list[Violation] = []
    fleet, demand = domain.fleet, domain.demand
    w_index, n_index = demand.index, fleet.index

    known: list[tuple[int, int, int, list[int]]] = []
    seen: Counter[tuple[str, int]] = Counter()
    for k, p in enumerate(plan.placements):
        seen[(p.workload, p.replica)] += 1
        if p.workload not in w_index:
            out.append(
                Violation(
                    "unknown_workload",
                    f"placements[{k}]: workload {p.workload!r} is not in the inventory",
                )
            )
        elif p.node not in n_index:
            out.append(
                Violation(
                    "unknown_node", f"placements[{k}]: node {p.node!r} is not in the inventory"
                )
            )
        else:
            known.append((w_index[p.workload], n_index[p.node], p.replica, list(p.gpus)))
    for k, u in enumerate(plan.unplaced):
        seen[(u.workload, u.replica)] += 1
        if u.workload not in w_index:
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
    out = []
    demand = domain.demand
    listed = Counter(u.workload for u in plan.unplaced)
    required_listed = Counter(u.workload for u in plan.unplaced if u.required)
    for i, wid in enumerate(demand.ids):
        lo, hi = int(demand.min[i]), int(demand.max[i])
        if placed[i] > hi:
            out.append(
                Violation("replica_count", f"{wid}: {placed[i]} replicas placed, max is {hi}")
            )
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
        i = demand.index.get(p.workload)
        if i is not None and p.replica >= demand.max[i]:
            out.append(
                Violation(
                    "replica_count",
                    f"{p.workload} replica {p.replica} is beyond max {demand.max[i]} (entry {k})",
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
    before: Counter[tuple[int, int]] = Counter()
    for workload, nodes in domain.current.items():
        for node_id in nodes:
            before[(demand.index[workload], fleet.index[node_id])] += 1
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
        elif state == "draining" and count > before[(wi, ni)]:
            out.append(
                Violation(
                    "node_state",
                    f"node {fleet.ids[ni]} is draining but gets "
                    f"{count - before[(wi, ni)]} new replica(s) of {demand.ids[wi]}",
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
    recomputed = {
        "cost_per_hour": float(fleet.cost[in_use].sum()),
        "unplaced_priority": float(demand.priority @ (demand.max - np.minimum(placed, demand.max))),
        "hard_shortfall": float(demand.priority @ np.maximum(demand.min - placed, 0)),
    }
    for name, value in recomputed.items():
        stated = getattr(plan.objective, name)
        if abs(stated - value) > COST_TOLERANCE * max(1.0, abs(value)):
            out.append(
                Violation(
                    f"objective_{name}",
                    f"plan states {name} = {stated:g}, the placement gives {value:g}",
                )
            )
    return out
