"""The online schedulers on any inventory, not only on traces.

Replicas arrive in the inventory's order (workload by workload, required replicas of a
workload before its optional ones) and each policy places them one at a time, as a
cluster scheduler would. GPU types a replica cannot use (by name, or because their
memory is too small) are folded into its allowed models. MIG instances are beyond what
these schedulers model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from allocator.domain.replicas import Replicas
from allocator.heuristics.greedy import choose_storage
from allocator.heuristics.online.policies import simulate
from allocator.interop.openb.trace import ArrivalSequence, OpenbNodes, OpenbTasks
from allocator.model.reduce import PackingInstance
from allocator.rules import selectors


class UnsupportedByPolicy(ValueError):
    """The inventory asks for something the online schedulers do not model."""


def online_placement(inst: PackingInstance, policy: str, seed: int = 0) -> Replicas:
    domain = inst.domain
    fleet, demand = domain.fleet, domain.demand
    if (demand.families.sizes > 1).any() or demand.families.by_target.any():
        raise UnsupportedByPolicy(
            f"the {policy} scheduler places fixed replica counts, not variants or "
            "throughput targets"
        )
    if (demand.mig_profile != "").any():
        raise UnsupportedByPolicy(f"the {policy} scheduler does not place MIG instances")
    if domain.network is not None or (demand.dataset_tier >= 0).any():
        raise UnsupportedByPolicy(
            f"the {policy} scheduler does not model storage, network or power limits"
        )
    if inst.pinned.any():
        raise UnsupportedByPolicy(
            f"the {policy} scheduler does not keep replicas on draining nodes"
        )
    t = domain.rules
    if (
        len(t.spread.f)
        or (t.survive >= 0).any()
        or t.gang.member.any()
        or len(t.relations.f)
        or t.dedicated
    ):
        raise UnsupportedByPolicy(
            f"the {policy} scheduler does not model workload rules (spread, survive, gangs, "
            "affinity, dedicated tenants)"
        )
    if (~selectors.allowed(fleet, demand)[:, fleet.state == "up"]).any():
        raise UnsupportedByPolicy(
            f"the {policy} scheduler does not model zones, regions, node labels or taints"
        )
    names = np.array([t.name for t in fleet.gpu_types] + [""], dtype=object)
    up = np.flatnonzero(fleet.state == "up")
    nodes = OpenbNodes(
        names=fleet.ids[up],
        cpu_milli=fleet.cpu_m[up],
        memory_mib=fleet.ram_mib[up],
        gpu_count=fleet.gpus[up],
        gpu_model=names[fleet.gpu_type[up]].astype(str),
    )
    workload = np.repeat(np.arange(len(demand)), demand.max)
    fraction = demand.gpu_milli > 0
    # GPU types each workload may use: by name and, through compatibility, by memory.
    usable = np.zeros((len(demand), len(fleet.gpu_types)), dtype=bool)
    for t in range(len(fleet.gpu_types)):
        on_type = np.flatnonzero(inst.groups.gpu_type == t)
        usable[:, t] = inst.compat[:, on_type].any(axis=1) if len(on_type) else False
    spec = np.array(
        [
            "|".join(str(n) for n in names[:-1][usable[w]]) if demand.uses_gpu[w] else ""
            for w in range(len(demand))
        ],
        dtype=object,
    )
    no_type = demand.uses_gpu & ~usable.any(axis=1)
    spec[no_type] = "-"  # a model no node has: the replica fits nowhere
    tasks = OpenbTasks(
        names=np.array([f"{demand.ids[w]}#{r}" for w, r in _replica_numbers(workload)]),
        cpu_milli=demand.cpu_m[workload],
        memory_mib=demand.ram_mib[workload],
        num_gpu=np.where(fraction, 1, demand.gpus)[workload],
        gpu_milli=np.where(fraction, demand.gpu_milli, np.where(demand.gpus > 0, 1000, 0))[
            workload
        ],
        gpu_spec=spec[workload].astype(str),
        creation_time=np.full(len(workload), -1, dtype=np.int64),
    )
    arrivals = ArrivalSequence(np.arange(len(workload)), np.arange(len(up)), len(workload), seed)
    result = simulate(nodes, tasks, arrivals, policy)
    placed = np.flatnonzero(result.placed)
    gpus = [row[row >= 0] for row in result.gpus[placed]]
    placement = Replicas.build(
        workload[placed], up[result.node[placed]], gpus, len(fleet), len(demand)
    ).sorted()
    return replace(placement, dataset_on=choose_storage(inst, placement))


def _replica_numbers(workload: np.ndarray) -> list[tuple[int, int]]:
    first = np.searchsorted(workload, workload)
    return list(zip(workload.tolist(), (np.arange(len(workload)) - first).tolist(), strict=True))
