"""A ROADEF instance and its initial assignment as a generic reassignment.

Machines become nodes, processes replicas, services workloads, locations spread domains,
neighborhoods dependency domains, safety capacities soft capacities; the challenge's
global weights are folded into the per-term costs so the two objectives are equal. Names
are the challenge's indices: resource r0, machine m0, service s0, process p0.
"""

from __future__ import annotations

import numpy as np

from allocator.interop.roadef.instance import RoadefInstance
from allocator.reassign.model import Reassignment


def to_reassignment(instance: RoadefInstance, initial: np.ndarray) -> Reassignment:
    inst = instance
    return Reassignment(
        resources=tuple(f"r{r}" for r in range(inst.num_resources)),
        transient=inst.transient.astype(bool),
        load_weight=inst.load_cost_weight.astype(np.int64),
        capacity=inst.capacity,
        soft_capacity=inst.safety_capacity,
        spread_domain=inst.location,
        dependency_domain=inst.neighborhood,
        node_move_cost=inst.machine_move_weight * inst.machine_move_cost,
        min_domains=inst.spread_min,
        dependencies=inst.dependency_pairs,
        workload=inst.service,
        need=inst.requirement,
        current=np.asarray(initial, dtype=np.int64),
        replica_move_cost=inst.process_move_weight * inst.process_move_cost,
        workload_move_weight=int(inst.service_move_weight),
        balance_first=inst.balance_resource1,
        balance_second=inst.balance_resource2,
        balance_target=inst.balance_target,
        balance_weight=inst.balance_weight,
        node_names=tuple(f"m{m}" for m in range(inst.num_machines)),
        workload_names=tuple(f"s{s}" for s in range(inst.num_services)),
        replica_names=tuple(f"p{p}" for p in range(inst.num_processes)),
    )


def solution_from_plan(assignment: dict[str, str], num_processes: int) -> np.ndarray:
    """Machine index per process from a reassignment plan's `assignment` (replica ->
    node) of an imported instance, whose names keep the challenge's indices (p<k>, m<k>).
    Raises ValueError naming the first replica or node that does not fit."""
    expected = {f"p{p}" for p in range(num_processes)}
    missing = sorted(expected - assignment.keys(), key=lambda n: int(n[1:]))
    if missing:
        raise ValueError(f"the plan does not place process {missing[0]!r}")
    extra = sorted(assignment.keys() - expected)
    if extra:
        raise ValueError(f"the plan places {extra[0]!r}, which is not p0..p{num_processes - 1}")
    out = np.empty(num_processes, dtype=np.int64)
    for replica, node in assignment.items():
        if not (node[:1] == "m" and node[1:].isdigit()):
            raise ValueError(f"{replica} runs on {node!r}, not a machine name m<index>")
        out[int(replica[1:])] = int(node[1:])
    return out
