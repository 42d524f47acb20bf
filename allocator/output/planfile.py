"""A plan file from a placement: every replica and node, every unplaced replica with its
reason, moves, and the figures the plan states (objective terms, storage, links, power,
throughput, exposure), all read from one `Figures` of the placement."""

from __future__ import annotations

from collections import Counter

import numpy as np

from allocator import __version__
from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain
from allocator.evaluate.diagnose import unplaced_reasons
from allocator.evaluate.figures import Figures
from allocator.output.plan import (
    PLAN_VERSION,
    Exposure,
    InventoryRef,
    LinkLoad,
    Objective,
    PlanFile,
    PowerUse,
    Preemption,
    SolverReport,
    StorageUse,
    Throughput,
    Unplaced,
    moves_against,
    placements_of,
)


def plan_file(
    domain: Domain, ref: InventoryRef, placement: Replicas, solver: SolverReport
) -> PlanFile:
    figures = Figures(domain, placement)
    placements = placements_of(domain, placement)
    families = domain.demand.families
    placed = figures.placed.astype(np.int64)
    reasons = unplaced_reasons(figures)
    unplaced = [
        Unplaced(
            workload=str(families.ids[f]),
            replica=r,
            required=r < families.min[f],
            reason=reasons[f],
        )
        for f in np.flatnonzero(~families.by_target)
        for r in range(int(placed[f]), int(families.max[f]))
    ]
    terms = figures.objective_terms()
    return PlanFile(
        plan_version=PLAN_VERSION,
        generator=f"allocator {__version__}",
        inventory=ref,
        solver=solver,
        objective=Objective(
            mode=domain.objective.mode,
            unplaced_by_class={
                k.split(":", 1)[1]: v
                for k, v in terms.items()
                if k.startswith("unplaced_priority:")
            },
            **{k: v for k, v in terms.items() if ":" not in k},
            moved_replicas=int(figures.moved.sum()),
        ),
        placements=placements,
        unplaced=unplaced,
        moves=moves_against(domain.current, placements),
        storage=_storage_uses(figures),
        links=_link_loads(figures),
        power=_power_uses(figures),
        preempted=_preempted(figures),
        throughput=_throughput(figures, reasons),
        exposed=_exposed(figures),
    )


def _throughput(figures: Figures, reasons: dict[int, str]) -> list[Throughput]:
    domain, placement = figures.domain, figures.placement
    demand, fleet = domain.demand, domain.fleet
    families = demand.families
    achieved = figures.throughput
    _, lost = figures.loss
    of = demand.family[placement.workload]
    out = []
    for f in np.flatnonzero(families.by_target):
        mine = of == f
        survives = bool(domain.rules.survive[f] != NO_SCOPE)
        left = achieved[f] - lost[f] if survives else achieved[f]
        met = bool(left >= families.target[f] - 1e-9)
        out.append(
            Throughput(
                workload=str(families.ids[f]),
                unit=str(families.unit[f]),
                target=float(families.target[f]),
                achieved=float(achieved[f]),
                after_worst_loss=float(left) if survives else None,
                met=met,
                replicas_by_gpu_type=dict(
                    sorted(Counter(fleet.gpu_type_names[placement.node[mine]].tolist()).items())
                ),
                replicas_by_variant=dict(
                    sorted(
                        Counter(
                            (demand.variant[w] or "default") for w in placement.workload[mine]
                        ).items()
                    )
                ),
                reason=None if met else reasons.get(int(f), _exposure_reason(domain, f)),
            )
        )
    return out


def _exposure_reason(domain: Domain, f: int) -> str:
    scope = SCOPES[domain.rules.survive[f]]
    return f"losing the worst {scope} would leave less than the target"


def _exposed(figures: Figures) -> list[Exposure]:
    """Workloads whose required replicas one loss would take below min."""
    domain = figures.domain
    families = domain.demand.families
    lost, _ = figures.loss
    left = figures.placed - lost
    out = []
    for f in np.flatnonzero((families.min > 0) & ~families.by_target & (figures.placed > 0)):
        scope = int(domain.rules.survive[f])
        if scope != NO_SCOPE and left[f] < families.min[f]:
            out.append(
                Exposure(
                    workload=str(families.ids[f]),
                    scope=SCOPES[scope],
                    domain=str(domain.scopes.names(scope)[figures.worst_place[f]]),
                    remaining=int(left[f]),
                    min=int(families.min[f]),
                )
            )
    return out


def _preempted(figures: Figures) -> list[Preemption]:
    """Running replicas the plan stops, in classes below a class that gains replicas."""
    domain = figures.domain
    demand = domain.demand
    families = demand.families
    if not domain.current or not len(domain.objective.priority_classes):
        return []
    running = families.total(np.asarray(domain.running_now.sum(axis=0)).ravel())
    placed = figures.placed
    rank = demand.class_rank[families.first_row]
    gaining = rank[placed > running]
    if not len(gaining):
        return []
    names = domain.priority_classes
    ranks = sorted(set(demand.class_rank.tolist()))
    return [
        Preemption(
            workload=str(families.ids[f]),
            priority_class=names[ranks.index(rank[f])],
            stopped=int(running[f] - placed[f]),
        )
        for f in np.flatnonzero((placed < running) & (rank > gaining.min()))
    ]


def _storage_uses(figures: Figures) -> list[StorageUse]:
    domain, choice = figures.domain, figures.placement.dataset_on
    if choice is None or domain.storage is None:
        return []
    return [
        StorageUse(
            workload=str(domain.demand.ids[w]),
            system=str(domain.storage.ids[choice[w]]),
            size_tb=float(domain.demand.dataset_tb[w]),
        )
        for w in np.flatnonzero(choice >= 0)
    ]


def _link_loads(figures: Figures) -> list[LinkLoad]:
    network = figures.domain.network
    if network is None:
        return []
    loads = figures.link_loads_mbps
    return [
        LinkLoad(
            link=network.link_name(k),
            gbps=float(loads[k] / 1000),
            capacity_gbps=None
            if np.isinf(network.capacity_gbps[k])
            else float(network.capacity_gbps[k]),
        )
        for k in np.flatnonzero(loads > 0)
    ]


def _power_uses(figures: Figures) -> list[PowerUse]:
    domain = figures.domain
    network = domain.network
    if network is None:
        return []
    out = []
    for scope, key, caps in (
        ("site", domain.fleet.site, network.site_power_cap_kw),
        ("row", domain.fleet.row, network.row_power_cap_kw),
    ):
        out += [
            PowerUse(scope=scope, id=name, kw=kw, cap_kw=caps.get(name))
            for name, kw in figures.power_by(key).items()
        ]
    return out
