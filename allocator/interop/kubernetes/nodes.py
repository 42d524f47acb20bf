"""Kubernetes Node objects as fleet nodes: allocatable capacity, GPU model, place, taints.

Capacity is `status.allocatable` (what the scheduler packs against, not `capacity`),
rounded down to whole millicores and MiB. The GPU model comes from the node's labels
(`gpu_labels`).
With the MIG `mixed` strategy a partitioned GPU is no longer an `nvidia.com/gpu`; its
instances are `nvidia.com/mig-<profile>`, and the node is planned with all its GPUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from allocator.interop.gpu_map import GpuMap
from allocator.interop.kubernetes import quantity
from allocator.interop.kubernetes.gpu_labels import (
    INSTANCE_TYPE_LABELS,
    MEMORY_LABEL,
    PRODUCT_LABEL,
    GpuModel,
    gpu_model,
    node_gpu,
)
from allocator.interop.kubernetes.objects import KubeObject
from allocator.interop.kubernetes.scheduling import Taint, parse_taints
from allocator.interop.reading import Problems, Where, mapping, sequence, string_map
from allocator.inventory.catalog import BUILTIN_GPU_TYPES, MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES

__all__ = ["INSTANCE_TYPE_LABELS", "MEMORY_LABEL", "PRODUCT_LABEL", "GpuModel", "gpu_model"]

GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
COUNT_LABEL = "nvidia.com/gpu.count"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
HOSTNAME_LABEL = "kubernetes.io/hostname"
# Taints the control plane sets to say what the node's state says: a cordon, a node that
# is not Ready. The inventory says it with `state`.
CORDON_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
HARD_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class KubeNode:
    """What allocator reads from one Node object."""

    name: str
    cpu_m: int
    memory_mib: int
    gpus: int  # whole GPUs: allocatable nvidia.com/gpu
    gpu: GpuModel | None
    mig_devices: tuple[tuple[str, int], ...]
    mig_gpus: int  # GPUs partitioned into `mig_devices` (0 when they cannot be planned)
    instance_type: str | None
    region: str | None
    zone: str | None
    rack: str | None
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool
    ready: bool | None
    where: Where

    @property
    def state(self) -> str:
        """The inventory's node state: not Ready is down, cordoned is draining."""
        if self.ready is False:
            return "down"
        return "draining" if self.unschedulable else "up"

    @property
    def hard_taints(self) -> tuple[Taint, ...]:
        """NoSchedule and NoExecute taints, less those that only restate the node's state."""
        implied = (CORDON_TAINT,) if self.unschedulable else ()
        if self.ready is False:
            implied += NOT_READY_TAINTS
        return tuple(t for t in self.taints if t.effect in HARD_EFFECTS and t.key not in implied)


def read_node(
    obj: KubeObject, rack_label: str | None, gpu_map: GpuMap, problems: Problems
) -> KubeNode | None:
    """One Node; None (with problems recorded) when it cannot be used."""
    where = obj.where
    data = obj.data
    meta = data.get("metadata") or {}
    labels = string_map(meta.get("labels"), where.at("metadata", "labels"), problems)
    spec = mapping(data.get("spec"), where.at("spec"), problems) or {}
    status = mapping(data.get("status"), where.at("status"), problems, required=True) or {}
    alloc_where = where.at("status", "allocatable")
    allocatable = mapping(status.get("allocatable"), alloc_where, problems, required=True)
    if allocatable is None:
        return None
    known = len(problems.found)
    cpu = _capacity(allocatable, "cpu", alloc_where, problems, quantity.cores)
    memory = _capacity(allocatable, "memory", alloc_where, problems, quantity.mib)
    gpus = _devices(allocatable.get(GPU_RESOURCE), alloc_where.at(GPU_RESOURCE), problems)
    mig = _mig_devices(allocatable, alloc_where, problems)
    devices = f"{gpus} allocatable {GPU_RESOURCE}"
    if not gpus and mig:
        devices = f"{sum(c for _, c in mig)} allocatable MIG instances ({MIG_RESOURCE_PREFIX}*)"
    gpu = None
    if gpus > 0 or mig:
        gpu = node_gpu(obj.name, labels, devices, gpu_map, where.at("metadata", "labels"), problems)
    ready = _ready(status, where.at("status", "conditions"), problems)
    taints = parse_taints(spec.get("taints"), where.at("spec", "taints"), problems)
    if len(problems.found) > known or cpu is None or memory is None:
        return None
    return KubeNode(
        name=obj.name,
        cpu_m=quantity.millicores_down(cpu),
        memory_mib=quantity.mib_down(memory),
        gpus=gpus,
        gpu=gpu,
        mig_devices=tuple(mig),
        mig_gpus=_mig_gpus(labels, gpus, mig, gpu),
        instance_type=_first(labels, INSTANCE_TYPE_LABELS),
        region=_first(labels, REGION_LABELS),
        zone=_first(labels, ZONE_LABELS),
        rack=labels.get(rack_label) if rack_label else None,
        labels=labels,
        taints=taints,
        unschedulable=spec.get("unschedulable") is True,
        ready=ready,
        where=where,
    )


def _capacity(allocatable: dict, name: str, where: Where, problems: Problems, unit) -> object:
    value = allocatable.get(name)
    if value is None:
        problems.add(where.at(name), "missing; the node's allocatable capacity is needed")
        return None
    try:
        amount = unit(value)
    except quantity.QuantityError as exc:
        problems.add(where.at(name), str(exc))
        return None
    if amount <= 0:
        problems.add(where.at(name), f"expected a positive quantity, got {value!r}")
        return None
    return amount


def _mig_devices(allocatable: dict, where: Where, problems: Problems) -> list[tuple[str, int]]:
    """(profile, count) of each `nvidia.com/mig-<profile>` resource (the mixed strategy)."""
    mig = []
    for name, value in sorted(allocatable.items()):
        if str(name).startswith(MIG_RESOURCE_PREFIX):
            count = _devices(value, where.at(name), problems)
            if count:
                mig.append((str(name)[len(MIG_RESOURCE_PREFIX) :], count))
    return mig


def _devices(value: object, where: Where, problems: Problems) -> int:
    if value is None:
        return 0
    try:
        return quantity.whole(value)
    except quantity.QuantityError as exc:
        problems.add(where, str(exc))
        return 0


def mig_profiles(model: GpuModel | None) -> dict:
    """The catalog's MIG profiles of a node's GPU model (none for a type of its own)."""
    if model is None or not model.in_catalog:
        return {}
    return BUILTIN_GPU_TYPES[model.type_name].mig_profiles


def _mig_gpus(
    labels: dict[str, str], whole: int, mig: list[tuple[str, int]], model: GpuModel | None
) -> int:
    """GPUs the MIG instances are cut from: the GPU count label less the whole GPUs, else
    the fewest GPUs whose slices hold them; 0 when a profile is not in the catalog."""
    profiles = mig_profiles(model)
    if not mig or any(name not in profiles for name, _ in mig):
        return 0
    counted = labels.get(COUNT_LABEL, "")
    if counted.isdigit() and int(counted) > whole:
        return int(counted) - whole
    compute = sum(profiles[name].compute_slices * count for name, count in mig)
    memory = sum(profiles[name].memory_slices * count for name, count in mig)
    return max(math.ceil(compute / MIG_COMPUTE_SLICES), math.ceil(memory / MIG_MEMORY_SLICES))


def _ready(status: dict, where: Where, problems: Problems) -> bool | None:
    conditions = sequence(status.get("conditions"), where, problems) or []
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return None


def _first(labels: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if labels.get(key):
            return labels[key]
    return None
