"""From a validated inventory to the domain tables: node groups expanded, GPU types
resolved, workloads and their variants as demand rows, topology as a network."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from allocator import rules
from allocator.domain.tables import Demand, Domain, Fleet, Storage
from allocator.domain.topology import build_network, rack_vertex, spine_vertex
from allocator.domain.units import (
    HOURS_PER_MONTH,
    MILLI,
    NIC_UNLIMITED,
    TIER_RANK,
    to_mbps,
    to_mib,
    to_milli,
)
from allocator.domain.workloads import Families, Way, replica_bounds, type_allowed, ways_to_run
from allocator.inventory.catalog import GpuType, resolve_gpu_types
from allocator.inventory.schema import (
    Inventory,
    NodeSpec,
    StorageSystemSpec,
    WorkloadSpec,
    expanded_node_ids,
)


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
    # A target no GPU type of the fleet serves still counts its shortfall in replicas of
    # the fastest kind the file names (on types the fleet lacks).
    named = np.zeros(len(loads))
    for way in ways:
        named[way.family] = max(named[way.family], *way.rate.values(), 0.0)
    best = np.where(best > 0, best, named)
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


def build_domain(inventory: Inventory, name: str = "inventory") -> Domain:
    """Expand node groups and resolve GPU types into the array form."""
    catalog = resolve_gpu_types(inventory)
    used_types = sorted({n.gpu_type for n in inventory.nodes if n.gpu_type})
    type_index = {t: i for i, t in enumerate(used_types)}
    gpu_types = tuple(catalog[t] for t in used_types)

    nodes = inventory.nodes
    counts = np.array([n.count for n in nodes], dtype=np.int64)
    entry = np.repeat(np.arange(len(nodes)), counts)

    def per_node(values: list, dtype: npt.DTypeLike) -> np.ndarray:
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
        gpu_type=per_node([type_index[n.gpu_type] if n.gpu_type else -1 for n in nodes], np.int64),
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
        # A node whose NICs are not given has unlimited bandwidth, and so has its rack.
        nic = np.where(fleet.nic_mbps >= NIC_UNLIMITED, np.inf, fleet.nic_mbps / 1000)
        rack_nic = {str(r): float(nic[fleet.rack == r].sum()) for r in np.unique(fleet.rack)}
        network = build_network(inventory.topology, rack_nic)
        fleet = replace(
            fleet,
            site=np.array([network.site_of_rack.get(r, "-") for r in fleet.rack], dtype=object),
            row=np.array([network.row_of_rack.get(r, "-") for r in fleet.rack], dtype=object),
        )

    loads = inventory.workloads
    ways = ways_to_run(loads)
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
        tenant=np.array([w.tenant or "" for w in spec], dtype=object),
        account=np.array([w.tenant or w.labels.get("tenant", "") for w in spec], dtype=object),
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
        rules=rules.tables(inventory),
        objective=inventory.objective,
        current=dict(inventory.current_placement),
        allowed_type_names={way.id: list(way.gpu_types) for way in ways if way.gpu_types},
        storage=storage,
        network=network,
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
    gpu = catalog.get(node.gpu_type) if node.gpu_type else None
    if gpu is not None and gpu.tdp_watts:
        tdp = gpu.tdp_watts
    busy = node.busy_watts
    if busy is None:
        busy = 1.4 * node.gpus * tdp + 4 * node.cpus + 150
    idle = node.idle_watts if node.idle_watts is not None else 0.3 * busy
    return idle, max(busy, idle)
