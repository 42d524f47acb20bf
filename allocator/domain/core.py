"""The validated inventory as arrays: one row per node, one row per workload.

Everything downstream (builder, heuristics, checker, reports) works on these arrays in
integer units (millicores, MiB, whole GPUs) so that capacity sums are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from allocator.domain.topology import Network, build_network, rack_vertex, spine_vertex
from allocator.domain.workloads import Families, Way, replica_bounds, type_allowed, ways_to_run
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, GpuType
from allocator.inventory.load import expanded_node_ids, resolve_gpu_types
from allocator.inventory.schema import (
    Inventory,
    NodeSpec,
    ObjectiveSpec,
    StorageSystemSpec,
    WorkloadSpec,
)

MIB_PER_GIB = 1024
MILLI = 1000
HOURS_PER_MONTH = 730.0
NIC_UNLIMITED = 2**40  # Mbps of a node whose NICs are not given
TIER_RANK = {"object": 0, "hdd": 1, "ssd": 2, "nvme": 3}
TIERS = tuple(TIER_RANK)


def to_milli(cores: float) -> int:
    return round(cores * MILLI)


@dataclass(frozen=True)
class Resource:
    """A node resource that replicas use up, in integer units."""

    key: str  # short name, e.g. in checker rules
    name: str
    node_field: str  # Fleet attribute: capacity per node
    replica_field: str  # Demand attribute: need per replica
    unit: str
    scale: int  # integer units per displayed unit


# Whole GPUs first: patterns and heuristics treat column 0 as GPUs.
NODE_RESOURCES = (
    Resource("gpus", "GPUs", "gpus", "gpus", "", 1),
    Resource("cpu", "CPU cores", "cpu_m", "cpu_m", "", 1000),
    Resource("ram", "RAM", "ram_mib", "ram_mib", " GiB", 1024),
    Resource("nvme", "local NVMe", "nvme_mib", "scratch_mib", " GiB", 1024),
    Resource("nic", "NIC bandwidth", "nic_mbps", "net_mbps", " Gbps", 1000),
)


def node_capacity(nodes: object) -> np.ndarray:
    """(nodes x resources) capacity of a fleet or of node groups."""
    return np.stack([getattr(nodes, r.node_field) for r in NODE_RESOURCES], axis=1).astype(np.int64)


def replica_demand(demand: Demand) -> np.ndarray:
    """(workloads x resources) what one replica of each workload takes from its node."""
    return np.stack([getattr(demand, r.replica_field) for r in NODE_RESOURCES], axis=1).astype(
        np.int64
    )


def to_mib(gib: float) -> int:
    return round(gib * MIB_PER_GIB)


def to_mbps(gbps: float) -> int:
    return round(gbps * 1000)


@dataclass(frozen=True, eq=False)
class Fleet:
    """Every node as parallel arrays."""

    ids: np.ndarray  # str
    entry: np.ndarray  # index of the `nodes` entry the node comes from
    gpu_type: np.ndarray  # index into `gpu_types`, -1 for CPU-only nodes
    gpus: np.ndarray
    cpu_m: np.ndarray
    ram_mib: np.ndarray
    cost: np.ndarray  # $/h
    region: np.ndarray  # str, "-" when not given
    zone: np.ndarray
    fabric: np.ndarray  # NVLink / InfiniBand domain, "-" when not given
    rack: np.ndarray
    mig: np.ndarray  # bool: GPUs may be partitioned into MIG instances
    gpu_types: tuple[GpuType, ...]
    state: np.ndarray  # "up", "draining" or "down"
    nvme_mib: np.ndarray
    nic_mbps: np.ndarray  # NIC_UNLIMITED where not given
    idle_w: np.ndarray
    busy_w: np.ndarray
    site: np.ndarray  # from the topology, "-" without one
    row: np.ndarray
    label_set: np.ndarray  # index into label_sets
    label_sets: tuple[dict[str, str], ...]
    taint_set: np.ndarray  # index into taint_sets
    taint_sets: tuple[frozenset[str], ...]

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        return {node_id: i for i, node_id in enumerate(self.ids)}

    @cached_property
    def gpu_memory_mib(self) -> np.ndarray:
        """Memory of one GPU of each node (0 for CPU-only nodes)."""
        per_type = np.array([to_mib(t.memory_gib) for t in self.gpu_types] + [0], dtype=np.int64)
        return per_type[self.gpu_type]

    @cached_property
    def gpu_type_names(self) -> np.ndarray:
        return np.array([t.name for t in self.gpu_types] + ["-"], dtype=object)[self.gpu_type]


@dataclass(frozen=True, eq=False)
class Demand:
    """Every way to run a workload as parallel arrays (per-replica needs): one row per
    workload, plus one per variant (`allocator.domain.workloads`). Replica counts, priority and
    rules are the workload's; `min` is 0 on the rows of a workload with variants."""

    ids: np.ndarray
    kind: np.ndarray
    priority: np.ndarray
    min: np.ndarray
    max: np.ndarray
    gpus: np.ndarray  # whole GPUs per replica
    gpu_milli: np.ndarray  # share of one GPU in thousandths (0 unless a fraction)
    mig_profile: np.ndarray  # MIG profile name ("" unless a MIG instance)
    mig_compute: np.ndarray  # compute slices (of 7) of that profile
    gpu_mem_mib: np.ndarray
    cpu_m: np.ndarray
    ram_mib: np.ndarray
    allowed_types: np.ndarray  # bool (workloads x fleet GPU types)
    scratch_mib: np.ndarray  # local NVMe per replica
    read_mbps: np.ndarray  # dataset reads per replica
    interconnect_mbps: np.ndarray  # traffic to the other replicas, per replica
    dataset_tb: np.ndarray  # 0 without a dataset
    dataset_tier: np.ndarray  # TIER_RANK of the slowest acceptable tier, -1 without a dataset
    zones: np.ndarray  # frozenset of allowed zones, or None
    regions: np.ndarray  # frozenset of allowed regions, or None
    selector: np.ndarray  # dict of node labels required
    tolerations: np.ndarray  # frozenset of tolerated taints
    spread: np.ndarray  # list of (scope, max per domain or None, min domains or None)
    survive: np.ndarray  # scope whose loss the workload survives, "" for none
    gang: np.ndarray  # bool: all replicas or none
    gang_within: np.ndarray  # scope the gang stays inside, "" for none
    affinity: np.ndarray  # list of (other workload, as a family index, scope)
    anti_affinity: np.ndarray  # list of (other workload, as a family index, scope)
    tenant: np.ndarray  # "" for none
    class_rank: np.ndarray  # place in objective.priority_classes; after them without a class
    move_cost: np.ndarray  # $/h-equivalent per replica moved off or stopped on its node
    family: np.ndarray  # the workload each row runs (index into `families`)
    variant: np.ndarray  # the variant the row runs, "" for the workload's own resources
    rate: np.ndarray  # (rows x fleet GPU types) throughput of one replica, 0 where none
    families: Families

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def net_mbps(self) -> np.ndarray:
        """Bandwidth each replica needs from its node's NICs."""
        return self.read_mbps + self.interconnect_mbps

    @property
    def shares_gpu(self) -> np.ndarray:
        """Replicas that take part of one GPU (a fraction or a MIG instance)."""
        return (self.gpu_milli > 0) | (self.mig_profile != "")

    @property
    def uses_gpu(self) -> np.ndarray:
        return (self.gpus > 0) | self.shares_gpu

    @property
    def gpu_equivalents(self) -> np.ndarray:
        """GPUs per replica, a fraction counted as its share, a MIG instance as its compute
        slices out of 7."""
        return self.gpus + self.gpu_milli / MILLI + self.mig_compute / MIG_COMPUTE_SLICES

    @cached_property
    def index(self) -> dict[str, int]:
        return {wid: i for i, wid in enumerate(self.ids)}


