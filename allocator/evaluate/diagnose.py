"""Why a replica was not placed, in terms an operator can act on.

Two kinds of answer: no node in the fleet could ever host one replica (and which
requirement rules each candidate out), or compatible nodes exist but the plan filled
them (with how much they hold, and who competes for them). Each answer names the
constraint family that blocks the workload, with the names `allocator explain` gives the
relaxations it tries, so that the plan's fast reason and explain's analysis can be
compared family by family.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from allocator.domain.compatibility import compatibility
from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain
from allocator.domain.units import (
    MIB_PER_GIB,
    MILLI,
    NODE_RESOURCES,
    node_capacity,
    replica_demand,
)
from allocator.evaluate.figures import Figures
from allocator.heuristics.budgets import Budgets
from allocator.rules import describe as describe_rules

# What a node resource a replica does not fit in is, as a constraint family.
RESOURCE_FAMILY = {"nic": "network"}


@dataclass(frozen=True)
class Cause:
    """Why a workload is short: the constraint family that blocks it and the reason in
    words. Families: gpu_type, gpu_memory, region, zone, node_labels, taints, spread,
    survive, gang, affinity, anti_affinity, tenancy, node_state, power, network, storage,
    capacity, node_size (no node is big enough), objective (weighted mode found it not
    worth its cost), solver (nothing found blocks it: the search ran out of time)."""

    family: str
    text: str


def unplaced_reasons(figures: Figures) -> dict[int, str]:
    """Reason per workload (family index) with fewer replicas placed than its max, or
    with its throughput target not met."""
    return {f: cause.text for f, cause in unplaced_causes(figures).items()}


def unplaced_causes(figures: Figures) -> dict[int, Cause]:
    """Cause per workload (family index) with fewer replicas placed than its max, or with
    its throughput target not met."""
    domain, placement = figures.domain, figures.placement
    demand, fleet = domain.demand, domain.fleet
    families = demand.families
    placed, achieved = figures.placed, figures.throughput
    short = np.where(families.by_target, achieved < families.target - 1e-9, placed < families.max)
    if not short.any():
        return {}
    compatible = domain.compatible
    needs = replica_demand(demand)
    used = (figures.counts @ needs).astype(float)
    used[:, 0] = figures.gpus_used
    free = node_capacity(fleet) - used
    idle = _compatible_if_up(domain)
    unselected: np.ndarray | None = None
    causes = {}
    budgets = Budgets(domain).replay(placement)
    for f in np.flatnonzero(short):
        rows = families.rows(int(f))
        hosted = [w for w in rows if compatible[w].any()]
        if not hosted:
            found = [no_host_cause(domain, int(w)) for w in rows]
            causes[int(f)] = (
                found[0]
                if len(rows) == 1
                else Cause(
                    found[0].family,
                    "; ".join(
                        f"{demand.variant[w] or 'default'}: {why.text}"
                        for w, why in zip(rows, found, strict=True)
                    ),
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
        waiting = np.flatnonzero(idle[w] & ~compatible[w]) if idle is not None else np.zeros(0)
        cause = _capacity_cause(
            figures,
            w,
            np.flatnonzero(compatible[w]),
            free,
            needs[w],
            missing,
            bool(required),
            budgets,
            waiting,
        )
        if cause.family == "capacity" and _has_selectors(domain, w):
            if unselected is None:
                unselected = _compatible_if_unselected(domain)
            roomy = (free >= needs[w]).all(axis=1)
            cause = Cause(cause.family, cause.text + _ruled_out(domain, w, unselected[w] & roomy))
        causes[int(f)] = cause
    return causes


def no_host_reason(domain: Domain, w: int) -> str:
    """Which requirement no node meets, in words."""
    return no_host_cause(domain, w).text


def no_host_cause(domain: Domain, w: int) -> Cause:
    """Which requirement no node meets, checked in the order an operator would fix them."""
    d, f = domain.demand, domain.fleet
    gpus = int(d.gpus[w])
    everywhere = np.ones(len(f), dtype=bool)
    ruled_out = _selector_cause(domain, w, everywhere, "node")
    if ruled_out is not None:
        return ruled_out
    candidates = everywhere
    if d.uses_gpu[w]:
        if not f.gpu_types:
            return Cause("gpu_type", "needs a GPU; no node in the fleet has GPUs")
        allowed = [t.name for t, ok in zip(f.gpu_types, d.allowed_types[w], strict=True) if ok]
        typed = (f.gpu_type >= 0) & d.allowed_types[w][np.maximum(f.gpu_type, 0)]
        if not typed.any():
            wanted = ", ".join(_allowed_names(domain, w)) or "any GPU"
            have = ", ".join(t.name for t in f.gpu_types) or "none"
            return Cause(
                "gpu_type", f"no node has an allowed GPU type: needs {wanted}; the fleet has {have}"
            )
        ruled_out = _selector_cause(
            domain, w, typed, f"node with an allowed GPU type ({', '.join(allowed)})"
        )
        if ruled_out is not None:
            return ruled_out
        candidates = typed
    candidates = candidates & _selected(domain, w)
    if gpus > 0:
        if not (f.gpus[candidates] >= gpus).any():
            return Cause(
                "node_size",
                f"no node of type {', '.join(allowed)} has {gpus} GPUs; the most on one "
                f"node is {int(f.gpus[candidates].max())}",
            )
        candidates &= f.gpus >= gpus
        per_gpu = d.gpu_mem_mib[w] / gpus
        if not (f.gpu_memory_mib[candidates] >= per_gpu).any():
            best = f.gpu_memory_mib[candidates].max() / MIB_PER_GIB
            return Cause(
                "gpu_memory",
                f"needs {d.gpu_mem_mib[w] / MIB_PER_GIB:g} GiB of GPU memory over {gpus} "
                f"GPU(s), {per_gpu / MIB_PER_GIB:g} GiB per GPU; the largest allowed GPU "
                f"has {best:g} GiB",
            )
        candidates &= f.gpu_memory_mib * gpus >= d.gpu_mem_mib[w]
    up = candidates & (f.state == "up")
    if not up.any():
        return Cause("node_state", _not_up_text(domain, np.flatnonzero(candidates)))
    candidates = up
    for resource in NODE_RESOURCES[1:]:
        need = getattr(d, resource.replica_field)[w]
        have = getattr(f, resource.node_field)
        if not (have[candidates] >= need).any():
            return Cause(
                RESOURCE_FAMILY.get(resource.key, "node_size"),
                f"needs {need / resource.scale:g}{resource.unit} of {resource.name} per replica;"
                f" the most any otherwise suitable node has is "
                f"{have[candidates].max() / resource.scale:g}{resource.unit}",
            )
        candidates &= have >= need
    return Cause("node_size", "no node can host a replica")


def _selector_checks(domain: Domain, w: int) -> list[tuple[str, np.ndarray, str]]:
    """(family, nodes that pass, what passing means) per selector row w states, in the
    order an operator would relax them: region, zone, labels, taints."""
    fleet, demand = domain.fleet, domain.demand
    checks = []
    for family, values, wanted in (
        ("region", fleet.region, demand.regions[w]),
        ("zone", fleet.zone, demand.zones[w]),
    ):
        if wanted is not None:
            passing = np.isin(values.astype(str), list(wanted))
            checks.append(
                (family, passing, f"is in an allowed {family} ({', '.join(sorted(wanted))})")
            )
    selector = demand.selector[w]
    if selector:
        per_set = np.array(
            [all(labels.get(k) == v for k, v in selector.items()) for labels in fleet.label_sets],
            dtype=bool,
        )
        wanted_labels = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
        checks.append(
            (
                "node_labels",
                per_set[fleet.label_set],
                f"has the labels it selects ({wanted_labels})",
            )
        )
    tolerated = np.array([t <= demand.tolerations[w] for t in fleet.taint_sets], dtype=bool)
    checks.append(("taints", tolerated[fleet.taint_set], "tolerates"))
    return checks


def _selected(domain: Domain, w: int) -> np.ndarray:
    """Nodes row w's selectors allow."""
    ok = np.ones(len(domain.fleet), dtype=bool)
    for _, passing, _ in _selector_checks(domain, w):
        ok &= passing
    return ok


