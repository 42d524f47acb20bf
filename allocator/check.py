"""The independent plan checker.

It recomputes every constraint from the inventory and the plan alone: no builder, no
model, no solver. A plan that leaves the tool has passed it; `allocator check` runs it
on any plan file, including ones written by other tools or edited by hand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from allocator.domain import MIB_PER_GIB, MILLI, Domain
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

    known = []
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
            known.append((w_index[p.workload], n_index[p.node], p.replica))
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
    out += _host_rules(domain, w, n, np.array([t[2] for t in known], dtype=np.int64))
    out += _capacity(domain, w, n)
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


def _host_rules(
    domain: Domain, w: np.ndarray, n: np.ndarray, replica: np.ndarray
) -> list[Violation]:
    out = []
    fleet, demand = domain.fleet, domain.demand
    type_names = fleet.gpu_type_names
    for wi, ni, r in zip(w.tolist(), n.tolist(), replica.tolist(), strict=True):
        who = f"{demand.ids[wi]} replica {r} on {fleet.ids[ni]}"
        gpus = int(demand.gpus[wi])
        if gpus == 0:
            continue
        allowed = domain.allowed_type_names.get(str(demand.ids[wi]))
        if fleet.gpus[ni] == 0:
            out.append(Violation("gpu_type", f"{who}: needs {gpus} GPU(s), the node has none"))
            continue
        if allowed is not None and type_names[ni] not in allowed:
            out.append(
                Violation(
                    "gpu_type",
                    f"{who}: GPU type {type_names[ni]} is not one of {', '.join(allowed)}",
                )
            )
        if gpus > fleet.gpus[ni]:
            out.append(
                Violation(
                    "gpu_count",
                    f"{who}: needs {gpus} GPUs on one node, the node has {fleet.gpus[ni]}",
                )
            )
        if demand.gpu_mem_mib[wi] > gpus * fleet.gpu_memory_mib[ni]:
            out.append(
                Violation(
                    "gpu_memory",
                    f"{who}: needs {demand.gpu_mem_mib[wi] / MIB_PER_GIB:g}"
                    f" GiB over {gpus} GPU(s), {type_names[ni]} gives "
                    f"{gpus * fleet.gpu_memory_mib[ni] / MIB_PER_GIB:g} GiB",
                )
            )
    return out


def _capacity(domain: Domain, w: np.ndarray, n: np.ndarray) -> list[Violation]:
    out = []
    fleet, demand = domain.fleet, domain.demand
    for rule, need, have, unit, scale in (
        ("node_gpus", demand.gpus, fleet.gpus, "GPUs", 1),
        ("node_cpu", demand.cpu_m, fleet.cpu_m, "CPU cores", MILLI),
        ("node_ram", demand.ram_mib, fleet.ram_mib, "GiB RAM", MIB_PER_GIB),
    ):
        used = np.bincount(n, weights=need[w], minlength=len(fleet))
        for ni in np.flatnonzero(used > have):
            out.append(
                Violation(
                    rule,
                    f"node {fleet.ids[ni]}: {used[ni] / scale:g} {unit} "
                    f"placed, capacity {have[ni] / scale:g}",
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