@dataclass(frozen=True, eq=False)
class Storage:
    """Every storage system as parallel arrays."""

    ids: np.ndarray
    tier: np.ndarray  # TIER_RANK
    capacity_tb: np.ndarray
    read_mbps: np.ndarray
    cost_per_tb_hour: np.ndarray
    vertex: np.ndarray  # where it attaches to the network ("rack:..", "spine:..", or "-")

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.ids)}


@dataclass(frozen=True, eq=False)
class Domain:
    """A whole planning input: fleet, demand, objective and where things run now."""

    name: str
    fleet: Fleet
    demand: Demand
    objective: ObjectiveSpec
    current: dict[str, list[str]] = field(default_factory=dict)
    # GPU types each workload allows, as written (they may be absent from the fleet).
    allowed_type_names: dict[str, list[str]] = field(default_factory=dict)
    storage: Storage | None = None
    network: Network | None = None
    dedicated_tenants: frozenset[str] = frozenset()

    @cached_property
    def running_now(self) -> sp.csr_array:
        """(nodes x workload rows) replicas running now, from `current`."""
        rows, cols = [], []
        for workload, nodes in self.current.items():
            rows += [self.fleet.index[n] for n in nodes]
            cols += [self.demand.index[workload]] * len(nodes)
        return sp.csr_array(
            (np.ones(len(rows), dtype=np.int64), (np.array(rows, int), np.array(cols, int))),
            shape=(len(self.fleet), len(self.demand)),
        )

    @property
    def priority_classes(self) -> list[str]:
        """Class names in rank order, "unclassed" last when some workload has no class."""
        names = list(self.objective.priority_classes)
        ranks = sorted(set(self.demand.class_rank.tolist()))
        return [names[r] if r < len(names) else "unclassed" for r in ranks]

    @property
    def has_topology(self) -> bool:
        return self.network is not None

    @cached_property
    def compatible(self) -> np.ndarray:
        """(workloads x nodes) bool: the node could host one replica if it were empty."""
        return compatibility(self.fleet, self.demand)


