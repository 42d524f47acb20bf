"""A placement's figures: usage, cost, power, traffic, throughput and exposure, computed
once from the domain and the placement alone.

The plan file states them, the objective levels rank placements by them, the report
shows them, and diagnosis reads them: all through `Figures`. (The plan checker keeps its
own arithmetic on purpose, so that two separate computations must agree.)
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp

from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE
from allocator.domain.tables import Domain


class Figures:
    """Figures of one placement; each is computed on first use and kept."""

    def __init__(self, domain: Domain, placement: Replicas):
        self.domain = domain
        self.placement = placement

    # ------------------------------------------------------------------ per node

    @cached_property
    def counts(self) -> sp.csr_array:
        """(nodes x demand rows) replicas."""
        return self.placement.counts()

    @cached_property
    def in_use(self) -> np.ndarray:
        return self.placement.nodes_in_use()

    @cached_property
    def gpus_used(self) -> np.ndarray:
        """GPUs per node, a shared GPU counted by its replicas' shares."""
        return self.counts @ self.domain.demand.gpu_equivalents

    @cached_property
    def cpu_used_m(self) -> np.ndarray:
        return self.counts @ self.domain.demand.cpu_m

    @cached_property
    def ram_used_mib(self) -> np.ndarray:
        return self.counts @ self.domain.demand.ram_mib

    @cached_property
    def busy_share(self) -> np.ndarray:
        """Share of each node's GPUs in use (of its CPU, on a CPU-only node)."""
        fleet = self.domain.fleet
        gpu_share = self.gpus_used / np.maximum(fleet.gpus, 1)
        cpu_share = self.cpu_used_m / np.maximum(fleet.cpu_m, 1)
        return np.where(fleet.gpus > 0, gpu_share, cpu_share)

    @cached_property
    def power_w(self) -> np.ndarray:
        """Watts per node: idle when on, plus (busy - idle) times its busy share; 0 off."""
        fleet = self.domain.fleet
        busy = fleet.idle_w + (fleet.busy_w - fleet.idle_w) * self.busy_share
        return np.where(self.in_use, busy, 0.0)

    # ------------------------------------------------------------------ cost

    @cached_property
    def node_cost(self) -> float:
        return float(self.domain.fleet.cost[self.in_use].sum())

    @cached_property
    def storage_cost(self) -> float:
        choice, storage = self.placement.dataset_on, self.domain.storage
        if choice is None or storage is None or not (choice >= 0).any():
            return 0.0
        on = choice >= 0
        return float(
            (storage.cost_per_tb_hour[choice[on]] * self.domain.demand.dataset_tb[on]).sum()
        )

    @cached_property
    def energy_cost(self) -> float:
        return float(self.power_w @ self.domain.energy_price_per_wh)

    @cached_property
    def moved(self) -> np.ndarray:
        """Per demand row, replicas that run now and not on the same node in the plan."""
        leaving = (self.domain.running_now - self.counts).maximum(0)
        return np.asarray(leaving.sum(axis=0), dtype=np.int64).ravel()

    @cached_property
    def migration_cost(self) -> float:
        return float(self.domain.demand.move_cost @ self.moved)

    def cost_terms(self) -> dict[str, float]:
        """$/h of nodes in use, of stored datasets, of energy, and of moving replicas."""
        return {
            "node_cost_per_hour": self.node_cost,
            "storage_cost_per_hour": self.storage_cost,
            "energy_cost_per_hour": self.energy_cost,
            "migration_cost_per_hour": self.migration_cost,
        }

    @cached_property
    def attributed_cost(self) -> np.ndarray:
        """Per demand row, the node cost its replicas take by their share of each node's
        GPUs (of its CPU on a CPU-only node); what is left of a running node is idle."""
        fleet, demand, p = self.domain.fleet, self.domain.demand, self.placement
        n = p.node
        share = np.where(
            fleet.gpus[n] > 0,
            demand.gpu_equivalents[p.workload] / np.maximum(fleet.gpus[n], 1),
            demand.cpu_m[p.workload] / np.maximum(fleet.cpu_m[n], 1),
        )
        return np.bincount(p.workload, weights=share * fleet.cost[n], minlength=len(demand))

    # ------------------------------------------------------------------ per workload

    @cached_property
    def placed(self) -> np.ndarray:
        """Replicas placed per workload (over its rows)."""
        return self.domain.demand.families.total(self.placement.placed())

    @cached_property
    def replica_rates(self) -> np.ndarray:
        """Throughput of each replica: its row's rate on its node's GPU type."""
        rate, p = self.domain.demand.rate, self.placement
        gpu_type = self.domain.fleet.gpu_type[p.node]
        if rate.shape[1] == 0:
            return np.zeros(len(p))
        return np.where(gpu_type >= 0, rate[p.workload, np.maximum(gpu_type, 0)], 0.0)

    @cached_property
    def throughput(self) -> np.ndarray:
        """Per workload, the throughput its placed replicas reach together."""
        demand = self.domain.demand
        return np.bincount(
            demand.family[self.placement.workload],
            weights=self.replica_rates,
            minlength=len(demand.families),
        )

    @cached_property
    def loss(self) -> tuple[np.ndarray, np.ndarray]:
        """Per workload that must survive losing a place (node, rack, zone...): the
        replicas and the throughput the worst single loss takes away (0 for the others)."""
        return self._worst_loss[:2]

    @cached_property
    def worst_place(self) -> np.ndarray:
        """Per workload that must survive a loss, the place code whose loss takes most of
        its replicas (of its throughput, with a target); -1 for the others."""
        return self._worst_loss[2]

    @cached_property
    def _worst_loss(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        domain = self.domain
        families = domain.demand.families
        replicas, rate = np.zeros(len(families)), np.zeros(len(families))
        where = np.full(len(families), -1, dtype=np.int64)
        survive = domain.rules.survive
        of = domain.demand.family[self.placement.workload]
        mine = (survive[of] != NO_SCOPE) & families.required[of]
        if not mine.any():
            return replicas, rate, where
        f = of[mine]
        place = domain.scopes.table[self.placement.node[mine], survive[f]]
        keys, inverse = np.unique(np.stack([f, place]), axis=1, return_inverse=True)
        count = np.bincount(inverse.ravel(), minlength=keys.shape[1])
        lost = np.bincount(
            inverse.ravel(), weights=self.replica_rates[mine], minlength=keys.shape[1]
        )
        np.maximum.at(replicas, keys[0], count)
        np.maximum.at(rate, keys[0], lost)
        # The worst place: by throughput for a target, else by replicas; then the last.
        measure = np.where(families.by_target[keys[0]], lost, count)
        order = np.lexsort((-keys[1], -measure, keys[0]))
        first = order[np.searchsorted(keys[0][order], np.unique(keys[0]))]
        where[keys[0][first]] = keys[1][first]
        return replicas, rate, where

    @cached_property
    def shortfall(self) -> np.ndarray:
        """Per workload, required replicas unplaced plus throughput missing (in replicas
        of its fastest kind), after the worst loss it must survive."""
        families = self.domain.demand.families
        return families.hard_shortfall(self.placed, self.throughput, self.loss)

    def objective_terms(self) -> dict[str, float]:
        """The objective's terms; `cost_per_hour` is nodes + storage + weighted energy +
        moves; with priority classes, unplaced priority per class too."""
        domain = self.domain
        demand = domain.demand
        families = demand.families
        unplaced = families.counted_priority * (families.max - self.placed)
        by_class = {}
        if len(domain.objective.priority_classes):
            rank = demand.class_rank[families.first_row]
            for name, r in zip(domain.priority_classes, sorted(set(rank.tolist())), strict=True):
                by_class[f"unplaced_priority:{name}"] = float(unplaced[rank == r].sum())
        costs = self.cost_terms()
        return {
            **by_class,
            "hard_shortfall": float(families.priority @ self.shortfall),
            "unplaced_priority": float(unplaced.sum()),
            "cost_per_hour": costs["node_cost_per_hour"]
            + costs["storage_cost_per_hour"]
            + domain.objective.weights.energy * costs["energy_cost_per_hour"]
            + costs["migration_cost_per_hour"],
            **costs,
        }

    # ------------------------------------------------------------------ data center

    @cached_property
    def storage_reads_mbps(self) -> np.ndarray:
        """Read throughput each storage system serves."""
        storage, choice = self.domain.storage, self.placement.dataset_on
        if storage is None or choice is None:
            return np.zeros(0 if storage is None else len(storage))
        on = choice >= 0
        reads = self.domain.demand.read_mbps * self.placement.placed()
        return np.bincount(choice[on], weights=reads[on], minlength=len(storage))

    @cached_property
    def link_loads_mbps(self) -> np.ndarray:
        """Traffic on every directed link: dataset reads routed from storage to each
        replica's rack, and each replica's peer traffic up and down its rack's uplink.
        Routes are looked up once per distinct (source, rack), not per replica."""
        network = self.domain.network
        if network is None:
            return np.zeros(0)
        domain, p = self.domain, self.placement
        demand, fleet = domain.demand, domain.fleet
        loads = np.zeros(len(network.links))
        rack, site = fleet.rack.astype(str)[p.node], fleet.site.astype(str)[p.node]
        choice = p.dataset_on
        if choice is not None and domain.storage is not None:
            reads = (choice[p.workload] >= 0) & (demand.read_mbps[p.workload] > 0)
            vertex = domain.storage.vertex[choice[p.workload[reads]]]
            _add_routes(
                loads,
                network,
                vertex,
                "rack:" + rack[reads].astype(object),
                demand.read_mbps[p.workload[reads]],
            )
        peers = demand.interconnect_mbps[p.workload] > 0
        racks = "rack:" + rack[peers].astype(object)
        spines = "spine:" + site[peers].astype(object)
        mbps = demand.interconnect_mbps[p.workload[peers]]
        _add_routes(loads, network, racks, spines, mbps)
        _add_routes(loads, network, spines, racks, mbps)
        return loads

    def power_by(self, key: np.ndarray) -> dict[str, float]:
        """kW drawn per value of a node attribute (row, site), "-" left out."""
        watts = np.bincount(
            np.unique(key.astype(str), return_inverse=True)[1].ravel(), weights=self.power_w
        )
        names = np.unique(key.astype(str))
        return {str(k): float(w / 1000) for k, w in zip(names, watts, strict=True) if k != "-"}


def _add_routes(
    loads: np.ndarray, network: object, source: np.ndarray, target: np.ndarray, mbps: np.ndarray
) -> None:
    """Add mbps[k] to every link on the route source[k] -> target[k]."""
    if not len(source):
        return
    pairs, of = np.unique(
        np.stack([source.astype(str), target.astype(str)]), axis=1, return_inverse=True
    )
    per_pair = np.bincount(of.ravel(), weights=mbps, minlength=pairs.shape[1])
    for (u, v), amount in zip(pairs.T.tolist(), per_pair.tolist(), strict=True):
        loads[list(network.route(u, v))] += amount
