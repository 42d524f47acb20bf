"""The figures a plan states about its objective: each term recomputed from the placement
(node, storage, energy and migration cost, unplaced priority overall and per class, the
hard shortfall after the worst loss each workload must survive), throughput per target,
moves against the current placement and the cap on them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain
from allocator.evaluate.check.datacenter import dataset_choice, node_watts
from allocator.evaluate.check.entries import PlanReplicas
from allocator.output.plan import PlanFile, moves_against, row_key
from allocator.rules.base import Violation

TOLERANCE = 1e-6  # relative, on figures of order 1 or more


def differs(stated: float, value: float) -> bool:
    """A stated figure differs from the recomputed one (NaN and infinity always do)."""
    return not abs(stated - value) <= TOLERANCE * max(1.0, abs(value))


@dataclass(frozen=True)
class Terms:
    """The objective's terms as the checker recomputes them from the placement."""

    values: dict[str, float]  # the terms of `Objective`, by field name
    by_class: dict[str, float]  # unplaced priority per priority class
    breaches: list[Violation]  # losses a workload must survive and does not
    moved: int


def recompute(domain: Domain, plan: PlanFile, known: PlanReplicas) -> Terms:
    fleet, demand = domain.fleet, domain.demand
    families = demand.families
    w, n = known.row, known.node
    in_use = np.zeros(len(fleet), dtype=bool)
    in_use[n] = True
    nodes = float(fleet.cost[in_use].sum())
    choice, _ = dataset_choice(domain, plan)
    storage = _storage_cost(domain, choice)
    energy = float(node_watts(domain, known) @ _price_per_wh(domain))
    placed = np.bincount(demand.family[w], minlength=len(families)).astype(float)
    counted = np.where(families.target > 0, 0, families.priority)
    short, breaches = shortfall(domain, known, placed)
    left = _replicas_leaving(domain, plan)
    migration = float(sum(demand.move_cost[demand.index[wid]] * k for wid, k in left.items()))
    values = {
        "node_cost_per_hour": nodes,
        "storage_cost_per_hour": storage,
        "energy_cost_per_hour": energy,
        "unplaced_priority": float(counted @ (families.max - np.minimum(placed, families.max))),
        "hard_shortfall": float(families.priority @ short),
        "migration_cost_per_hour": migration,
        "moved_replicas": float(sum(left.values())),
        "cost_per_hour": nodes + storage + domain.objective.weights.energy * energy + migration,
    }
    return Terms(values, _unplaced_per_class(domain, placed), breaches, sum(left.values()))


def objective(domain: Domain, plan: PlanFile, known: PlanReplicas, terms: Terms) -> list[Violation]:
    out = []
    recomputed = dict(terms.values)
    if not plan.objective.hard_shortfall >= recomputed["hard_shortfall"] - TOLERANCE:
        # Say which loss is not survived rather than only that the sum is off.
        out += terms.breaches
        if terms.breaches:
            recomputed.pop("hard_shortfall")
    for name, value in recomputed.items():
        stated = getattr(plan.objective, name)
        if differs(stated, value):
            out.append(
                Violation(
                    f"objective_{name}",
                    f"plan states {name} = {stated:g}, the placement gives {value:g}",
                )
            )
    cap = domain.objective.migration.max_moves
    if cap is not None and terms.moved > cap:
        out.append(Violation("max_moves", f"{terms.moved} replicas leave their node, cap {cap}"))
    for name, value in terms.by_class.items():
        stated = plan.objective.unplaced_by_class.get(name, 0.0)
        if differs(stated, value):
            out.append(
                Violation(
                    "objective_unplaced_by_class",
                    f"plan states {stated:g} unplaced priority in class {name}, "
                    f"the placement gives {value:g}",
                )
            )
    out += _throughput(domain, plan, known)
    return out


def moves(domain: Domain, plan: PlanFile) -> list[Violation]:
    expected = moves_against(domain.current, plan.placements)
    if sorted(map(repr, expected)) == sorted(map(repr, plan.moves)):
        return []
    return [
        Violation(
            "moves",
            f"plan lists {len(plan.moves)} move(s) but the placement differs from the current "
            f"one by {len(expected)}",
        )
    ]


def _replicas_leaving(domain: Domain, plan: PlanFile) -> Counter[str]:
    """Per workload row, replicas running now on a node that the plan gives fewer of."""
    after: Counter[tuple[str, str]] = Counter((row_key(p), p.node) for p in plan.placements)
    before: Counter[tuple[str, str]] = Counter(
        (wid, node) for wid, nodes in domain.current.items() for node in nodes
    )
    left: Counter[str] = Counter()
    for (wid, _node), k in (before - after).items():
        left[wid] += k
    return left


def _unplaced_per_class(domain: Domain, placed: np.ndarray) -> dict[str, float]:
    demand = domain.demand
    families = demand.families
    names = list(domain.objective.priority_classes)
    if not names:
        return {}
    counted = np.where(families.target > 0, 0, families.priority)
    unplaced = counted * (families.max - np.minimum(placed, families.max))
    rank = demand.class_rank[families.first_row]
    return {
        name: float(unplaced[rank == (names.index(name) if name in names else len(names))].sum())
        for name in domain.priority_classes
    }


