"""Limits that replicas share across nodes, tracked while a heuristic places them.

Node capacities are checked node by node; these are not: the read throughput and space
of storage systems, the bandwidth of every link a replica's traffic crosses, the power a
row or a site may draw, and keeping a workload that exchanges traffic between replicas in
one site. `fit` says how many replicas of a workload a node can still take under them,
`take` uses them up.
"""

from __future__ import annotations

import numpy as np

from allocator.domain.replicas import Replicas
from allocator.domain.tables import Domain

_MANY = 2**40


def _fits(left: float, each: float) -> int:
    """How many of `each` fit in `left`; an unlimited budget (inf) caps nothing."""
    return _MANY if not np.isfinite(left) else int(left // each)


class Budgets:
    def __init__(self, domain: Domain):
        self.domain = domain
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
        self.gpu_equivalents = demand.gpu_equivalents
        self.power: dict[tuple[str, str], float] = {}
        if network is not None:
            self.power.update({("row", k): v * 1000 for k, v in network.row_power_cap_kw.items()})
            self.power.update({("site", k): v * 1000 for k, v in network.site_power_cap_kw.items()})

    def _share(self, w: int, n: int) -> float:
        fleet, demand = self.domain.fleet, self.domain.demand
        if fleet.gpus[n]:
            return self.gpu_equivalents[w] / fleet.gpus[n]
        return demand.cpu_m[w] / max(fleet.cpu_m[n], 1)

    def _storage_for(self, w: int) -> int:
        """The workload's storage system, chosen at its first replica (-1: none fits)."""
        demand, systems = self.domain.demand, self.domain.storage
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
        domain = self.domain
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
        return self._limit(w, n)[0]

    def blocker(self, w: int, n: int) -> str | None:
        """The shared limit that keeps another replica of w off node n, in words."""
        count, why = self._limit(w, n)
        return why if count < 1 else None

    def _limit(self, w: int, n: int) -> tuple[int, str | None]:
        if not self.active and not self.power:
            return _MANY, None
        domain = self.domain
        demand, fleet, systems, network = (
            domain.demand,
            domain.fleet,
            domain.storage,
            domain.network,
        )
        best, why = _MANY, None

        def cap(count: int, reason: str) -> None:
            nonlocal best, why
            if count < best:
                best, why = count, reason

        if demand.dataset_tier[w] >= 0:
            s = self._storage_for(w)
            if s < 0:
                return 0, (
                    f"no storage system of tier {demand.dataset_tier[w]} or faster has "
                    f"{demand.dataset_tb[w]:g} TB and the read throughput left"
                )
            if demand.read_mbps[w]:
                cap(
                    _fits(self.reads[s], demand.read_mbps[w]),
                    f"storage system {systems.ids[s]} has no read throughput left",
                )
        if demand.interconnect_mbps[w] and self.site_of[w] and self.site_of[w] != fleet.site[n]:
            return 0, f"its replicas exchange traffic and run in site {self.site_of[w]}"
        for links, mbps in self._routes(w, n):
            if -1 in links:
                return 0, "its storage cannot be reached over the network"
            if links:
                tight = min(links, key=lambda k: self.links[k])
                cap(_fits(self.links[tight], mbps), f"link {network.link_name(tight)} is full")
        watts = self.span[n] * self._share(w, n)
        switch_on = 0.0 if self.on[n] else fleet.idle_w[n]
        for key in (("row", fleet.row[n]), ("site", fleet.site[n])):
            if key in self.power:
                left = self.power[key] - switch_on
                count = -1 if left < 0 else (int(left // watts) if watts > 0 else _MANY)
                cap(count, f"the power cap of {key[0]} {key[1]} is reached")
        return max(best, 0), why

    def take(self, w: int, n: int, count: int) -> None:
        if count <= 0:
            return
        if not self.active and not self.power:  # nothing shared is limited
            self.on[n] = True
            return
        domain = self.domain
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

    def replay(self, placement: Replicas) -> Budgets:
        """Use up the limits as a finished placement does (with its storage choice)."""
        if placement.dataset_on is not None:
            for w in np.flatnonzero(placement.dataset_on >= 0):
                self.choice[w] = placement.dataset_on[w]
                self.space[self.choice[w]] -= self.domain.demand.dataset_tb[w]
        for w, n in zip(placement.workload.tolist(), placement.node.tolist(), strict=True):
            self.take(w, n, 1)
        return self

    def blockers(self, w: int, nodes: np.ndarray, look: int = 50) -> list[str]:
        """The distinct shared limits that keep w off the first `look` of `nodes`."""
        found: list[str] = []
        for n in nodes[:look].tolist():
            why = self.blocker(w, n)
            if why and why not in found:
                found.append(why)
        return found
