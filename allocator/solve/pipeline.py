"""The whole job for one inventory: load, plan, decode, explain, verify.

This is what the CLI and batch runs call. No plan leaves it unchecked: the independent
checker runs on the plan file exactly as it will be written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from allocator import __version__
from allocator.domain.build import build_domain
from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain
from allocator.evaluate.check import Violation, check_plan
from allocator.evaluate.diagnose import unplaced_reasons
from allocator.evaluate.figures import (
    link_loads_mbps,
    loss_exposure,
    moved_replicas,
    node_power_w,
    throughput_achieved,
)
from allocator.evaluate.levels import objective_terms
from allocator.inventory.load import load_inventory
from allocator.inventory.schema import Inventory, expanded_node_ids, row_id
from allocator.io.errors import ExitCode, InputError, InputProblem
from allocator.output.plan import (
    PLAN_VERSION,
    Exposure,
    InventoryRef,
    LevelReport,
    LinkLoad,
    Objective,
    PlanFile,
    PowerUse,
    Preemption,
    SolverReport,
    StorageUse,
    Throughput,
    Unplaced,
    load_plan,
    moves_against,
    placements_of,
    row_key,
    sha256_of,
)
from allocator.solve.strategy import PlanningResult, plan
from solvers.base import SolveOptions


@dataclass
class Outcome:
    domain: Domain
    result: PlanningResult
    plan: PlanFile
    violations: list[Violation]

    @property
    def exit_code(self) -> ExitCode:
        """0 all required replicas placed; 3 proven impossible; 4 not found in time."""
        if self.violations:
            return ExitCode.INTERNAL
        if self.result.hard_shortfall > 0:
            return ExitCode.UNPLACED if self.result.shortfall_proven else ExitCode.NO_PLAN
        return ExitCode.OK


def load_domain(path: str | Path) -> Domain:
    return build_domain(load_inventory(path), name=Path(path).stem)


def solve_file(
    path: str | Path,
    solver: str = "auto",
    options: SolveOptions | None = None,
    current_plan: str | Path | None = None,
) -> Outcome:
    """Plan an inventory file; with `current_plan`, what runs now is that plan's placement
    (instead of the inventory's `current_placement`)."""
    inventory = load_inventory(path)
    if current_plan is not None:
        running = current_from_plan(inventory, current_plan)
        inventory = inventory.model_copy(update={"current_placement": running})
    domain = build_domain(inventory, name=Path(path).stem)
    ref = InventoryRef(name=domain.name, path=str(path), sha256=sha256_of(path))
    return solve_domain(domain, ref, solver, options)


def current_from_plan(inventory: Inventory, path: str | Path) -> dict[str, list[str]]:
    """Where a previous plan put each replica, checked against the inventory."""
    plan = load_plan(path)
    rows = {w.id for w in inventory.workloads}
    rows |= {row_id(w.id, v.name) for w in inventory.workloads for v in w.variants}
    nodes = {n for ids in expanded_node_ids(inventory) for n in ids}
    problems, running = [], {}
    for k, p in enumerate(plan.placements):
        if row_key(p) not in rows:
            what = f"variant {p.variant!r} of " if p.variant else ""
            problems.append(
                InputProblem(
                    str(path),
                    f"{what}workload {p.workload!r} is not in the inventory",
                    entry=f"placements[{k}]",
                )
            )
        elif p.node not in nodes:
            problems.append(
                InputProblem(
                    str(path), f"node {p.node!r} is not in the inventory", entry=f"placements[{k}]"
                )
            )
        else:
            running.setdefault(row_key(p), []).append(p.node)
    if problems:
        raise InputError(problems)
    return running


def solve_domain(
    domain: Domain, ref: InventoryRef, solver: str = "auto", options: SolveOptions | None = None
) -> Outcome:
    options = options or SolveOptions()
    result = plan(domain, solver, options)
    plan_file = plan_file_from(domain, ref, result, options)
    return Outcome(domain, result, plan_file, check_plan(domain, plan_file))


def plan_file_from(
    domain: Domain, ref: InventoryRef, result: PlanningResult, options: SolveOptions
) -> PlanFile:
    placements = placements_of(domain, result.placement)
    families = domain.demand.families
    placed = families.total(result.placement.placed()).astype(np.int64)
    reasons = unplaced_reasons(domain, result.placement)
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
    terms = objective_terms(domain, result.placement)
    final = result.final
    return PlanFile(
        plan_version=PLAN_VERSION,
        generator=f"allocator {__version__}",
        inventory=ref,
        solver=SolverReport(
            name=result.solver,
            status=str(result.status),
            objective=final.value,
            bound=final.bound,
            gap=final.gap,
            time_limit_s=options.time_limit,
            build_s=result.timings.get("build_s", 0.0),
            column_generation_s=result.timings.get("column_generation_s", 0.0),
            solve_s=result.timings.get("solve_s", 0.0),
            total_s=result.timings.get("total_s", 0.0),
            levels=[
                LevelReport(
                    name=lv.name,
                    value=lv.value,
                    bound=lv.bound,
                    gap=lv.gap,
                    status=str(lv.status),
                    how=lv.how,
                )
                for lv in result.levels
            ],
            model=result.size,
            notes=result.notes,
        ),
        objective=Objective(
            mode=domain.objective.mode,
            unplaced_by_class={
                k.split(":", 1)[1]: v
                for k, v in terms.items()
                if k.startswith("unplaced_priority:")
            },
            **{k: v for k, v in terms.items() if ":" not in k},
            moved_replicas=int(moved_replicas(domain, result.placement).sum()),
        ),
        placements=placements,
        unplaced=unplaced,
        moves=moves_against(domain.current, placements),
        storage=_storage_uses(domain, result.placement),
        links=_link_loads(domain, result.placement),
        power=_power_uses(domain, result.placement),
        preempted=_preempted(domain, result.placement),
        throughput=_throughput(domain, result.placement, reasons),
        exposed=_exposed(domain, result.placement),
    )


def _throughput(domain: Domain, placement: Replicas, reasons: dict[int, str]) -> list[Throughput]:
    demand, fleet = domain.demand, domain.fleet
    families = demand.families
    achieved = throughput_achieved(domain, placement)
    _, lost = loss_exposure(domain, placement)
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


def _exposed(domain: Domain, placement: Replicas) -> list[Exposure]:
    """Workloads whose required replicas one loss would take below min."""
    demand = domain.demand
    families = demand.families
    placed = families.total(placement.placed())
    of = demand.family[placement.workload]
    out = []
    for f in np.flatnonzero((families.min > 0) & ~families.by_target):
        scope = int(domain.rules.survive[f])
        if scope == NO_SCOPE or placed[f] == 0:
            continue
        where = np.asarray(domain.scopes.names(scope))[domain.scopes.code(scope)]
        per = Counter(where[placement.node[of == f]].tolist())
        worst, count = max(per.items(), key=lambda kv: (kv[1], str(kv[0])))
        if placed[f] - count < families.min[f]:
            out.append(
                Exposure(
                    workload=str(families.ids[f]),
                    scope=SCOPES[scope],
                    domain=str(worst),
                    remaining=int(placed[f] - count),
                    min=int(families.min[f]),
                )
            )
    return out


def _preempted(domain: Domain, placement: Replicas) -> list[Preemption]:
    """Running replicas the plan stops, in classes below a class that gains replicas."""
    demand = domain.demand
    families = demand.families
    if not domain.current or not len(domain.objective.priority_classes):
        return []
    running = np.zeros(len(families), dtype=np.int64)
    for row, nodes in domain.current.items():
        running[demand.family[demand.index[row]]] += len(nodes)
    placed = families.total(placement.placed())
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


def _storage_uses(domain: Domain, placement: Replicas) -> list[StorageUse]:
    choice = placement.dataset_on
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


def _link_loads(domain: Domain, placement: Replicas) -> list[LinkLoad]:
    network = domain.network
    if network is None:
        return []
    loads = link_loads_mbps(domain, placement)
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


def _power_uses(domain: Domain, placement: Replicas) -> list[PowerUse]:
    network = domain.network
    if network is None:
        return []
    watts = node_power_w(domain, placement)
    out = []
    for scope, key, caps in (
        ("site", domain.fleet.site, network.site_power_cap_kw),
        ("row", domain.fleet.row, network.row_power_cap_kw),
    ):
        for name in np.unique(key.astype(str)):
            if name == "-":
                continue
            out.append(
                PowerUse(
                    scope=scope,
                    id=name,
                    kw=float(watts[key == name].sum() / 1000),
                    cap_kw=caps.get(name),
                )
            )
    return out
