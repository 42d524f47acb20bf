"""Limits that replicas share across nodes, tracked while a heuristic places them.

Node capacities are checked node by node; these are not: the read throughput and space
of storage systems, the bandwidth of every link a replica's traffic crosses, the power a
row or a site may draw, and keeping a workload that exchanges traffic between replicas in
one site. `fit` says how many replicas of a workload a node can still take under them,
`take` uses them up.
"""

from __future__ import annotations

import numpy as np

from allocator.build.reduce import PackingInstance

_MANY = 2**40


class Budgets:
    def __init__(self, inst: PackingInstance):
        domain = inst.domain
        self.inst = inst
        fleet, demand, systems, network = (
            domain.fleet,
            domain.demand,
            domain.storage,
            domain.network,
        )
        self.active = network is not None or (
            systems is not None and len(systems) > 0 and (demand.dataset_tier >= 0).any()
        )
        self.choice = np.full(len(demand), -1, dtype=np.int64)
        self.site_of = np.full(len(demand), "", dtype=object)
        self.on = np.zeros(len(fleet), dtype=bool)
        n_sys = 0 if systems is None else len(systems)
        self.space = systems.capacity_tb.astype(float).copy() if n_sys else np.zeros(0)
        self.reads = systems.read_mbps.astype(float).copy() if n_sys else np.zeros(0)
        self.links = network.capacity_gbps * 1000.0 if network is not None else np.zeros(0)
        self.span = fleet.busy_w - fleet.idle_w
        self.power: dict[tuple[str, str], float] = {}
        if network is not None:
            self.power.update({("row", k): v * 1000 for k, v in network.row_power_cap_kw.items()})
            self.power.update({("site", k): v * 1000 for k, v in network.site_power_cap_kw.items()})

    def _share(self, w: int, n: int) -> float:
        fleet, demand = self.inst.domain.fleet, self.inst.domain.demand
        if fleet.gpus[n]:
            return demand.gpu_equivalents[w] / fleet.gpus[n]
        return demand.cpu_m[w] / max(fleet.cpu_m[n], 1)

    def _storage_for(self, w: int) -> int:
        """The workload's storage system, chosen at its first replica (-1: none fits)."""
        demand, systems = self.inst.domain.demand, self.inst.domain.storage
        if self.choice[w] >= 0 or demand.dataset_tier[w] < 0:
            return self.choice[w]
        eligible = np.flatnonzero(
            (systems.tier >= demand.dataset_tier[w])
            & (self.space >= demand.dataset_tb[w])
            & (self.reads >= demand.read_mbps[w])
        )
        if len(eligible) == 0:
            return -1
        return int(eligible[np.argmin(systems.cost_per_tb_hour[eligible])])

    def _routes(self, w: int, n: int) -> list[tuple[tuple[int, ...], float]]:
        """(links, Mbps per replica) the replica's traffic takes from node n."""
        domain = self.inst.domain
        network, demand, fleet = domain.network, domain.demand, domain.fleet
        if network is None:
            return []
        routes = []
        rack, spine = f"rack:{fleet.rack[n]}", f"spine:{fleet.site[n]}"
        s = self._storage_for(w)
        if s >= 0 and demand.read_mbps[w]:
            routes.append((network.route(domain.storage.vertex[s], rack), demand.read_mbps[w]))
        if demand.interconnect_mbps[w]:
            routes.append((network.route(rack, spine), demand.interconnect_mbps[w]))
            routes.append((network.route(spine, rack), demand.interconnect_mbps[w]))
        return routes

    def fit(self, w: int, n: int) -> int:
        """Most replicas of w node n can take under the shared limits."""
        if not self.active and not self.power:
            return _MANY
        domain = self.inst.domain
        demand, fleet = domain.demand, domain.fleet
        best = _MANY
        if demand.dataset_tier[w] >= 0:
            s = self._storage_for(w)
            if s < 0:
                return 0
            if demand.read_mbps[w]:
                best = min(best, int(self.reads[s] // demand.read_mbps[w]))
        if demand.interconnect_mbps[w] and self.site_of[w] and self.site_of[w] != fleet.site[n]:
            return 0
        for links, mbps in self._routes(w, n):
            if -1 in links:
                return 0
            if links:
                best = min(best, int(self.links[list(links)].min() // mbps))
        watts = self.span[n] * self._share(w, n)
        switch_on = 0.0 if self.on[n] else fleet.idle_w[n]
        for key in (("row", fleet.row[n]), ("site", fleet.site[n])):
            if key in self.power:
                left = self.power[key] - switch_on
                if left < 0:
                    return 0
                best = min(best, int(left // watts) if watts > 0 else best)
        return max(best, 0)

    def take(self, w: int, n: int, count: int) -> None:
        if count <= 0:
            return
        domain = self.inst.domain
        demand, fleet = domain.demand, domain.fleet
        if demand.dataset_tier[w] >= 0:
            s = self._storage_for(w)
            if self.choice[w] < 0:
                self.choice[w] = s
                self.space[s] -= demand.dataset_tb[w]
            self.reads[s] -= count * demand.read_mbps[w]
        for links, mbps in self._routes(w, n):
            if links:
                self.links[list(links)] -= count * mbps
        if demand.interconnect_mbps[w]:
            self.site_of[w] = fleet.site[n]
        watts = count * self.span[n] * self._share(w, n) + (0.0 if self.on[n] else fleet.idle_w[n])
        for key in (("row", fleet.row[n]), ("site", fleet.site[n])):
            if key in self.power:
                self.power[key] -= watts
        self.on[n] = True
