"""The validated inventory as arrays: one row per node, one row per workload.

Everything downstream (builder, heuristics, checker, reports) works on these arrays in
integer units (millicores, MiB, whole GPUs) so that capacity sums are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from allocator.catalog import MIG_COMPUTE_SLICES, GpuType
from allocator.inventory.load import expanded_node_ids, resolve_gpu_types
from allocator.inventory.schema import Inventory, ObjectiveSpec, WorkloadSpec

MIB_PER_GIB = 1024
MILLI = 1000


def to_milli(cores: float) -> int:
    return round(cores * MILLI)


def to_mib(gib: float) -> int:
    return round(gib * MIB_PER_GIB)


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
    rack: np.ndarray
    mig: np.ndarray  # bool: GPUs may be partitioned into MIG instances
    gpu_types: tuple[GpuType, ...]

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
    """Every workload as parallel arrays (per-replica needs)."""

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

    def __len__(self) -> int:
        return len(self.ids)

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
class Domain:
    """A whole planning input: fleet, demand, objective and where things run now."""

    name: str
    fleet: Fleet
    demand: Demand
    objective: ObjectiveSpec
    current: dict[str, list[str]] = field(default_factory=dict)
    # GPU types each workload allows, as written (they may be absent from the fleet).
    allowed_type_names: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def compatible(self) -> np.ndarray:
        """(workloads x nodes) bool: the node could host one replica if it were empty."""
        return compatibility(self.fleet, self.demand)


def compatibility(fleet: Fleet, demand: Demand) -> np.ndarray:
    """Which node could host one replica of which workload, each alone on the node.

    `fleet` may be any table with the node columns (the node groups are one).
    """
    d, f = demand, fleet
    fits = (d.cpu_m[:, None] <= f.cpu_m[None, :]) & (d.ram_mib[:, None] <= f.ram_mib[None, :])
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


def _compute_slices(workload: WorkloadSpec, catalog: dict[str, GpuType]) -> int:
    """Compute slices of the workload's MIG profile on the first allowed type that has it."""
    profile = workload.resources.mig_profile
    if not profile:
        return 0
    for name in workload.gpu_types or sorted(catalog):
        found = catalog.get(name) and catalog[name].mig_profiles.get(profile)
        if found:
            return found.compute_slices
    return 0


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
        rack=racks,
        mig=per_node([n.mig for n in nodes], bool),
        gpu_types=gpu_types,
    )

    loads = inventory.workloads
    allowed = np.ones((len(loads), len(gpu_types)), dtype=bool)
    for i, w in enumerate(loads):
        if w.gpu_types is not None:
            allowed[i] = [t.name in w.gpu_types for t in gpu_types]
    demand = Demand(
        ids=np.array([w.id for w in loads], dtype=object),
        kind=np.array([w.kind for w in loads], dtype=object),
        priority=np.array([w.priority for w in loads], dtype=np.int64),
        min=np.array([w.replicas.min for w in loads], dtype=np.int64),
        max=np.array([w.replicas.max for w in loads], dtype=np.int64),
        gpus=np.array([w.resources.gpus for w in loads], dtype=np.int64),
        gpu_milli=np.array(
            [round((w.resources.gpu_fraction or 0) * MILLI) for w in loads], dtype=np.int64
        ),
        mig_profile=np.array([w.resources.mig_profile or "" for w in loads], dtype=object),
        mig_compute=np.array([_compute_slices(w, catalog) for w in loads], dtype=np.int64),
        gpu_mem_mib=np.array([to_mib(w.resources.gpu_memory_gib) for w in loads], dtype=np.int64),
        cpu_m=np.array([to_milli(w.resources.cpus) for w in loads], dtype=np.int64),
        ram_mib=np.array([to_mib(w.resources.ram_gib) for w in loads], dtype=np.int64),
        allowed_types=allowed,
    )
    return Domain(
        name=inventory.name or name,
        fleet=fleet,
        demand=demand,
        objective=inventory.objective,
        current=dict(inventory.current_placement),
        allowed_type_names={w.id: list(w.gpu_types) for w in loads if w.gpu_types},
    )
