"""Which GPU a Kubernetes node has, read from its labels.

NVIDIA GPU feature discovery says it best (`nvidia.com/gpu.product` with
`nvidia.com/gpu.memory`), but managed clusters often run without it: GKE labels GPU
nodes `cloud.google.com/gke-accelerator`, and every cloud sets the instance type. The
labels are read in that order; a `--gpu-map` entry naming the node, one of its labels
(`key=value`) or one of these values takes precedence over allocator's own tables for
it. A node with GPUs whose model none of them gives is an error that says what was read.
"""

from __future__ import annotations

from dataclasses import dataclass

from allocator.interop.cloud_gpus import GKE_ACCELERATOR_LABEL, gke_accelerator, machine_gpus
from allocator.interop.gpu_map import GpuMap, GpuMapEntry
from allocator.interop.gpu_names import catalog_match, mig_profile, tokens
from allocator.interop.reading import Problems, Where
from allocator.inventory.catalog import BUILTIN_GPU_TYPES

PRODUCT_LABEL = "nvidia.com/gpu.product"
MEMORY_LABEL = "nvidia.com/gpu.memory"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# A product whose labelled memory is further than this from its catalog match is a
# different card (an H100 NVL is not an 80 GB H100) and becomes a type of its own.
MEMORY_TOLERANCE = 0.10


@dataclass(frozen=True)
class GpuModel:
    """The GPU of a node: its allocator type name and what it was read from."""

    type_name: str
    product: str  # the value it was read from: a product, accelerator or instance type
    memory_mib: float | None
    in_catalog: bool
    mig_profile: str | None = None  # set when each "GPU" is a MIG instance (single strategy)
    source: str = PRODUCT_LABEL  # the label, or the --gpu-map entry, that named it


def gpu_model(product: str, memory_mib: float | None) -> GpuModel:
    """The allocator GPU type for a feature-discovery product name and memory label."""
    profile = mig_profile(product) if "MIG" in tokens(product) else None
    if profile is None:
        match = catalog_match(product)
        if match is not None and _memory_agrees(match, memory_mib):
            return GpuModel(match, product, memory_mib, True)
    return GpuModel(product, product, memory_mib, False, profile)


def _memory_agrees(type_name: str, memory_mib: float | None) -> bool:
    if memory_mib is None:
        return True
    expected = BUILTIN_GPU_TYPES[type_name].memory_gib * 1024
    return abs(memory_mib - expected) <= MEMORY_TOLERANCE * expected


def mapped_model(entry: GpuMapEntry, value: str) -> GpuModel:
    """The GPU a `--gpu-map` entry names for `value`."""
    memory = None if entry.in_catalog or entry.memory_gib is None else entry.memory_gib * 1024
    return GpuModel(entry.gpu_type, value, memory, entry.in_catalog, source=str(entry))


def node_gpu(
    name: str,
    labels: dict[str, str],
    devices: str,
    gpu_map: GpuMap,
    where: Where,
    problems: Problems,
) -> GpuModel | None:
    """The GPU model of a node that has GPUs (`devices` says which); None with a problem
    recorded when no label, table or map entry gives it."""
    explicit = gpu_map.get(name) or gpu_map.for_labels(labels)
    if explicit is not None:
        return mapped_model(explicit, explicit.key)
    known = len(problems.found)
    memory_mib = _memory_label(labels, where, problems)
    if len(problems.found) > known:
        return None
    product = labels.get(PRODUCT_LABEL)
    if product:
        entry = gpu_map.get(product)
        if entry is not None:
            return mapped_model(entry, product)
        model = gpu_model(product, memory_mib)
        if model.in_catalog or memory_mib:
            return model
    found = _cloud_model(labels, gpu_map)
    if found is not None:
        return found
    if product:
        problems.add(
            where.at(MEMORY_LABEL),
            f"missing; GPU product {product!r} is not in allocator's catalog "
            f"({', '.join(BUILTIN_GPU_TYPES)}), so its memory must come from this label or "
            f"from a --gpu-map entry, e.g. '{product}: {{gpu_type: {product}, memory_gib: 48}}'",
        )
    else:
        problems.add(where, _unknown_model(name, labels, devices))
    return None


def _cloud_model(labels: dict[str, str], gpu_map: GpuMap) -> GpuModel | None:
    """The GPU GKE's accelerator label or the instance type names (the map first)."""
    accelerator = labels.get(GKE_ACCELERATOR_LABEL)
    if accelerator:
        entry = gpu_map.get(accelerator)
        if entry is not None:
            return mapped_model(entry, accelerator)
        type_name = gke_accelerator(accelerator)
        if type_name is not None:
            return GpuModel(type_name, accelerator, None, True, source=GKE_ACCELERATOR_LABEL)
    for label in INSTANCE_TYPE_LABELS:
        instance_type = labels.get(label)
        if not instance_type:
            continue
        entry = gpu_map.get(instance_type)
        if entry is not None:
            return mapped_model(entry, instance_type)
        machine = machine_gpus(instance_type)
        if machine is not None:
            return GpuModel(machine.gpu_type, instance_type, None, True, source=label)
    return None


def _memory_label(labels: dict[str, str], where: Where, problems: Problems) -> int | None:
    """The memory label in MiB; None without one (or with a problem when malformed)."""
    text = labels.get(MEMORY_LABEL)
    if text is None:
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    problems.add(
        where.at(MEMORY_LABEL),
        f"expected the memory of one GPU in MiB (a positive whole number), got {text!r}",
    )
    return None


def _unknown_model(name: str, labels: dict[str, str], devices: str) -> str:
    """What was looked at, and how to say which GPU the node has."""
    read = [f"{PRODUCT_LABEL} (NVIDIA GPU feature discovery) is not set"]
    accelerator = labels.get(GKE_ACCELERATOR_LABEL)
    if accelerator:
        read.append(
            f"{GKE_ACCELERATOR_LABEL} {accelerator!r} is not a GKE accelerator allocator knows"
        )
    else:
        read.append(f"{GKE_ACCELERATOR_LABEL} (GKE) is not set")
    instance_types = [(k, labels[k]) for k in INSTANCE_TYPE_LABELS if labels.get(k)]
    if instance_types:
        key, value = instance_types[0]
        read.append(f"{key} {value!r} is not a GPU instance type allocator knows")
    else:
        read.append(f"{' / '.join(INSTANCE_TYPE_LABELS)} is not set")
    key = accelerator or (instance_types[0][1] if instance_types else name)
    return (
        f"the node has {devices} but no label says which GPU: {'; '.join(read)}; name the GPU "
        f"type of the node, or of one of these values, in a --gpu-map file "
        f"(e.g. '{key}: A100-80GB')"
    )
