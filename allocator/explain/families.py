"""The table of relaxations: per constraint family, how to lift it, whether it applies,
and how to word and price it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from allocator.explain.lifts import (
    Doc,
    always,
    has_dedicated_tenant,
    has_idle_nodes,
    has_power_caps,
    has_traffic_limits,
    kept_apart,
    lift_affinity,
    lift_anti_affinity,
    lift_capacity,
    lift_gang,
    lift_gpu_memory,
    lift_gpu_types,
    lift_network,
    lift_node_labels,
    lift_node_state,
    lift_power,
    lift_regions,
    lift_spread,
    lift_storage,
    lift_survive,
    lift_taints,
    lift_tenancy,
    lift_zones,
    meets_taints,
    needs_gpu_memory,
    reads_storage,
    uses,
)
from allocator.explain.pricing import (
    Evidence,
    Verdict,
    capacity_words,
    gang_words,
    gpu_memory_words,
    gpu_type_words,
    network_words,
    node_label_words,
    node_state_words,
    place_words,
    power_words,
    relation_words,
    spread_words,
    storage_words,
    survive_words,
    taint_words,
    tenancy_words,
)


@dataclass(frozen=True)
class Relaxation:
    """One constraint family: whether it bears on a workload, how to lift it on a copy of
    the inventory document, and its words (why it blocks, the change that lifts it)."""

    family: str  # as diagnose names causes
    title: str
    applies: Callable[[Doc, str], bool]
    lift: Callable[[Doc, str], None]
    words: Callable[[Evidence], Verdict]


Combo = tuple[Relaxation, ...]  # families lifted together


# In the order changes are preferred when they cost the same: the workload's own rules,
# then the fleet's state and policies, then its infrastructure, then new hardware.
RELAXATIONS: tuple[Relaxation, ...] = (
    Relaxation("gpu_type", "GPU types", uses("gpu_types"), lift_gpu_types, gpu_type_words),
    Relaxation("gpu_memory", "GPU memory", needs_gpu_memory, lift_gpu_memory, gpu_memory_words),
    Relaxation("region", "regions", uses("regions"), lift_regions, place_words("region")),
    Relaxation("zone", "zones", uses("zones"), lift_zones, place_words("zone")),
    Relaxation(
        "node_labels", "node labels", uses("node_selector"), lift_node_labels, node_label_words
    ),
    Relaxation("taints", "taints", meets_taints, lift_taints, taint_words),
    Relaxation("spread", "spread", uses("spread"), lift_spread, spread_words),
    Relaxation("survive", "survive", uses("survive"), lift_survive, survive_words),
    Relaxation("gang", "gang", uses("gang"), lift_gang, gang_words),
    Relaxation(
        "affinity",
        "affinity",
        uses("affinity"),
        lift_affinity,
        relation_words("affinity", "must run in a {scope} where {other} runs"),
    ),
    Relaxation(
        "anti_affinity",
        "anti-affinity",
        kept_apart,
        lift_anti_affinity,
        relation_words("anti_affinity", "must not share a {scope} with {other}"),
    ),
    Relaxation("tenancy", "dedicated tenants", has_dedicated_tenant, lift_tenancy, tenancy_words),
    Relaxation(
        "node_state", "draining or down nodes", has_idle_nodes, lift_node_state, node_state_words
    ),
    Relaxation("power", "power caps", has_power_caps, lift_power, power_words),
    Relaxation("network", "network bandwidth", has_traffic_limits, lift_network, network_words),
    Relaxation("storage", "storage", reads_storage, lift_storage, storage_words),
    Relaxation("capacity", "capacity", always, lift_capacity, capacity_words),
)
