"""The data-center rows of the placement model: storage, network and power.

All of it is linear in the model's `used[g]` (nodes of group g switched on) and
`assign[w,g]` (replicas of workload w on group g); with a topology, groups never span
racks, so each group sits behind one rack switch, in one row and one site.

Columns
  dataset[w,S]      w's dataset lives on storage system S                    binary
  reads[w,r,S]      replicas of w in rack r reading from S                   continuous
  site[w,s]         w, which exchanges traffic between replicas, runs in site s  binary
Rows
  dataset_once[w]   sum_S dataset[w,S] <= 1
  dataset_first[w]  sum_g assign[w,g] - max(w) sum_S dataset[w,S] <= 0   (no data, no replica)
  capacity[S]       sum_w size(w) dataset[w,S] <= capacity(S)
  readers[w,r]      sum_S reads[w,r,S] - sum_{g in r} assign[w,g] = 0
  reads_on[w,r,S]   reads[w,r,S] - max(w) dataset[w,S] <= 0
  throughput[S]     sum read(w) reads[w,r,S] <= read throughput(S)
  link[e]           storage reads routed over e + peer traffic of racks behind e <= capacity(e)
  one_site[w]       sum_s site[w,s] <= 1
  site_only[w,s]    sum_{g in s} assign[w,g] - max(w) site[w,s] <= 0
  power[row|site]   sum_g idle(g) used[g] + load watts of assign  <= cap
Cost ($/h, added to the cost objective)
  storage           cost per TB-hour(S) x size(w) on dataset[w,S]
  energy            weight x price(site) x PUE(site) x watts / 1000 on used and assign
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from allocator.domain.grouping import members
from allocator.domain.topology import Network
from allocator.model.problem import Block, ProblemBuilder
from allocator.model.reduce import PackingInstance

PEER_LINKS = ("up", "down")

# Traffic one family of columns puts on the links: per column, the links of its route;
# the columns' block and indices; and the Mbps each unit of a column carries.
LinkLoad = tuple[list[tuple[int, ...]], Block, np.ndarray, np.ndarray]


@dataclass
class CostTerms:
    """Per-column costs ($/h) the data-center families add to the cost objective."""

    terms: list[tuple[str, np.ndarray]] = field(default_factory=list)
    offset: float = 0.0

    def add(self, block: Block, values: np.ndarray) -> None:
        self.terms.append((block.name, np.asarray(values, dtype=np.float64)))


@dataclass(frozen=True)
class DatacenterIndex:
    """What the data-center columns stand for, to read solutions and write warm starts."""

    dataset_w: np.ndarray  # `dataset` columns: workload and storage system
    dataset_s: np.ndarray
    reads_w: np.ndarray  # `reads` columns: workload, rack and storage system
    reads_rack: np.ndarray
    reads_s: np.ndarray
    site_w: np.ndarray  # `site` columns: workload and site name
    site_name: np.ndarray

    @classmethod
    def empty(cls) -> DatacenterIndex:
        none = np.zeros(0, dtype=np.int64)
        return cls(
            none, none, none, np.zeros(0, dtype=object), none, none, np.zeros(0, dtype=object)
        )


def node_watts(
    inst: PackingInstance, pair_w: np.ndarray, pair_g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(idle watts per node of each group, extra watts per replica of each pair).

    A node draws its idle power when on, plus (busy - idle) in proportion to the share of
    its GPUs its replicas take (of its CPU, on a CPU-only node)."""
    groups, demand = inst.groups, inst.domain.demand
    span = groups.busy_w - groups.idle_w
    gpu_share = demand.gpu_equivalents[pair_w] / np.maximum(groups.gpus[pair_g], 1)
    cpu_share = demand.cpu_m[pair_w] / np.maximum(groups.cpu_m[pair_g], 1)
    share = np.where(groups.gpus[pair_g] > 0, gpu_share, cpu_share)
    return groups.idle_w, span[pair_g] * share


def define(
    b: ProblemBuilder,
    inst: PackingInstance,
    used: Block,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    energy_weight: float,
) -> tuple[CostTerms, DatacenterIndex]:
    costs = CostTerms()
    index = _storage_and_network(b, inst, assign, pair_w, pair_g, costs)
    _power(b, inst, used, assign, pair_w, pair_g, costs, energy_weight)
    return costs, index