def compatibility(fleet: Fleet, demand: Demand) -> np.ndarray:
    """Which node could host one replica of which workload, each alone on the node.

    `fleet` may be any table with the node columns (the node groups are one).
    """
    d, f = demand, fleet
    # Every node resource but whole GPUs (checked below with GPU types and memory).
    fits = (replica_demand(d)[:, None, 1:] <= node_capacity(f)[None, :, 1:]).all(axis=2)
    fits &= (f.state == "up")[None, :]
    fits &= placement_rules(f, d)
    no_gpu = ~d.uses_gpu[:, None]
    if not len(f.gpu_types):
        return fits & no_gpu
    typed = np.where(f.gpu_type >= 0, f.gpu_type, 0)
    type_ok = d.allowed_types[:, typed] & (f.gpu_type >= 0)[None, :]
    whole = (
        (d.gpus[:, None] > 0)
        & (d.gpus[:, None] <= f.gpus[None, :])
        & (d.gpu_mem_mib[:, None] <= d.gpus[:, None] * f.gpu_memory_mib[None, :])
    )
    fraction = (d.gpu_milli[:, None] > 0) & (d.gpu_mem_mib[:, None] <= f.gpu_memory_mib[None, :])
    mig = np.zeros_like(whole)
    wants_mig = np.flatnonzero(d.mig_profile != "")
    if len(wants_mig):
        offered = np.array(
            [
                [_mig_fits(t, d.mig_profile[w], d.gpu_mem_mib[w]) for t in f.gpu_types]
                for w in wants_mig
            ],
            dtype=bool,
        ).reshape(len(wants_mig), len(f.gpu_types))
        mig[wants_mig] = offered[:, typed] & f.mig[None, :]
    gpu_ok = type_ok & (f.gpus[None, :] > 0) & (whole | fraction | mig)
    return fits & (no_gpu | gpu_ok)


