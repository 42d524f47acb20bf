"""The validated inventory as arrays: one row per node, one row per way to run a workload.

Everything downstream (model, heuristics, checker, reports) works on these tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from allocator.domain.compatibility import compatibility
from allocator.domain.scopes import ScopeCodes
from allocator.domain.topology import Network
from allocator.domain.units import MILLI, to_mib
from allocator.domain.workloads import Families
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, GpuType
from allocator.inventory.schema import ObjectiveSpec
from allocator.rules import RuleTables


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
    tenant: np.ndarray  # "" for none
    account: np.ndarray  # whom cost reports bill: `tenant`, else the "tenant" label, else ""
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
    """A whole planning input: fleet, demand, the workloads' rules, objective and where
    things run now."""

    name: str
    fleet: Fleet
    demand: Demand
    rules: RuleTables
    objective: ObjectiveSpec
    current: dict[str, list[str]] = field(default_factory=dict)
    # GPU types each workload allows, as written (they may be absent from the fleet).
    allowed_type_names: dict[str, list[str]] = field(default_factory=dict)
    storage: Storage | None = None
    network: Network | None = None

    @cached_property
    def energy_price_per_wh(self) -> np.ndarray:
        """$ per watt-hour of IT power on each node: its site's price x PUE (0 without a
        topology)."""
        network = self.network
        if network is None:
            return np.zeros(len(self.fleet))
        return np.array(
            [
                network.energy_price.get(s, 0.0) * network.pue.get(s, 1.0) / 1000.0
                for s in self.fleet.site.astype(str)
            ]
        )

    @cached_property
    def scopes(self) -> ScopeCodes:
        """Place codes of every node at every scope."""
        return ScopeCodes(self.fleet)

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