def _storage_and_network(
    b: ProblemBuilder,
    inst: PackingInstance,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    costs: CostTerms,
) -> DatacenterIndex:
    domain = inst.domain
    demand, systems, network = domain.demand, domain.storage, domain.network
    index = DatacenterIndex.empty()
    link_loads: list[LinkLoad] = []
    if network is not None:
        peers = demand.interconnect_mbps[pair_w] > 0
        if peers.any():
            site_w, site_name = _peer_traffic(
                b, inst, network, assign, pair_w, pair_g, peers, link_loads
            )
            index = replace(index, site_w=site_w, site_name=site_name)
    wants = np.flatnonzero(demand.dataset_tier >= 0)
    if systems is None or len(systems) == 0 or len(wants) == 0:
        if network is not None:
            _links(b, network, link_loads)
        return index
    eligible = (systems.tier[None, :] >= demand.dataset_tier[wants, None]) & (
        systems.capacity_tb[None, :] >= demand.dataset_tb[wants, None]
    )
    k, s = np.nonzero(eligible)
    dw = wants[k]
    dataset = b.add_columns("dataset", len(dw), hi=1.0)
    costs.add(dataset, systems.cost_per_tb_hour[s] * demand.dataset_tb[dw])

    once = b.add_rows("dataset_once", len(wants), hi=1.0)
    b.add_entries(once, k, dataset, np.arange(len(dw)), 1.0)
    first = b.add_rows("dataset_first", len(wants), hi=0.0)
    position = np.full(len(demand), -1)
    position[wants] = np.arange(len(wants))
    has = position[pair_w] >= 0
    b.add_entries(first, position[pair_w[has]], assign, np.flatnonzero(has), 1.0)
    b.add_entries(first, k, dataset, np.arange(len(dw)), -demand.max[dw].astype(float))
    capacity = b.add_rows("storage_capacity", len(systems), hi=systems.capacity_tb)
    b.add_entries(capacity, s, dataset, np.arange(len(dw)), demand.dataset_tb[dw])

    index = replace(index, dataset_w=dw, dataset_s=s)
    readers = demand.read_mbps[pair_w] > 0
    if readers.any():
        reads_w, reads_rack, reads_s = _reads(
            b, inst, assign, pair_w, pair_g, readers, dataset, dw, s, link_loads
        )
        index = replace(index, reads_w=reads_w, reads_rack=reads_rack, reads_s=reads_s)
    if network is not None:
        _links(b, network, link_loads)
    return index


def _rack_codes(inst: PackingInstance) -> tuple[np.ndarray, np.ndarray]:
    """Rack of every group as a code, and the rack names."""
    names, code = np.unique(inst.groups.rack.astype(str), return_inverse=True)
    return code.ravel(), names