def _selector_cause(domain: Domain, w: int, among: np.ndarray, what: str) -> Cause | None:
    """The first selector that leaves none of the nodes `among`, or None when some node
    passes them all."""
    fleet, demand = domain.fleet, domain.demand
    left = among.copy()
    for family, passing, words in _selector_checks(domain, w):
        if not (left & passing).any():
            if family != "taints":
                return Cause(family, f"no {what} {words}")
            taints = set().union(*(fleet.taint_sets[s] for s in np.unique(fleet.taint_set[left])))
            untolerated = ", ".join(sorted(taints - demand.tolerations[w]))
            return Cause(
                "taints",
                f"every otherwise allowed {what} has a taint it does not tolerate ({untolerated})",
            )
        left &= passing
    return None


def _not_up_text(domain: Domain, nodes: np.ndarray) -> str:
    """The suitable nodes are all draining or down: where they are, in words."""
    states = sorted(set(domain.fleet.state[nodes].tolist()))
    many = len(nodes) > 1
    return (
        f"the only suitable node{'s' if many else ''} ({len(nodes)}, in "
        f"{where_nodes_are(domain, nodes)}) {'are' if many else 'is'} {' or '.join(states)}"
    )


def where_nodes_are(domain: Domain, nodes: np.ndarray) -> str:
    """`rack r3`, `racks r3, r4`, or the nodes' ids when some have no rack."""
    fleet = domain.fleet
    racks = sorted(set(fleet.rack[nodes].astype(str).tolist()))
    if "-" not in racks:
        return ("rack " if len(racks) == 1 else "racks ") + ", ".join(racks)
    return ", ".join(fleet.ids[nodes[:5]].astype(str)) + (" ..." if len(nodes) > 5 else "")