def placement_rules(fleet: Fleet, demand: Demand) -> np.ndarray:
    """(workloads x nodes) where the workload may run by its rules: allowed zones and
    regions, the node labels it selects, and the node's taints it tolerates."""
    f, d = fleet, demand
    ok = np.ones((len(d), len(f.zone)), dtype=bool)
    for w in range(len(d)):
        if d.zones[w] is not None:
            ok[w] &= np.isin(f.zone.astype(str), list(d.zones[w]))
        if d.regions[w] is not None:
            ok[w] &= np.isin(f.region.astype(str), list(d.regions[w]))
    labels_ok = np.array(
        [
            [all(labels.get(k) == v for k, v in d.selector[w].items()) for labels in f.label_sets]
            for w in range(len(d))
        ],
        dtype=bool,
    ).reshape(len(d), len(f.label_sets))
    taints_ok = np.array(
        [[taints <= d.tolerations[w] for taints in f.taint_sets] for w in range(len(d))], dtype=bool
    ).reshape(len(d), len(f.taint_sets))
    return ok & labels_ok[:, f.label_set] & taints_ok[:, f.taint_set]


def _compute_slices(way: Way, catalog: dict[str, GpuType]) -> int:
    """Compute slices of the way's MIG profile on the first allowed type that has it."""
    profile = way.resources.mig_profile
    if not profile:
        return 0
    for name in way.gpu_types or sorted(catalog):
        found = catalog.get(name) and catalog[name].mig_profiles.get(profile)
        if found:
            return found.compute_slices
    return 0


def _families(
    loads: list[WorkloadSpec], ways: list[Way], type_names: list[str], rate: np.ndarray
) -> Families:
    of_row = np.array([way.family for way in ways], dtype=np.int64)
    bounds = [
        replica_bounds(w, [way for way in ways if way.family == f], type_names)
        for f, w in enumerate(loads)
    ]
    best = np.zeros(len(loads))
    if rate.size:
        np.maximum.at(best, of_row, rate.max(axis=1))
    return Families(
        ids=np.array([w.id for w in loads], dtype=object),
        of_row=of_row,
        min=np.array([b[0] for b in bounds], dtype=np.int64),
        max=np.array([b[1] for b in bounds], dtype=np.int64),
        priority=np.array([w.priority for w in loads], dtype=np.int64),
        target=np.array([w.throughput.target if w.throughput else 0.0 for w in loads]),
        unit=np.array([w.throughput.unit if w.throughput else "" for w in loads], dtype=object),
        best_rate=np.where([w.throughput is not None for w in loads], best, 0.0),
    )


def _mig_fits(gpu_type: GpuType, profile: str, memory_mib: int) -> bool:
    found = gpu_type.mig_profiles.get(profile)
    return found is not None and memory_mib <= to_mib(found.memory_gib)


