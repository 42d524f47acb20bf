"""Why a replica was not placed, in terms an operator can act on.

Two kinds of answer: no node in the fleet could ever host one replica (and which
requirement rules each candidate out), or compatible nodes exist but the plan filled
them (with how much they hold, and who competes for them).
"""

from __future__ import annotations

import numpy as np

from allocator.domain.tables import Domain
from allocator.domain.units import MIB_PER_GIB, MILLI, NODE_RESOURCES
from allocator.evaluate.figures import Figures
from allocator.heuristics.budgets import Budgets
from allocator.rules import describe as describe_rules
from allocator.rules import selectors


def unplaced_reasons(figures: Figures) -> dict[int, str]:
    """Reason per workload (family index) with fewer replicas placed than its max, or
    with its throughput target not met."""
    domain, placement = figures.domain, figures.placement
    demand, fleet = domain.demand, domain.fleet
    families = demand.families
    placed, achieved = figures.placed, figures.throughput
    short = np.where(families.by_target, achieved < families.target - 1e-9, placed < families.max)
    if not short.any():
        return {}
    compatible = domain.compatible
    used = np.stack([figures.gpus_used, figures.cpu_used_m, figures.ram_used_mib], axis=1)
    free = np.stack([fleet.gpus, fleet.cpu_m, fleet.ram_mib], axis=1) - used
    reasons = {}
    budgets = Budgets(domain).replay(placement)
    for f in np.flatnonzero(short):
        rows = families.rows(f)
        hosted = [w for w in rows if compatible[w].any()]
        if not hosted:
            found = [no_host_reason(domain, int(w)) for w in rows]
            reasons[int(f)] = (
                found[0]
                if len(rows) == 1
                else "; ".join(
                    f"{demand.variant[w] or 'default'}: {why}"
                    for w, why in zip(rows, found, strict=True)
                )
            )
            continue
        w = int(hosted[0])
        missing = (
            f"{families.target[f] - achieved[f]:g} {families.unit[f]} of the target"
            if families.by_target[f]
            else f"{int(families.max[f] - placed[f])} replica(s)"
        )
        required = families.by_target[f] or placed[f] < families.min[f]
        reasons[int(f)] = _capacity_reason(
            domain, w, np.flatnonzero(compatible[w]), free, missing, bool(required), budgets
        )
    return reasons


def no_host_reason(domain: Domain, w: int) -> str:
    """Which requirement no node meets, checked in the order an operator would fix them."""
    d, f = domain.demand, domain.fleet
    gpus = int(d.gpus[w])
    candidates = selectors.allowed(f, d)[w]
    if not candidates.any():
        return selectors.unmet(domain, w)
    if d.uses_gpu[w]:
        if not f.gpu_types:
            return "needs a GPU; no node in the fleet has GPUs"
        allowed = [t.name for t, ok in zip(f.gpu_types, d.allowed_types[w], strict=True) if ok]
        typed = (f.gpu_type >= 0) & d.allowed_types[w][np.maximum(f.gpu_type, 0)]
        if not typed.any():
            wanted = ", ".join(_allowed_names(domain, w)) or "any GPU"
            have = ", ".join(t.name for t in f.gpu_types) or "none"
            return f"no node has an allowed GPU type: needs {wanted}; the fleet has {have}"
        if not (candidates & typed).any():
            return (
                f"its zones, regions, node labels or tolerations rule out every node with an "
                f"allowed GPU type ({', '.join(allowed)})"
            )
        candidates &= typed
    if gpus > 0:
        if not (f.gpus[candidates] >= gpus).any():
            return (
                f"no node of type {', '.join(allowed)} has {gpus} GPUs; the most on one "
                f"node is {int(f.gpus[candidates].max())}"
            )
        candidates &= f.gpus >= gpus
        per_gpu = d.gpu_mem_mib[w] / gpus
        if not (f.gpu_memory_mib[candidates] >= per_gpu).any():
            best = f.gpu_memory_mib[candidates].max() / MIB_PER_GIB
            return (
                f"needs {d.gpu_mem_mib[w] / MIB_PER_GIB:g} GiB of GPU memory over {gpus} "
                f"GPU(s), {per_gpu / MIB_PER_GIB:g} GiB per GPU; the largest allowed GPU "
                f"has {best:g} GiB"
            )
        candidates &= f.gpu_memory_mib * gpus >= d.gpu_mem_mib[w]
    candidates &= f.state == "up"
    if not candidates.any():
        return "every otherwise suitable node is draining or down"
    for resource in NODE_RESOURCES[1:]:
        need = getattr(d, resource.replica_field)[w]
        have = getattr(f, resource.node_field)
        if not (have[candidates] >= need).any():
            return (
                f"needs {need / resource.scale:g}{resource.unit} of {resource.name} per replica;"
                f" the most any otherwise suitable node has is "
                f"{have[candidates].max() / resource.scale:g}{resource.unit}"
            )
        candidates &= have >= need
    return "no node can host a replica"