def _compatible_if_up(domain: Domain) -> np.ndarray | None:
    """(rows x nodes) compatibility with every node up; None when every node is up."""
    fleet = domain.fleet
    if (fleet.state == "up").all():
        return None
    return compatibility(
        replace(fleet, state=np.full(len(fleet), "up", dtype=object)), domain.demand
    )


def _has_selectors(domain: Domain, w: int) -> bool:
    d = domain.demand
    taints = set().union(*domain.fleet.taint_sets)
    return (
        d.zones[w] is not None
        or d.regions[w] is not None
        or bool(d.selector[w])
        or not taints <= d.tolerations[w]
    )


def _compatible_if_unselected(domain: Domain) -> np.ndarray:
    """(rows x nodes) compatibility with no row restricted by zones, regions, labels or
    taints."""
    d, fleet = domain.demand, domain.fleet
    n = len(d)
    every_taint = frozenset().union(*fleet.taint_sets)
    free = replace(
        d,
        zones=np.full(n, None, dtype=object),
        regions=np.full(n, None, dtype=object),
        selector=np.array([{} for _ in range(n)], dtype=object),
        tolerations=np.full(n, every_taint, dtype=object),
    )
    return compatibility(fleet, free)


SELECTOR_WORDS = {
    "region": "regions",
    "zone": "zones",
    "node_labels": "node selector",
    "taints": "missing tolerations",
}


def _ruled_out(domain: Domain, w: int, roomy: np.ndarray) -> str:
    """Words for the nodes with room that only row w's selectors keep it off ('' if none)."""
    if not roomy.any():
        return ""
    why = [
        SELECTOR_WORDS[family]
        for family, ok, _ in _selector_checks(domain, w)
        if (roomy & ~ok).any()
    ]
    return f"; {int(roomy.sum())} node(s) with room are ruled out by its {' and '.join(why)}"


def _allowed_names(domain: Domain, w: int) -> list[str]:
    """Allowed types as written, including ones absent from the fleet."""
    from_fleet = [
        t.name
        for t, ok in zip(domain.fleet.gpu_types, domain.demand.allowed_types[w], strict=True)
        if ok
    ]
    return domain.allowed_type_names.get(str(domain.demand.ids[w]), from_fleet)


def _budget_family(blocker: str) -> str:
    """The family of a shared limit Budgets names."""
    if "power cap" in blocker:
        return "power"
    return "storage" if "storage system" in blocker else "network"


def _capacity_cause(
    figures: Figures,
    w: int,
    nodes: np.ndarray,
    free: np.ndarray,
    need: np.ndarray,
    missing: str,
    required: bool,
    budgets: Budgets,
    waiting: np.ndarray,
) -> Cause:
    """Compatible nodes exist: a shared limit, the objective or a rule keeps the replicas
    off those with room, or none has room (`free` and `need` per node resource)."""
    domain = figures.domain
    what = "required" if required else "optional"
    room = (free[nodes] >= need).all(axis=1)
    if room.any():
        blockers = budgets.blockers(w, nodes[room])
        if blockers:
            return Cause(
                _budget_family(blockers[0]),
                f"{missing} ({what}) did not fit: {int(room.sum())} compatible "
                f"node(s) have room, but {'; '.join(blockers)}",
            )
        if domain.objective.mode == "weighted":
            return Cause(
                "objective",
                f"{missing} not worth their cost under the weighted objective; "
                f"{int(room.sum())} compatible node(s) still have room",
            )
        return _rule_cause(figures, w, nodes, nodes[room], missing, what)
    rivals = _rivals(domain, w)
    short_of = [
        resource.name
        for k, resource in enumerate(NODE_RESOURCES)
        if need[k] > 0 and (free[nodes, k] < need[k]).all()
    ]
    dims = [("GPUs", 0, 1), ("CPU cores", 1, MILLI), ("GiB RAM", 2, MIB_PER_GIB)]
    detail = ", ".join(
        f"{free[nodes, k].sum() / scale:g} {name} free" for name, k, scale in dims if need[k] > 0
    )
    rival_text = f"; competing workloads: {', '.join(rivals)}" if rivals else ""
    waiting_text = (
        f"; {len(waiting)} more suitable node(s) are draining or down, in "
        f"{where_nodes_are(domain, waiting)}"
        if len(waiting)
        else ""
    )
    network_only = short_of == [r.name for r in NODE_RESOURCES if r.key == "nic"]
    return Cause(
        "network" if network_only else "capacity",
        f"{missing} ({what}) did not fit: the {len(nodes)} compatible node(s) "
        f"are full ({detail}; no single node has room for one replica, short of "
        f"{' and '.join(short_of) or 'capacity'}){rival_text}{waiting_text}",
    )