def rates(domain: Domain, known: PlanReplicas) -> np.ndarray:
    """Throughput of each placed replica: its row's rate on its node's GPU type."""
    demand, fleet = domain.demand, domain.fleet
    out = np.zeros(len(known))
    typed = fleet.gpu_type[known.node] >= 0
    if demand.rate.shape[1]:
        out[typed] = demand.rate[known.row[typed], fleet.gpu_type[known.node[typed]]]
    return out


def shortfall(
    domain: Domain, known: PlanReplicas, placed: np.ndarray
) -> tuple[np.ndarray, list[Violation]]:
    """Per workload: required replicas missing, plus throughput missing from its target
    in replicas of its fastest kind; both after the worst loss it must survive. And the
    losses that leave a workload short, as violations to cite if the plan hides them."""
    demand, families = domain.demand, domain.demand.families
    family = demand.family[known.row]
    rate = rates(domain, known)
    achieved = np.bincount(family, weights=rate, minlength=len(families))
    best = families.best_rate  # the unit the objective counts missing throughput in
    lost_count, lost_rate, where = worst_losses(domain, known, rate)
    target, low = families.target, families.min
    by_target = target > 0
    missing = np.ceil(np.maximum(target - achieved + lost_rate, 0) - 1e-9)
    short = np.where(
        by_target,
        np.maximum(low - placed, 0) + missing / np.where(by_target, best, 1.0),
        np.maximum(low - (placed - lost_count), 0),
    )
    left = np.where(by_target, achieved - lost_rate, placed - lost_count)
    floor = np.where(by_target, target, low)
    breaches = []
    for f in np.flatnonzero((where >= 0) & (left < floor - 1e-9)):
        scope = int(domain.rules.survive[f])
        unit = f" {families.unit[f]}" if by_target[f] else " replica(s)"
        breaches.append(
            Violation(
                "survive",
                f"{families.ids[f]}: losing {SCOPES[scope]} "
                f"{domain.scopes.names(scope)[where[f]]} leaves {left[f]:g}{unit}, "
                f"less than {floor[f]:g}, and the plan does not count it as a shortfall",
            )
        )
    return short, breaches


def worst_losses(
    domain: Domain, known: PlanReplicas, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per workload that must run and survive a loss: the replicas and throughput in the
    place whose loss takes most (by throughput with a target, else by replicas; the last
    by name on a tie), and that place's code (-1 for the others)."""
    families = domain.demand.families
    count, lost, where = (
        np.zeros(len(families)),
        np.zeros(len(families)),
        np.full(len(families), -1),
    )
    family = domain.demand.family[known.row]
    survive = domain.rules.survive[family]
    mine = (survive != NO_SCOPE) & ((families.min > 0) | (families.target > 0))[family]
    if not mine.any():
        return count, lost, where
    f, scope = family[mine], survive[mine]
    place = domain.scopes.table[known.node[mine], scope]
    name_rank = np.zeros(len(place), dtype=np.int64)
    for s in np.unique(scope):
        names = domain.scopes.names(int(s)).astype(str)
        rank = np.argsort(np.argsort(names, kind="stable"), kind="stable")
        name_rank[scope == s] = rank[place[scope == s]]
    keys, of = np.unique(np.stack([f, place]), axis=1, return_inverse=True)
    of = of.ravel()
    per_count = np.bincount(of, minlength=keys.shape[1]).astype(float)
    per_rate = np.bincount(of, weights=rate[mine], minlength=keys.shape[1])
    key_rank = np.zeros(keys.shape[1], dtype=np.int64)
    key_rank[of] = name_rank
    measure = np.where(families.target[keys[0]] > 0, per_rate, per_count)
    order = np.lexsort((-key_rank, -measure, keys[0]))
    first = order[np.searchsorted(keys[0][order], np.unique(keys[0]))]
    count[keys[0][first]] = per_count[first]
    lost[keys[0][first]] = per_rate[first]
    where[keys[0][first]] = keys[1][first]
    return count, lost, where


def _throughput(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    """The plan's throughput figures match what its replicas reach."""
    families = domain.demand.families
    achieved = np.bincount(
        domain.demand.family[known.row], weights=rates(domain, known), minlength=len(families)
    )
    stated = {t.workload: t for t in plan.throughput}
    out = []
    for f in np.flatnonzero(families.target > 0):
        wid = families.ids[f]
        entry = stated.get(wid)
        if entry is None:
            out.append(Violation("throughput", f"{wid}: the plan states no throughput"))
        elif differs(entry.achieved, achieved[f]):
            out.append(
                Violation(
                    "throughput",
                    f"{wid}: plan states {entry.achieved:g} {entry.unit}, "
                    f"its replicas reach {achieved[f]:g}",
                )
            )
        elif entry.met and achieved[f] < families.target[f] - 1e-9:
            out.append(
                Violation(
                    "throughput",
                    f"{wid}: plan says the target {families.target[f]:g} is met, "
                    f"its replicas reach {achieved[f]:g}",
                )
            )
    return out


def _price_per_wh(domain: Domain) -> np.ndarray:
    network = domain.network
    if network is None:
        return np.zeros(len(domain.fleet))
    return np.array(
        [
            network.energy_price.get(site, 0.0) * network.pue.get(site, 1.0) / 1000
            for site in domain.fleet.site
        ]
    )


def _storage_cost(domain: Domain, choice: np.ndarray) -> float:
    systems = domain.storage
    if systems is None:
        return 0.0
    on = choice >= 0
    return float((systems.cost_per_tb_hour[choice[on]] * domain.demand.dataset_tb[on]).sum())