def build_domain(inventory: Inventory, name: str = "inventory") -> Domain:
    """Expand node groups and resolve GPU types into the array form."""
    catalog = resolve_gpu_types(inventory)
    used_types = sorted({n.gpu_type for n in inventory.nodes if n.gpu_type})
    type_index = {t: i for i, t in enumerate(used_types)}
    gpu_types = tuple(catalog[t] for t in used_types)

    nodes = inventory.nodes
    counts = np.array([n.count for n in nodes], dtype=np.int64)
    entry = np.repeat(np.arange(len(nodes)), counts)

    def per_node(values: list, dtype: object) -> np.ndarray:
        return np.asarray(values, dtype=dtype)[entry]

    label_sets, label_code = _codes([dict(n.labels) for n in nodes])
    taint_sets, taint_code = _codes([frozenset(n.taints) for n in nodes])
    racks = np.empty(int(counts.sum()), dtype=object)
    start = 0
    for node in nodes:
        block = np.full(node.count, "-", dtype=object)
        if node.rack:
            for rack, part in zip(
                node.rack, np.array_split(np.arange(node.count), len(node.rack)), strict=True
            ):
                block[part] = rack
        racks[start : start + node.count] = block
        start += node.count

    fleet = Fleet(
        ids=np.array([i for ids in expanded_node_ids(inventory) for i in ids], dtype=object),
        entry=entry,
        gpu_type=per_node([type_index.get(n.gpu_type, -1) for n in nodes], np.int64),
        gpus=per_node([n.gpus for n in nodes], np.int64),
        cpu_m=per_node([to_milli(n.cpus) for n in nodes], np.int64),
        ram_mib=per_node([to_mib(n.ram_gib) for n in nodes], np.int64),
        cost=per_node([n.cost_per_hour for n in nodes], np.float64),
        region=per_node([n.region or "-" for n in nodes], object),
        zone=per_node([n.zone or "-" for n in nodes], object),
        fabric=per_node([n.fabric or "-" for n in nodes], object),
        rack=racks,
        mig=per_node([n.mig for n in nodes], bool),
        gpu_types=gpu_types,
        state=per_node([n.state for n in nodes], object),
        nvme_mib=per_node([to_mib(n.nvme_gib) for n in nodes], np.int64),
        nic_mbps=per_node(
            [NIC_UNLIMITED if n.nic_gbps is None else to_mbps(n.nic_gbps) for n in nodes], np.int64
        ),
        idle_w=per_node([_watts(n, catalog)[0] for n in nodes], np.float64),
        busy_w=per_node([_watts(n, catalog)[1] for n in nodes], np.float64),
        site=np.full(len(racks), "-", dtype=object),
        row=np.full(len(racks), "-", dtype=object),
        label_set=label_code[entry],
        label_sets=tuple(label_sets),
        taint_set=taint_code[entry],
        taint_sets=tuple(taint_sets),
    )
    network = None
    if inventory.topology is not None:
        nic = fleet.nic_mbps.astype(float) / 1000
        rack_nic = {str(r): float(nic[fleet.rack == r].sum()) for r in np.unique(fleet.rack)}
        network = build_network(inventory.topology, rack_nic)
        fleet = replace(
            fleet,
            site=np.array([network.site_of_rack.get(r, "-") for r in fleet.rack], dtype=object),
            row=np.array([network.row_of_rack.get(r, "-") for r in fleet.rack], dtype=object),
        )

    loads = inventory.workloads
    ways = ways_to_run(loads)
    family_of = {w.id: f for f, w in enumerate(loads)}
    classes = list(inventory.objective.priority_classes)
    type_names = [t.name for t in gpu_types]
    allowed = np.array(
        [[type_allowed(way, t) for t in type_names] for way in ways], dtype=bool
    ).reshape(len(ways), len(type_names))
    rate = np.array(
        [[way.rate.get(t, 0.0) for t in type_names] for way in ways], dtype=np.float64
    ).reshape(len(ways), len(type_names))
    families = _families(loads, ways, type_names, rate)
    single = families.sizes[families.of_row] == 1
    res = [way.resources for way in ways]
    spec = [way.workload for way in ways]
    demand = Demand(
        ids=np.array([way.id for way in ways], dtype=object),
        kind=np.array([w.kind for w in spec], dtype=object),
        priority=families.priority[families.of_row],
        min=np.where(single, families.min[families.of_row], 0),
        max=families.max[families.of_row],
        gpus=np.array([r.gpus for r in res], dtype=np.int64),
        gpu_milli=np.array([round((r.gpu_fraction or 0) * MILLI) for r in res], dtype=np.int64),
        mig_profile=np.array([r.mig_profile or "" for r in res], dtype=object),
        mig_compute=np.array([_compute_slices(way, catalog) for way in ways], dtype=np.int64),
        gpu_mem_mib=np.array([to_mib(r.gpu_memory_gib) for r in res], dtype=np.int64),
        cpu_m=np.array([to_milli(r.cpus) for r in res], dtype=np.int64),
        ram_mib=np.array([to_mib(r.ram_gib) for r in res], dtype=np.int64),
        allowed_types=allowed,
        scratch_mib=np.array([to_mib(r.scratch_gib) for r in res], dtype=np.int64),
        read_mbps=np.array(
            [to_mbps(w.storage.read_gbps) if w.storage else 0 for w in spec], dtype=np.int64
        ),
        interconnect_mbps=np.array([to_mbps(w.interconnect_gbps) for w in spec], dtype=np.int64),
        dataset_tb=np.array([w.storage.size_tb if w.storage else 0.0 for w in spec]),
        dataset_tier=np.array(
            [TIER_RANK[w.storage.tier] if w.storage else -1 for w in spec], dtype=np.int64
        ),
        spread=_objects(
            [[(r.across, r.max_per_domain, r.min_domains) for r in w.spread] for w in spec]
        ),
        survive=np.array([w.survive or "" for w in spec], dtype=object),
        gang=np.array([w.gang is not None for w in spec], dtype=bool),
        gang_within=np.array([(w.gang.within or "") if w.gang else "" for w in spec], dtype=object),
        affinity=_objects([[(family_of[r.workload], r.scope) for r in w.affinity] for w in spec]),
        anti_affinity=_objects(
            [[(family_of[r.workload], r.scope) for r in w.anti_affinity] for w in spec]
        ),
        tenant=np.array([w.tenant or "" for w in spec], dtype=object),
        class_rank=np.array(
            [
                classes.index(w.priority_class) if w.priority_class in classes else len(classes)
                for w in spec
            ],
            dtype=np.int64,
        ),
        move_cost=np.array(
            [
                inventory.objective.migration.move_cost if w.move_cost is None else w.move_cost
                for w in spec
            ],
            dtype=np.float64,
        ),
        zones=_objects([frozenset(w.zones) if w.zones else None for w in spec]),
        regions=_objects([frozenset(w.regions) if w.regions else None for w in spec]),
        selector=_objects([dict(w.node_selector) for w in spec]),
        tolerations=_objects([frozenset(w.tolerations) for w in spec]),
        family=families.of_row,
        variant=np.array([way.variant for way in ways], dtype=object),
        rate=rate,
        families=families,
    )
    systems = inventory.storage
    storage = Storage(
        ids=np.array([st.id for st in systems], dtype=object),
        tier=np.array([TIER_RANK[st.tier] for st in systems], dtype=np.int64),
        capacity_tb=np.array([st.capacity_tb for st in systems], dtype=np.float64),
        read_mbps=np.array([to_mbps(st.read_gbps) for st in systems], dtype=np.int64),
        cost_per_tb_hour=np.array([st.cost_per_tb_month / HOURS_PER_MONTH for st in systems]),
        vertex=np.array([_storage_vertex(st) for st in systems], dtype=object),
    )
    return Domain(
        name=inventory.name or name,
        fleet=fleet,
        demand=demand,
        objective=inventory.objective,
        current=dict(inventory.current_placement),
        allowed_type_names={way.id: list(way.gpu_types) for way in ways if way.gpu_types},
        storage=storage,
        network=network,
        dedicated_tenants=frozenset(t for t, spec in inventory.tenants.items() if spec.dedicated),
    )


def _codes(values: list) -> tuple[list, np.ndarray]:
    """Distinct values (in first-seen order) and each value's index among them."""
    distinct: list = []
    code = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
        code.append(distinct.index(value))
    return distinct, np.array(code, dtype=np.int64)


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _storage_vertex(system: StorageSystemSpec) -> str:
    if system.rack is not None:
        return rack_vertex(system.rack)
    if system.site is not None:
        return spine_vertex(system.site)
    return "-"


def _watts(node: NodeSpec, catalog: dict[str, GpuType]) -> tuple[float, float]:
    """(idle, busy) power of a node: as given, or derived from its GPUs' board power."""
    tdp = 0.0
    if node.gpu_type and catalog.get(node.gpu_type) and catalog[node.gpu_type].tdp_watts:
        tdp = catalog[node.gpu_type].tdp_watts
    busy = node.busy_watts
    if busy is None:
        busy = 1.4 * node.gpus * tdp + 4 * node.cpus + 150
    idle = node.idle_watts if node.idle_watts is not None else 0.3 * busy
    return idle, max(busy, idle)