def _rule_cause(
    figures: Figures, w: int, nodes: np.ndarray, roomy: np.ndarray, missing: str, what: str
) -> Cause:
    """Compatible nodes have room, yet the replicas are not there: which rule keeps them
    off, from what the plan and the fleet show (a dedicated tenant on every roomy node, a
    spread the compatible places cannot hold), else the workload's rules in words."""
    domain = figures.domain
    f = int(domain.demand.family[w])
    head = f"{missing} ({what}) not placed: {len(roomy)} compatible node(s) have room, but "
    tenants = _tenants_in_the_way(figures, w, roomy)
    if tenants is not None:
        return Cause("tenancy", head + tenants)
    spread = _spread_bound(domain, w, nodes)
    if spread is not None:
        return Cause("spread", head + spread)
    families = _rule_families(domain, f)
    if families:
        rules = describe_rules(domain, f) or "other workloads keep apart from it"
        return Cause(families[0], head + f"not in a way that keeps its rules ({rules})")
    return Cause("solver", head + "the solver found no plan using it in the time given")


def _tenants_in_the_way(figures: Figures, w: int, roomy: np.ndarray) -> str | None:
    """Words for a tenancy that keeps w off every node with room (each runs replicas of
    another tenant, and one of the two is dedicated), or None."""
    domain = figures.domain
    dedicated = domain.rules.dedicated
    if not dedicated:
        return None
    tenant = domain.demand.tenant.astype(str)
    own = tenant[w]
    other_rows = tenant != own
    if own not in dedicated:
        other_rows &= np.isin(tenant, sorted(dedicated))
    present = figures.counts[roomy] @ other_rows.astype(np.int64)
    if not (present > 0).all():
        return None
    rows_there = np.unique(figures.counts[roomy].tocoo().col)
    names = sorted(set(tenant[rows_there[other_rows[rows_there]]].tolist()) - {""})
    if own in dedicated:
        return (
            f"its tenant {own} is dedicated and each of them runs replicas of "
            f"{', '.join(names) or 'workloads without a tenant'}"
        )
    return (
        f"each of them runs replicas of dedicated tenant {', '.join(names)}, which shares no node"
    )


def _spread_bound(domain: Domain, w: int, nodes: np.ndarray) -> str | None:
    """Words for a spread rule that the places w may use cannot hold its replicas, or
    None."""
    f = int(domain.demand.family[w])
    t = domain.rules.spread
    wanted = int(domain.demand.families.max[f])
    for r in t.of(f):
        scope = int(t.scope[r])
        places = len(np.unique(domain.scopes.code(scope)[nodes]))
        name = SCOPES[scope]
        if t.most[r] > 0 and t.most[r] * places < wanted:
            return (
                f"spread across {name} allows at most {int(t.most[r]) * places} of {wanted}: "
                f"{int(t.most[r])} per {name} over the {places} {name}(s) it may use"
            )
        if t.fewest[r] > 0 and places < t.fewest[r]:
            return f"spread across {name} asks for {int(t.fewest[r])} {name}s; it may use {places}"
    return None


def _rule_families(domain: Domain, f: int) -> list[str]:
    """The rule families workload f is under, in the order rules/ lists them."""
    t = domain.rules
    relations = range(int(t.relations.ptr[f]), int(t.relations.ptr[f + 1]))
    apart = t.relations.apart[list(relations)]
    named_apart = ((t.relations.other == f) & t.relations.apart).any()
    tenant = domain.demand.tenant[domain.demand.families.first_row[f]]
    found = [
        ("spread", len(t.spread.of(f)) > 0),
        ("survive", t.survive[f] != NO_SCOPE),
        ("gang", bool(t.gang.member[f])),
        ("affinity", bool((~apart).any())),
        ("anti_affinity", bool(apart.any() or named_apart)),
        ("tenancy", tenant in t.dedicated),
    ]
    return [name for name, has in found if has]


def _rivals(domain: Domain, w: int, limit: int = 5) -> list[str]:
    """Other workloads that can use the same nodes, highest priority first."""
    compatible = domain.compatible
    overlap = (compatible & compatible[w]).any(axis=1)
    overlap[w] = False
    others = np.flatnonzero(overlap)
    others = others[np.argsort(-domain.demand.priority[others], kind="stable")][:limit]
    return [f"{domain.demand.ids[o]} (priority {domain.demand.priority[o]})" for o in others]
