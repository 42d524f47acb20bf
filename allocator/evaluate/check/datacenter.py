"""Storage, network and power: datasets on storage of the right tier within capacity and
read throughput, traffic within every link, power within every row and site cap, and
workloads that exchange traffic between replicas kept within one site."""

from __future__ import annotations

import numpy as np

from allocator.domain.tables import Domain
from allocator.domain.topology import Network
from allocator.evaluate.check.entries import PlanReplicas
from allocator.output.plan import PlanFile
from allocator.rules.base import Violation


def dataset_choice(domain: Domain, plan: PlanFile) -> tuple[np.ndarray, list[Violation]]:
    """The storage system of each demand row's dataset as the plan states it (-1: none),
    and the storage entries that name unknown systems or list a dataset twice."""
    demand, systems = domain.demand, domain.storage
    out = []
    choice = np.full(len(demand), -1, dtype=np.int64)
    listed = set()
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
        if use.workload in listed:
            out.append(Violation("storage", f"{use.workload}'s dataset is listed on two systems"))
        listed.add(use.workload)
        choice[demand.index[use.workload]] = systems.index[use.system]
    return choice, out


def storage(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    demand, systems = domain.demand, domain.storage
    choice, out = dataset_choice(domain, plan)
    placed = np.bincount(known.row, minlength=len(demand))
    stated_size = {u.workload: u.size_tb for u in plan.storage}
    for wi in np.flatnonzero(demand.dataset_tier >= 0):
        wid = demand.ids[wi]
        if placed[wi] and choice[wi] < 0:
            out.append(
                Violation(
                    "storage",
                    f"{wid} runs {placed[wi]} replica(s) but its dataset is on no storage system",
                )
            )
        elif choice[wi] >= 0 and systems is not None:
            if systems.tier[choice[wi]] < demand.dataset_tier[wi]:
                out.append(
                    Violation(
                        "storage",
                        f"{wid}'s dataset is on {systems.ids[choice[wi]]}, of a slower tier "
                        "than it asks for",
                    )
                )
            stated = stated_size[str(wid)]
            if not abs(stated - demand.dataset_tb[wi]) <= 1e-9:
                out.append(
                    Violation(
                        "storage",
                        f"{wid}'s dataset is {demand.dataset_tb[wi]:g} TB, the plan stores "
                        f"{stated:g} TB",
                    )
                )
    if systems is None or not len(systems):
        return out
    on = choice >= 0
    size = np.bincount(choice[on], weights=demand.dataset_tb[on], minlength=len(systems))
    reads = np.bincount(choice[on], weights=(demand.read_mbps * placed)[on], minlength=len(systems))
    out += [
        Violation(
            "storage_capacity",
            f"{systems.ids[s]}: {size[s]:g} TB of datasets, capacity {systems.capacity_tb[s]:g} TB",
        )
        for s in np.flatnonzero(size > systems.capacity_tb + 1e-9)
    ]
    out += [
        Violation(
            "storage_throughput",
            f"{systems.ids[s]}: replicas read {reads[s] / 1000:g} Gbps, it serves "
            f"{systems.read_mbps[s] / 1000:g} Gbps",
        )
        for s in np.flatnonzero(reads > systems.read_mbps)
    ]
    return out


def link_loads(
    domain: Domain, plan: PlanFile, known: PlanReplicas
) -> tuple[np.ndarray, list[Violation]]:
    """Mbps on every directed link: dataset reads from storage to each replica's rack, and
    peer traffic up and down its rack's uplink; and replicas whose storage is unreachable.
    Each distinct (source, target) is routed once."""
    network, demand, fleet = domain.network, domain.demand, domain.fleet
    if network is None:
        return np.zeros(0), []
    choice, _ = dataset_choice(domain, plan)
    w, n = known.row, known.node
    rack = np.array([f"rack:{r}" for r in fleet.rack], dtype=object)[n]
    spine = np.array([f"spine:{s}" for s in fleet.site], dtype=object)[n]
    loads = np.zeros(len(network.links))
    out = []
    reads = (choice[w] >= 0) & (demand.read_mbps[w] > 0)
    if reads.any() and domain.storage is not None:
        vertex = domain.storage.vertex[choice[w[reads]]]
        unreachable = _route(loads, network, vertex, rack[reads], demand.read_mbps[w[reads]])
        for k in np.flatnonzero(reads)[unreachable]:
            out.append(
                Violation(
                    "link",
                    f"{demand.ids[w[k]]} on {fleet.ids[n[k]]} cannot reach storage system "
                    f"{domain.storage.ids[choice[w[k]]]}",
                )
            )
    peers = demand.interconnect_mbps[w] > 0
    mbps = demand.interconnect_mbps[w[peers]]
    _route(loads, network, rack[peers], spine[peers], mbps)
    _route(loads, network, spine[peers], rack[peers], mbps)
    return loads, out


def _route(
    loads: np.ndarray, network: Network, source: np.ndarray, target: np.ndarray, mbps: np.ndarray
) -> np.ndarray:
    """Add mbps[k] to the links from source[k] to target[k]; which k have no route."""
    if not len(source):
        return np.zeros(0, dtype=bool)
    pairs, of = np.unique(
        np.stack([source.astype(str), target.astype(str)]), axis=1, return_inverse=True
    )
    of = of.ravel()
    routes = [network.route(u, v) for u, v in pairs.T.tolist()]
    reachable = np.array([-1 not in route for route in routes], dtype=bool)
    per_pair = np.bincount(of, weights=np.where(reachable[of], mbps, 0), minlength=len(routes))
    for route, amount in zip(routes, per_pair.tolist(), strict=True):
        if -1 not in route:
            loads[list(route)] += amount
    return ~reachable[of]


def network_and_power(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    network, demand, fleet = domain.network, domain.demand, domain.fleet
    if network is None:
        return []
    loads, out = link_loads(domain, plan, known)
    out += [
        Violation(
            "link",
            f"{network.link_name(int(k))}: {loads[k] / 1000:g} Gbps routed, capacity "
            f"{network.capacity_gbps[k]:g} Gbps",
        )
        for k in np.flatnonzero(loads > network.capacity_gbps * 1000 + 1e-6)
    ]
    watts = node_watts(domain, known)
    for scope, key, caps in (
        ("site", fleet.site, network.site_power_cap_kw),
        ("row", fleet.row, network.row_power_cap_kw),
    ):
        for name, cap in caps.items():
            kw = watts[key == name].sum() / 1000
            if kw > cap + 1e-6:
                out.append(Violation("power", f"{scope} {name}: {kw:g} kW drawn, cap {cap:g} kW"))
    peers = demand.interconnect_mbps[known.row] > 0
    if peers.any():
        site = np.unique(fleet.site[known.node[peers]].astype(str), return_inverse=True)[1]
        pairs = np.unique(np.stack([known.row[peers], site.ravel()]), axis=1)
        rows, sites = np.unique(pairs[0], return_counts=True)
        out += [
            Violation(
                "one_site",
                f"{demand.ids[wi]} exchanges traffic between replicas but runs in {k} sites",
            )
            for wi, k in zip(rows, sites, strict=True)
            if k > 1
        ]
    return out


def node_watts(domain: Domain, known: PlanReplicas) -> np.ndarray:
    """Watts per node: idle when anything runs on it, plus the busy-idle span times the
    share of its GPUs (of its CPU, if it has none) its replicas take."""
    fleet, demand = domain.fleet, domain.demand
    w, n = known.row, known.node
    on = np.bincount(n, minlength=len(fleet)) > 0
    gpus = np.bincount(n, weights=demand.gpu_equivalents[w], minlength=len(fleet))
    cpu = np.bincount(n, weights=demand.cpu_m[w], minlength=len(fleet))
    share = np.where(
        fleet.gpus > 0, gpus / np.maximum(fleet.gpus, 1), cpu / np.maximum(fleet.cpu_m, 1)
    )
    return np.where(on, fleet.idle_w + (fleet.busy_w - fleet.idle_w) * share, 0.0)