def _allowed_names(domain: Domain, w: int) -> list[str]:
    """Allowed types as written, including ones absent from the fleet."""
    from_fleet = [
        t.name
        for t, ok in zip(domain.fleet.gpu_types, domain.demand.allowed_types[w], strict=True)
        if ok
    ]
    return domain.allowed_type_names.get(str(domain.demand.ids[w]), from_fleet)


def _capacity_reason(
    domain: Domain,
    w: int,
    nodes: np.ndarray,
    free: np.ndarray,
    missing: str,
    required: bool,
    budgets: Budgets | None = None,
) -> str:
    d = domain.demand
    need = np.array([d.gpus[w], d.cpu_m[w], d.ram_mib[w]])
    room = (free[nodes] >= need).all(axis=1)
    if room.any():
        blockers = budgets.blockers(w, nodes[room]) if budgets is not None else []
        if blockers:
            what = "required" if required else "optional"
            return (
                f"{missing} ({what}) did not fit: {int(room.sum())} compatible "
                f"node(s) have room, but {'; '.join(blockers)}"
            )
        if domain.objective.mode == "weighted":
            return (
                f"{missing} not worth their cost under the weighted objective; "
                f"{int(room.sum())} compatible node(s) still have room"
            )
        rules = describe_rules(domain, int(domain.demand.family[w]))
        return (
            f"{missing} ({'required' if required else 'optional'}) not placed: "
            f"{int(room.sum())} compatible node(s) have room, but "
            + (
                f"not in a way that keeps its rules ({rules})"
                if rules
                else "the solver found no plan using it in the time given"
            )
        )
    rivals = _rivals(domain, w)
    dims = [("GPUs", 0, 1), ("CPU cores", 1, MILLI), ("GiB RAM", 2, MIB_PER_GIB)]
    short_of = [name for name, k, _ in dims if need[k] > 0 and (free[nodes, k] < need[k]).all()]
    detail = ", ".join(
        f"{free[nodes, k].sum() / scale:g} {name} free" for name, k, scale in dims if need[k] > 0
    )
    what = "required" if required else "optional"
    rival_text = f"; competing workloads: {', '.join(rivals)}" if rivals else ""
    return (
        f"{missing} ({what}) did not fit: the {len(nodes)} compatible node(s) "
        f"are full ({detail}; no single node has room for one replica, short of "
        f"{' and '.join(short_of) or 'capacity'}){rival_text}"
    )


def _rivals(domain: Domain, w: int, limit: int = 5) -> list[str]:
    """Other workloads that can use the same nodes, highest priority first."""
    compatible = domain.compatible
    overlap = (compatible & compatible[w]).any(axis=1)
    overlap[w] = False
    others = np.flatnonzero(overlap)
    others = others[np.argsort(-domain.demand.priority[others], kind="stable")][:limit]
    return [f"{domain.demand.ids[o]} (priority {domain.demand.priority[o]})" for o in others]