def _reads(
    b: ProblemBuilder,
    inst: PackingInstance,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    readers: np.ndarray,
    dataset: Block,
    dw: np.ndarray,
    ds: np.ndarray,
    link_loads: list[LinkLoad],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    demand, systems, network = inst.domain.demand, inst.domain.storage, inst.domain.network
    assert systems is not None, "datasets are read only where there are storage systems"
    rack_of_group, rack_names = _rack_codes(inst)
    # One readers row per (workload, rack) among the reading pairs.
    key = pair_w[readers] * len(rack_names) + rack_of_group[pair_g[readers]]
    wr, wr_of_pair = np.unique(key, return_inverse=True)
    wr_w, wr_r = wr // len(rack_names), wr % len(rack_names)
    # reads[(w, r), S] for every system S holding a candidate dataset of w.
    ri, dj = members(dw, wr_w, len(demand))
    reads = b.add_columns("reads", len(ri), hi=demand.max[wr_w[ri]].astype(float))
    rows = b.add_rows("readers", len(wr), lo=0.0, hi=0.0)
    b.add_entries(rows, ri, reads, np.arange(len(ri)), 1.0)
    b.add_entries(rows, wr_of_pair.ravel(), assign, np.flatnonzero(readers), -1.0)
    on = b.add_rows("reads_on", len(ri), hi=0.0)
    b.add_entries(on, np.arange(len(ri)), reads, np.arange(len(ri)), 1.0)
    b.add_entries(on, np.arange(len(ri)), dataset, dj, -demand.max[dw[dj]].astype(float))
    mbps = demand.read_mbps[wr_w[ri]].astype(float)
    throughput = b.add_rows("throughput", len(systems), hi=systems.read_mbps.astype(float))
    b.add_entries(throughput, ds[dj], reads, np.arange(len(ri)), mbps)
    if network is not None:
        routes = [
            network.route(systems.vertex[ds[j]], f"rack:{rack_names[wr_r[i]]}")
            for i, j in zip(ri, dj, strict=True)
        ]
        link_loads.append((routes, reads, np.arange(len(ri)), mbps))
    return wr_w[ri], rack_names[wr_r[ri]], ds[dj]


def _peer_traffic(
    b: ProblemBuilder,
    inst: PackingInstance,
    network: Network,
    assign: Block,
    pair_w: np.ndarray,
    pair_g: np.ndarray,
    peers: np.ndarray,
    link_loads: list[LinkLoad],
) -> tuple[np.ndarray, np.ndarray]:
    """Traffic between replicas crosses their rack's uplink both ways, and such a workload
    stays within one site (nobody trains across a WAN)."""
    demand = inst.domain.demand
    sites = np.unique(inst.groups.site.astype(str))
    rack_of_group = inst.groups.rack.astype(str)
    cols = np.flatnonzero(peers)
    mbps = demand.interconnect_mbps[pair_w[cols]].astype(float)
    for direction in PEER_LINKS:
        routes = []
        for g in pair_g[cols]:
            rack, site = rack_of_group[g], inst.groups.site[g]
            u, v = f"rack:{rack}", f"spine:{site}"
            routes.append(network.route(u, v) if direction == "up" else network.route(v, u))
        link_loads.append((routes, assign, cols, mbps))
    if len(sites) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    loads = np.unique(pair_w[cols])
    site_code = np.searchsorted(sites, inst.groups.site.astype(str))
    site = b.add_columns("site", len(loads) * len(sites), hi=1.0)
    one = b.add_rows("one_site", len(loads), hi=1.0)
    b.add_entries(
        one,
        np.repeat(np.arange(len(loads)), len(sites)),
        site,
        np.arange(len(loads) * len(sites)),
        1.0,
    )
    only = b.add_rows("site_only", len(loads) * len(sites), hi=0.0)
    load_pos = np.searchsorted(loads, pair_w[cols])
    row = load_pos * len(sites) + site_code[pair_g[cols]]
    b.add_entries(only, row, assign, cols, 1.0)
    b.add_entries(
        only,
        np.arange(len(loads) * len(sites)),
        site,
        np.arange(len(loads) * len(sites)),
        -np.repeat(demand.max[loads], len(sites)).astype(float),
    )
    return np.repeat(loads, len(sites)), np.tile(sites, len(loads)).astype(object)


def _links(b: ProblemBuilder, network: Network, link_loads: list[LinkLoad]) -> None:
    finite = np.flatnonzero(np.isfinite(network.capacity_gbps))
    if not link_loads or len(finite) == 0:
        return
    position = np.full(len(network.links), -1)
    position[finite] = np.arange(len(finite))
    rows = b.add_rows("link", len(finite), hi=network.capacity_gbps[finite] * 1000.0)
    for routes, block, cols, mbps in link_loads:
        lengths = np.array([len(r) for r in routes], dtype=np.int64)
        flat = (
            np.concatenate([np.asarray(r, dtype=np.int64) for r in routes])
            if len(routes)
            else np.zeros(0, dtype=np.int64)
        )
        if (flat < 0).any():
            raise ValueError("a storage system cannot be reached from a rack over the topology")
        links = position[flat]
        keep = links >= 0
        b.add_entries(
            rows, links[keep], block, np.repeat(cols, lengths)[keep], np.repeat(mbps, lengths)[keep]
        )


def _power(b, inst, used, assign, pair_w, pair_g, costs, energy_weight) -> None:
    network = inst.domain.network
    if network is None:
        return
    groups = inst.groups
    idle, extra = node_watts(inst, pair_w, pair_g)
    price = inst.domain.energy_price_per_wh[groups.order[groups.start[:-1]]]  # $/Wh
    if energy_weight > 0 and price.any():
        costs.add(used, energy_weight * price * idle)
        costs.add(assign, energy_weight * price[pair_g] * extra)
    for scope, caps, key in (
        ("row", network.row_power_cap_kw, groups.row),
        ("site", network.site_power_cap_kw, groups.site),
    ):
        names = [name for name in caps if (key == name).any()]
        if not names:
            continue
        rows = b.add_rows(
            f"power_{scope}", len(names), hi=np.array([caps[n] * 1000.0 for n in names])
        )
        for k, name in enumerate(names):
            in_scope = np.flatnonzero(key == name)
            b.add_entries(rows, np.full(len(in_scope), k), used, in_scope, idle[in_scope])
            cols = np.flatnonzero(np.isin(pair_g, in_scope))
            b.add_entries(rows, np.full(len(cols), k), assign, cols, extra[cols])
