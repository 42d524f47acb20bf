"""Synthetic inventories that look like real GPU fleets, for samples, tests and benchmarks.

Nodes come in common 8-GPU server shapes priced like cloud instances, spread over two
zones (the second a few percent dearer) and racks of 16. Workloads draw from standard
request sizes (as operators define them), so shapes repeat the way they do in practice:
large training jobs pinned to top GPUs, inference services with min/max replicas, and
optional batch work. The mix is scaled so the wanted GPUs are about `fill` of the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ServerShape:
    gpu_type: str
    gpus: int
    cpus: int
    ram_gib: int
    cost_per_hour: float
    memory_gib: int  # per GPU, to choose workloads that fit


# In order of preference when fewer GPU types are asked for.
SERVERS = (
    ServerShape("H100", 8, 192, 2048, 98.32, 80),
    ServerShape("L40S", 8, 192, 1536, 30.13, 48),
    ServerShape("A100-80GB", 8, 96, 1152, 40.97, 80),
    ServerShape("L4", 8, 192, 768, 13.35, 24),
    ServerShape("H200", 8, 192, 2048, 84.80, 141),
    ServerShape("A100", 8, 96, 1152, 32.77, 40),
    ServerShape("T4", 8, 96, 384, 7.82, 16),
    ServerShape("MI300X", 8, 192, 2048, 48.00, 192),
)
ZONES = (("zone-a", 1.0), ("zone-b", 1.04))
RACK_SIZE = 16

# (gpus, cpus per replica, RAM GiB per replica): the standard request sizes.
REQUEST_SIZES = {
    1: ((1, 8, 64), (1, 16, 96)),
    2: ((2, 16, 128), (2, 24, 192)),
    4: ((4, 32, 256), (4, 48, 384)),
    8: ((8, 96, 1024), (8, 64, 768)),
}
# (kind, share of workloads, GPU counts, model GPU memory per replica in GiB by GPU count)
MIX = (
    ("training", 0.15, (8,), {8: 320}),
    ("inference", 0.55, (1, 1, 2, 4), {1: 20, 2: 70, 4: 140}),
    ("batch", 0.30, (1, 2, 4), {1: 12, 2: 40, 4: 100}),
)


def generate_inventory(
    nodes: int,
    workloads: int,
    gpu_types: int = 3,
    seed: int = 0,
    fill: float = 0.8,
    name: str | None = None,
) -> dict[str, Any]:
    """An inventory document (ready to dump as YAML or JSON)."""
    if not 1 <= gpu_types <= len(SERVERS):
        raise ValueError(f"gpu_types must be between 1 and {len(SERVERS)}")
    if nodes < 1 or workloads < 0:
        raise ValueError("nodes must be >= 1 and workloads >= 0")
    rng = np.random.default_rng(seed)
    servers = SERVERS[:gpu_types]
    node_entries = _nodes(rng, nodes, servers)
    total_gpus = sum(e["count"] * e["gpus"] for e in node_entries)
    load_entries = _workloads(rng, workloads, servers, total_gpus * fill)
    return {
        "version": 1,
        "name": name or f"generated-{nodes}n-{workloads}w-{gpu_types}t-s{seed}",
        "description": f"synthetic fleet: {nodes} nodes, {workloads} workloads, seed {seed}, "
        f"about {fill:.0%} of GPUs wanted",
        "nodes": node_entries,
        "workloads": load_entries,
    }


def _nodes(rng: np.random.Generator, total: int, servers: tuple[ServerShape, ...]) -> list[dict]:
    weights = rng.dirichlet(np.full(len(servers), 4.0))
    per_type = _split(total, weights)
    entries = []
    for server, count in zip(servers, per_type, strict=True):
        for (zone, markup), zone_count in zip(
            ZONES, _split(count, np.array([0.6, 0.4])), strict=True
        ):
            if zone_count == 0:
                continue
            racks = -(-zone_count // RACK_SIZE)
            slug = server.gpu_type.lower()
            entries.append(
                {
                    "id": f"{slug}-{zone[-1]}",
                    "count": int(zone_count),
                    "gpu_type": server.gpu_type,
                    "gpus": server.gpus,
                    "cpus": server.cpus,
                    "ram_gib": server.ram_gib,
                    "cost_per_hour": round(server.cost_per_hour * markup, 2),
                    "region": "region-1",
                    "zone": zone,
                    "rack": [f"{zone}-{slug}-r{k:02d}" for k in range(racks)],
                }
            )
    return entries


def _split(total: int, weights: np.ndarray) -> list[int]:
    """Integer parts of `total` in proportion to `weights` (largest remainders)."""
    raw = total * weights / weights.sum()
    parts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - parts))[: total - parts.sum()]:
        parts[k] += 1
    return parts.tolist()


def _workloads(
    rng: np.random.Generator, count: int, servers: tuple[ServerShape, ...], target_gpus: float
) -> list[dict]:
    kinds = rng.choice(len(MIX), size=count, p=[m[1] for m in MIX])
    drafts = []
    for i, k in enumerate(kinds):
        kind, _, gpu_choices, memory = MIX[k]
        gpus = int(rng.choice(gpu_choices))
        size = REQUEST_SIZES[gpus][int(rng.integers(len(REQUEST_SIZES[gpus])))]
        need_memory = memory[gpus]
        fitting = [s.gpu_type for s in servers if s.memory_gib * gpus >= need_memory]
        if not fitting:
            need_memory = 0
            fitting = [s.gpu_type for s in servers]
        if kind == "training":
            allowed = [t for t in fitting if t in ("H100", "H200", "A100-80GB", "MI300X")]
            allowed = allowed or fitting[:1]
            weight, priority = float(rng.integers(1, 4)), int(rng.integers(50, 101))
            span = 1.0
        elif kind == "inference":
            allowed = fitting if rng.random() < 0.7 else fitting[: max(1, len(fitting) // 2)]
            weight, priority = float(rng.integers(2, 12)), int(rng.integers(10, 51))
            span = float(rng.choice([1.5, 2.0, 3.0]))
        else:
            allowed = fitting
            weight, priority = float(rng.integers(1, 8)), int(rng.integers(1, 6))
            span = 0.0
        drafts.append((i, kind, gpus, size, need_memory, allowed, weight, priority, span))

    # Scale replica counts so wanted GPUs come to about the target.
    wanted = sum(d[2] * d[6] * max(d[8], 1.0) for d in drafts) or 1.0
    scale = target_gpus / wanted
    entries = []
    for i, kind, gpus, size, need_memory, allowed, weight, priority, span in drafts:
        base = max(1, round(weight * scale))
        if kind == "training":
            replicas: Any = base
        elif kind == "inference":
            replicas = {"min": base, "max": max(base, round(base * span))}
        else:
            replicas = {"min": 0, "max": base}
        resources: dict[str, Any] = {"gpus": gpus, "cpus": size[1], "ram_gib": size[2]}
        if need_memory:
            resources = {
                "gpus": gpus,
                "gpu_memory_gib": need_memory,
                "cpus": size[1],
                "ram_gib": size[2],
            }
        entry: dict[str, Any] = {
            "id": f"{kind[:5]}-{i:04d}",
            "kind": kind,
            "priority": priority,
            "replicas": replicas,
            "resources": resources,
        }
        if len(allowed) < len(servers):
            entry["gpu_types"] = list(allowed)
        entries.append(entry)
    return entries


MIXES = ("plain", "hard")


def harden(document: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The same fleet with rules that make placement harder, drawn per workload: half the
    training jobs a gang in one rack (up to 16 replicas; larger ones anywhere as long as
    all run), a third of the inference services at most 2 replicas per rack, a further
    sixth over at least two zones, and 60 % of the 1-GPU batch jobs on a quarter or half of
    a GPU (4 CPUs, 32 GiB)."""
    rng = np.random.default_rng(seed + 1)
    for entry in document["workloads"]:
        draw = rng.random()
        kind, resources = entry.get("kind"), entry["resources"]
        if kind == "training" and draw < 0.5:
            entry["gang"] = {"within": "rack"} if entry["replicas"] <= 16 else {}
        elif kind == "inference" and draw < 0.3:
            entry["spread"] = [{"across": "rack", "max_per_domain": 2}]
        elif kind == "inference" and draw < 0.45:
            entry["spread"] = [{"across": "zone", "min_domains": 2}]
        elif kind == "batch" and resources.get("gpus") == 1 and draw < 0.6:
            resources.pop("gpus")
            resources.pop("gpu_memory_gib", None)
            resources.update(gpu_fraction=float(rng.choice([0.25, 0.5])), cpus=4, ram_gib=32)
    document["name"] += "-hard"
    return document
