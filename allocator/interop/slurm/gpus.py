"""Which GPU a Slurm node has: its GRES type, its features, its instance type, or a
`--gpu-map` entry.

A typed GRES (`gpu:a100:8`) names the model, refined by the node's features (`80gb`,
`a100_80gb`); an untyped one (`gpu:8`) leaves it to the features, then to a cloud node's
`InstanceType=`. A `--gpu-map` entry for the node, its GRES type or a feature takes
precedence. A name that does not say the GPU's memory (`gpu:a100`: 40 or 80 GB) is
planned as the catalog's plain type, and a warning says which nodes and how to override.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from allocator.interop.cloud_gpus import machine_gpus
from allocator.interop.gpu_map import GpuMap, GpuMapEntry
from allocator.interop.gpu_names import catalog_match, memory_variants, mig_profile
from allocator.interop.result import ImportWarning
from allocator.interop.slurm.tres import Gres
from allocator.inventory.catalog import BUILTIN_GPU_TYPES

if TYPE_CHECKING:
    from allocator.interop.slurm.nodes import SlurmNode

Report = Callable[[str, str], None]  # (field, message): a problem with the node record


@dataclass(frozen=True)
class GpuChoice:
    """The GPU type of a node, what named it, and what that name left open."""

    type_name: str
    source: str  # "Gres", "features", "InstanceType", "mig" or the --gpu-map entry
    new_memory_gib: float | None = None  # memory of a type not in the catalog
    guessed_over: tuple[str, ...] = ()  # catalog types of other memory the names allow too


def gpu_choice(
    node: str,
    gres: list[Gres],
    features: tuple[str, ...],
    instance_type: str | None,
    gpu_map: GpuMap,
    report: Report,
) -> GpuChoice | None:
    """The node's GPU type: a --gpu-map entry for the node, else its GRES type (refined by
    the features, or mapped), else for an untyped GRES a feature or the instance type."""
    gpu_gres = [g for g in gres if g.name == "gpu"]
    types = sorted({g.type for g in gpu_gres if g.type})
    if len(types) > 1:
        report(
            "Gres",
            f"GPUs of {len(types)} types on one node ({', '.join(types)}); allocator plans one GPU "
            "type per node",
        )
        return None
    entry = gpu_map.get(node)
    if entry is not None:
        return _mapped(entry)
    if types:
        return _typed_choice(types[0], features, gpu_map, report)
    for name in (*features, instance_type):
        entry = gpu_map.get(name)
        if entry is not None:
            return _mapped(entry)
    found = catalog_match(",".join(features)) if features else None
    if found is not None:
        return GpuChoice(found, "features", guessed_over=tuple(memory_variants(found)))
    machine = machine_gpus(instance_type)
    if machine is not None:
        return GpuChoice(machine.gpu_type, "InstanceType")
    shown = ",".join(str(g) for g in gpu_gres)
    instance = f", nor is instance type {instance_type!r} one it knows" if instance_type else ""
    report(
        "Gres",
        f"the GPU model is unknown: {shown} has no type (as in gpu:a100:8), no feature "
        f"({', '.join(features) or 'none'}) names a GPU in allocator's catalog{instance}; map "
        f"the node or one of its features in a --gpu-map file (e.g. '{node}: A100-80GB')",
    )
    return None


def _typed_choice(
    gres_type: str, features: tuple[str, ...], gpu_map: GpuMap, report: Report
) -> GpuChoice | None:
    profile = mig_profile(gres_type)
    if profile is not None:
        return GpuChoice(gres_type, "mig", float(profile.split(".")[1][:-2]))
    entry = gpu_map.get(gres_type)
    if entry is not None:
        return _mapped(entry)
    found = catalog_match(gres_type, extra=features)
    if found is None:
        report(
            "Gres",
            f"GPU type {gres_type!r} matches no GPU in allocator's catalog "
            f"({', '.join(BUILTIN_GPU_TYPES)}); map it, with the memory of one GPU, in a "
            f"--gpu-map file (e.g. '{gres_type}: {{gpu_type: {gres_type.upper()}, "
            "memory_gib: 48}')",
        )
        return None
    return GpuChoice(found, "Gres", guessed_over=tuple(memory_variants(found)))


def _mapped(entry: GpuMapEntry) -> GpuChoice:
    return GpuChoice(entry.gpu_type, str(entry), None if entry.in_catalog else entry.memory_gib)


def guess_warnings(nodes: Iterable[SlurmNode]) -> list[ImportWarning]:
    """One warning per GPU type the names left open (`gpu:a100` and no feature that says
    the memory): which nodes, what was chosen, and how to say otherwise."""
    guessed: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = {}
    for node in nodes:
        if node.gpu and node.gpu.guessed_over:
            gres = next(g for g in node.gres if g.name == "gpu")
            if gres.type:
                named, key = f"gpu:{gres.type}", gres.type
            else:
                named, key = f"{gres} with features {','.join(node.features)}", node.name
            chosen, others = node.gpu.type_name, node.gpu.guessed_over
            guessed.setdefault((named, key, chosen, others), []).append(node.name)
    out = []
    for (named, key, chosen, others), names in guessed.items():
        shown = " or ".join(f"{t} ({BUILTIN_GPU_TYPES[t].memory_gib:g} GiB)" for t in others)
        out.append(
            ImportWarning(
                ", ".join(f"nodes/{n}" for n in names),
                "Gres",
                f"{named} does not say which {chosen} these are: planned as {chosen} "
                f"({BUILTIN_GPU_TYPES[chosen].memory_gib:g} GiB), not {shown}; to override, "
                f"add a feature that says the memory ({_memory_feature(others[0])}) to the "
                f"nodes, or map them in a --gpu-map file (e.g. '{key}: {others[0]}')",
            )
        )
    return out


def _memory_feature(type_name: str) -> str:
    """A node feature that says a type's memory: 80gb for A100-80GB."""
    return f"{BUILTIN_GPU_TYPES[type_name].memory_gib:g}gb"
