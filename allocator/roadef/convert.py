"""A ROADEF instance and its initial assignment as a generic reassignment.

Machines become nodes, processes replicas, services workloads, locations spread domains,
neighborhoods dependency domains, safety capacities soft capacities; the challenge's
global weights are folded into the per-term costs so the two objectives are equal. Names
are the challenge's indices: resource r0, machine m0, service s0, process p0.
"""

from __future__ import annotations

import numpy as np

from allocator.reassign.model import Reassignment
from allocator.roadef.instance import RoadefInstance


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
