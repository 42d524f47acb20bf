"""What a placement draws from the data center: power, energy cost, storage, link traffic.

Computed from the domain and a placement alone, for objective values, plans and reports.
(The plan checker keeps its own arithmetic, so that it stays independent.)
"""

from __future__ import annotations

import numpy as np

from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE
from allocator.domain.tables import Domain


def node_power_w(domain: Domain, placement: Replicas) -> np.ndarray:
    """Watts per node: idle when on, plus (busy - idle) times the share of its GPUs in use
    (of its CPU, on a CPU-only node); 0 when off."""
    fleet, demand = domain.fleet, domain.demand
    counts = placement.counts()
    gpu_share = (counts @ demand.gpu_equivalents) / np.maximum(fleet.gpus, 1)
    cpu_share = (counts @ demand.cpu_m) / np.maximum(fleet.cpu_m, 1)
    share = np.where(fleet.gpus > 0, gpu_share, cpu_share)
    on = placement.nodes_in_use()
    return np.where(on, fleet.idle_w + (fleet.busy_w - fleet.idle_w) * share, 0.0)


def energy_price_per_wh(domain: Domain) -> np.ndarray:
    """$ per watt-hour of IT power for each node: site price x PUE (0 without a topology)."""
    network = domain.network
    if network is None:
        return np.zeros(len(domain.fleet))
    return np.array(
        [
            network.energy_price.get(s, 0.0) * network.pue.get(s, 1.0) / 1000.0
            for s in domain.fleet.site.astype(str)
        ]
    )


def storage_cost_per_hour(domain: Domain, placement: Replicas) -> float:
    choice = placement.dataset_on
    if choice is None or domain.storage is None or not (choice >= 0).any():
        return 0.0
    on = choice >= 0
    return float((domain.storage.cost_per_tb_hour[choice[on]] * domain.demand.dataset_tb[on]).sum())


def moved_replicas(domain: Domain, placement: Replicas) -> np.ndarray:
    """Per workload, replicas that run now and not on the same node in the plan."""
    leaving = (domain.running_now - placement.counts()).maximum(0)
    return np.asarray(leaving.sum(axis=0), dtype=np.int64).ravel()


def cost_terms(domain: Domain, placement: Replicas) -> dict[str, float]:
    """$/h of nodes in use, of stored datasets, of energy, and of moving replicas."""
    in_use = placement.nodes_in_use()
    return {
        "node_cost_per_hour": float(domain.fleet.cost[in_use].sum()),
        "storage_cost_per_hour": storage_cost_per_hour(domain, placement),
        "energy_cost_per_hour": float(
            node_power_w(domain, placement) @ energy_price_per_wh(domain)
        ),
        "migration_cost_per_hour": float(
            domain.demand.move_cost @ moved_replicas(domain, placement)
        ),
    }


def throughput_achieved(domain: Domain, placement: Replicas) -> np.ndarray:
    """Per workload, the throughput its placed replicas reach together."""
    demand = domain.demand
    return np.bincount(
        demand.family[placement.workload],
        weights=_replica_rates(domain, placement),
        minlength=len(demand.families),
    )


def loss_exposure(domain: Domain, placement: Replicas) -> tuple[np.ndarray, np.ndarray]:
    """Per workload that must survive losing a node (rack, zone...): the replicas and the
    throughput the worst single loss takes away (0 for the others)."""
    families = domain.demand.families
    replicas, throughput = np.zeros(len(families)), np.zeros(len(families))
    survive = domain.rules.survive
    of = domain.demand.family[placement.workload]
    mine = (survive[of] != NO_SCOPE) & families.required[of]
    if not mine.any():
        return replicas, throughput
    rates = _replica_rates(domain, placement)[mine]
    f = of[mine]
    place = domain.scopes.table[placement.node[mine], survive[f]]
    keys, inverse = np.unique(np.stack([f, place]), axis=1, return_inverse=True)
    count = np.bincount(inverse.ravel(), minlength=keys.shape[1])
    rate = np.bincount(inverse.ravel(), weights=rates, minlength=keys.shape[1])
    np.maximum.at(replicas, keys[0], count)
    np.maximum.at(throughput, keys[0], rate)
    return replicas, throughput


def _replica_rates(domain: Domain, placement: Replicas) -> np.ndarray:
    rate = domain.demand.rate
    gpu_type = domain.fleet.gpu_type[placement.node]
    if rate.shape[1] == 0:
        return np.zeros(len(placement))
    return np.where(gpu_type >= 0, rate[placement.workload, np.maximum(gpu_type, 0)], 0.0)


def link_loads_mbps(domain: Domain, placement: Replicas) -> np.ndarray:
    """Traffic on every directed link: dataset reads routed from storage to each replica's
    rack, and each replica's peer traffic up and down its rack's uplink."""
    network = domain.network
    if network is None:
        return np.zeros(0)
    demand, fleet = domain.demand, domain.fleet
    loads = np.zeros(len(network.links))
    racks, sites = fleet.rack.astype(str), fleet.site.astype(str)
    choice = placement.dataset_on
    for w, n in zip(placement.workload.tolist(), placement.node.tolist(), strict=True):
        rack = f"rack:{racks[n]}"
        if choice is not None and choice[w] >= 0 and demand.read_mbps[w]:
            route = network.route(domain.storage.vertex[choice[w]], rack)
            loads[list(route)] += demand.read_mbps[w]
        if demand.interconnect_mbps[w]:
            spine = f"spine:{sites[n]}"
            for route in (network.route(rack, spine), network.route(spine, rack)):
                loads[list(route)] += demand.interconnect_mbps[w]
    return loads
