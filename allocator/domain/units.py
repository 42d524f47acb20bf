"""Units the domain counts in, and the node resources replicas use up.

Capacities and needs are integers (millicores, MiB, Mbps, whole GPUs) so that sums over
a node are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from allocator.domain.tables import Demand

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
