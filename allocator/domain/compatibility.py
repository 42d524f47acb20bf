"""Which node could host which workload: resources, GPU types and memory, MIG profiles,
and the placement rules (zones, regions, node labels, taints)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from allocator.domain.units import node_capacity, replica_demand, to_mib
from allocator.inventory.catalog import GpuType
from allocator.rules import selectors

if TYPE_CHECKING:
    from allocator.domain.tables import Demand


class NodeColumns(Protocol):
    """The node columns compatibility reads: a fleet has them, and so do node groups."""

    @property
    def gpu_type(self) -> np.ndarray: ...
    @property
    def gpus(self) -> np.ndarray: ...
    @property
    def gpu_memory_mib(self) -> np.ndarray: ...
    @property
    def gpu_types(self) -> tuple[GpuType, ...]: ...
    @property
    def mig(self) -> np.ndarray: ...
    @property
    def state(self) -> np.ndarray: ...
    @property
    def zone(self) -> np.ndarray: ...
    @property
    def region(self) -> np.ndarray: ...
    @property
    def label_set(self) -> np.ndarray: ...
    @property
    def label_sets(self) -> tuple[dict[str, str], ...]: ...
    @property
    def taint_set(self) -> np.ndarray: ...
    @property
    def taint_sets(self) -> tuple[frozenset[str], ...]: ...


def compatibility(fleet: NodeColumns, demand: Demand) -> np.ndarray:
    """Which node could host one replica of which workload, each alone on the node.

    `fleet` may be any table with the node columns (the node groups are one).
    """
    d, f = demand, fleet
    # Every node resource but whole GPUs (checked below with GPU types and memory).
    fits = (replica_demand(d)[:, None, 1:] <= node_capacity(f)[None, :, 1:]).all(axis=2)
    fits &= (f.state == "up")[None, :]
    fits &= selectors.allowed(f, d)
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


def _mig_fits(gpu_type: GpuType, profile: str, memory_mib: int) -> bool:
    found = gpu_type.mig_profiles.get(profile)
    return found is not None and memory_mib <= to_mib(found.memory_gib)
