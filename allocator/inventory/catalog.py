"""Built-in catalog of common data-center GPU types.

Inventory files may add types or override fields of these. Figures are vendor datasheet
values (dense BF16/FP16 tensor throughput, board power); prices are indicative on-demand
cloud figures per GPU-hour and are never used for node cost, which each node states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from allocator.inventory.schema import Inventory

MIG_COMPUTE_SLICES = 7
MIG_MEMORY_SLICES = 8


@dataclass(frozen=True)
class MigProfile:
    """A Multi-Instance GPU partition: its share of the GPU's 7 compute and 8 memory slices."""

    name: str
    compute_slices: int
    memory_slices: int
    memory_gib: float


def mig_ladder(memory_gib: float) -> dict[str, MigProfile]:
    """NVIDIA's MIG profiles for a GPU of `memory_gib`, named as NVIDIA names them
    (memory per profile rounded half up: 1g.18gb, 3g.71gb on a 141 GB H200)."""
    eighth = memory_gib / MIG_MEMORY_SLICES
    profiles = {}
    for compute, memory in ((1, 1), (1, 2), (2, 2), (3, 4), (4, 4), (7, 8)):
        name = f"{compute}g.{math.floor(eighth * memory + 0.5)}gb"
        profiles[name] = MigProfile(name, compute, memory, eighth * memory)
    return profiles


@dataclass(frozen=True)
class GpuType:
    """One GPU model: what the planner needs to know about it."""

    name: str
    memory_gib: float
    tflops_bf16: float | None = None
    tdp_watts: float | None = None
    vendor: str = "nvidia"
    price_per_gpu_hour: float | None = None
    mig_profiles: dict[str, MigProfile] = field(default_factory=dict)

    def updated(self, **fields: object) -> GpuType:
        """A copy with the given fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in fields.items() if v is not None})


BUILTIN_GPU_TYPES: dict[str, GpuType] = {
    t.name: t
    for t in (
        GpuType("H100", 80, 989, 700, price_per_gpu_hour=12.29, mig_profiles=mig_ladder(80)),
        GpuType("H100-PCIE", 80, 756, 350, mig_profiles=mig_ladder(80)),
        GpuType("H200", 141, 989, 700, price_per_gpu_hour=10.60, mig_profiles=mig_ladder(141)),
        GpuType("B200", 180, 2250, 1000, mig_profiles=mig_ladder(180)),
        GpuType("A100-80GB", 80, 312, 400, price_per_gpu_hour=5.12, mig_profiles=mig_ladder(80)),
        GpuType("A100", 40, 312, 400, price_per_gpu_hour=4.10, mig_profiles=mig_ladder(40)),
        GpuType("L40S", 48, 362, 350, price_per_gpu_hour=1.86),
        GpuType("L4", 24, 121, 72, price_per_gpu_hour=0.80),
        GpuType("A10G", 24, 125, 150, price_per_gpu_hour=1.01),
        GpuType("A10", 24, 125, 150),
        GpuType("T4", 16, 65, 70, price_per_gpu_hour=0.98),
        GpuType("V100", 16, 125, 300, price_per_gpu_hour=3.06),
        GpuType("V100-32GB", 32, 125, 300, price_per_gpu_hour=3.90),
        GpuType("P100", 16, 19, 250),
        GpuType("MI300X", 192, 1307, 750, vendor="amd"),
    )
}


def resolve_gpu_types(inventory: Inventory) -> dict[str, GpuType]:
    """The built-in catalog with the file's additions and overrides applied."""
    types = dict(BUILTIN_GPU_TYPES)
    for name, spec in inventory.gpu_types.items():
        fields = spec.model_dump(exclude_none=True, exclude={"mig_profiles"})
        if spec.mig_profiles is not None:
            fields["mig_profiles"] = {
                key: MigProfile(key, p.compute_slices, p.memory_slices, p.memory_gib)
                for key, p in spec.mig_profiles.items()
            }
        base = types.get(name)
        if base is not None:
            types[name] = base.updated(**fields)
        elif spec.memory_gib is not None:
            types[name] = GpuType(name=name, **fields)
    return types
