"""What else a plan states about itself, each figure recomputed: the objective levels and
their bounds, power per row and site, traffic per link, exposure to a single loss,
preemptions; and that no number in the plan is NaN or infinite."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain
from allocator.evaluate.check.datacenter import link_loads, node_watts
from allocator.evaluate.check.entries import PlanReplicas
from allocator.evaluate.check.objective import Terms, differs, worst_losses
from allocator.output.plan import PlanFile
from allocator.rules.base import Violation


def levels(domain: Domain, plan: PlanFile, terms: Terms) -> list[Violation]:
    """Every level's value recomputed, its bound no better than its value, its gap as
    value and bound give it; the solver's objective, bound and gap are the last level's."""
    objective = domain.objective
    values = terms.values
    if objective.mode == "weighted":
        w = objective.weights
        expected = {
            "hard_shortfall": values["hard_shortfall"],
            "weighted": w.cost * values["cost_per_hour"] + w.unplaced * values["unplaced_priority"],
        }
    elif objective.priority_classes:
        expected = {
            "hard_shortfall": values["hard_shortfall"],
            **{f"unplaced_priority:{name}": v for name, v in terms.by_class.items()},
            "cost_per_hour": values["cost_per_hour"],
        }
    else:
        expected = {k: values[k] for k in ("hard_shortfall", "unplaced_priority", "cost_per_hour")}
    stated = plan.solver.levels
    names = [lv.name for lv in stated]
    if names != list(expected):
        return [
            Violation(
                "solver_levels",
                f"plan states levels {', '.join(names) or 'none'}; the objective has "
                f"{', '.join(expected)}",
            )
        ]
    out = []
    for lv in stated:
        value = expected[lv.name]
        if differs(lv.value, value):
            out.append(
                Violation(
                    "solver_levels",
                    f"level {lv.name}: plan states {lv.value:g}, the placement gives {value:g}",
                )
            )
        if lv.bound is not None and not lv.bound <= value + 1e-6 * max(1.0, abs(value)):
            out.append(
                Violation(
                    "solver_bound",
                    f"level {lv.name}: bound {lv.bound:g} is above the value {value:g} "
                    "(a bound of a minimum is at most its value)",
                )
            )
        gap = _gap(value, lv.bound)
        if (lv.gap is None) != (gap is None) or (
            gap is not None and lv.gap is not None and not abs(lv.gap - gap) <= 1e-6
        ):
            out.append(
                Violation(
                    "solver_gap",
                    f"level {lv.name}: plan states gap {lv.gap}, value and bound give {gap}",
                )
            )
    last = stated[-1]
    if differs(plan.solver.objective, last.value) or plan.solver.bound != last.bound:
        out.append(
            Violation(
                "solver_objective",
                f"solver objective {plan.solver.objective:g} and bound {plan.solver.bound} "
                f"are not those of the last level ({last.value:g}, {last.bound})",
            )
        )
    return out


def _gap(value: float, bound: float | None) -> float | None:
    if bound is None:
        return None
    diff = abs(value - bound)
    if diff <= 1e-9 * max(1.0, abs(value)):
        return 0.0
    return diff / max(abs(value), 1e-9)


def power(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    """kW per site and row (every one with a name), with the inventory's caps."""
    network, fleet = domain.network, domain.fleet
    expected: dict[tuple[str, str], tuple[float, float | None]] = {}
    if network is not None:
        watts = node_watts(domain, known)
        for scope, key, caps in (
            ("site", fleet.site, network.site_power_cap_kw),
            ("row", fleet.row, network.row_power_cap_kw),
        ):
            for name in np.unique(key.astype(str)):
                if name != "-":
                    kw = float(watts[key == name].sum() / 1000)
                    expected[(scope, str(name))] = (kw, caps.get(str(name)))
    stated = {(p.scope, p.id): (p.kw, p.cap_kw) for p in plan.power}
    out = _missing_and_extra("power", "power of", set(expected), set(stated))
    for key in sorted(set(expected) & set(stated)):
        (kw, cap), (stated_kw, stated_cap) = expected[key], stated[key]
        if differs(stated_kw, kw) or stated_cap != cap:
            out.append(
                Violation(
                    "power",
                    f"{key[0]} {key[1]}: plan states {stated_kw:g} kW (cap {stated_cap}), "
                    f"the placement draws {kw:g} kW (cap {cap})",
                )
            )
    return out


def links(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    """Gbps on every link that carries traffic, with its capacity."""
    network = domain.network
    expected: dict[str, tuple[float, float | None]] = {}
    if network is not None:
        loads, _ = link_loads(domain, plan, known)
        for k in np.flatnonzero(loads > 0):
            capacity = float(network.capacity_gbps[k])
            expected[network.link_name(int(k))] = (
                float(loads[k] / 1000),
                None if math.isinf(capacity) else capacity,
            )
    stated = {link.link: (link.gbps, link.capacity_gbps) for link in plan.links}
    out = _missing_and_extra("links", "traffic on", set(expected), set(stated))
    for name in sorted(set(expected) & set(stated)):
        (gbps, capacity), (stated_gbps, stated_capacity) = expected[name], stated[name]
        if differs(stated_gbps, gbps) or stated_capacity != capacity:
            out.append(
                Violation(
                    "links",
                    f"{name}: plan states {stated_gbps:g} Gbps (capacity {stated_capacity}), "
                    f"the placement routes {gbps:g} Gbps (capacity {capacity})",
                )
            )
    return out


def exposure(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    """The workloads whose required replicas one loss would take below min, the place of
    that loss and what would remain."""
    families = domain.demand.families
    family = domain.demand.family[known.row]
    placed = np.bincount(family, minlength=len(families))
    count, _, where = worst_losses(domain, known, np.zeros(len(known)))
    left = placed - count
    expected = {}
    for f in np.flatnonzero(
        (families.min > 0) & ~families.by_target & (placed > 0) & (left < families.min)
    ):
        scope = int(domain.rules.survive[f])
        if scope != NO_SCOPE:
            place = str(domain.scopes.names(scope)[where[f]])
            expected[str(families.ids[f])] = (SCOPES[scope], place, int(left[f]))
    stated = {e.workload: (e.scope, e.domain, e.remaining) for e in plan.exposed}
    out = _missing_and_extra("exposed", "exposure of", set(expected), set(stated))
    out += [
        Violation(
            "exposed",
            f"{wid}: plan states losing {stated[wid][0]} {stated[wid][1]} leaves "
            f"{stated[wid][2]}, the placement gives {expected[wid][0]} {expected[wid][1]} "
            f"leaving {expected[wid][2]}",
        )
        for wid in sorted(set(expected) & set(stated))
        if stated[wid][0] != expected[wid][0] or stated[wid][2] != expected[wid][2]
    ]
    return out


def preemption(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    """Running replicas the plan stops, in classes below a class that gains replicas."""
    demand = domain.demand
    families = demand.families
    expected: dict[str, int] = {}
    if domain.current and len(domain.objective.priority_classes):
        running = np.zeros(len(families), dtype=np.int64)
        for row, nodes in domain.current.items():
            running[demand.family[demand.index[row]]] += len(nodes)
        placed = np.bincount(demand.family[known.row], minlength=len(families))
        rank = demand.class_rank[families.first_row]
        gaining = rank[placed > running]
        if len(gaining):
            for f in np.flatnonzero((placed < running) & (rank > gaining.min())):
                expected[str(families.ids[f])] = int(running[f] - placed[f])
    stated = {p.workload: p.stopped for p in plan.preempted}
    out = _missing_and_extra("preempted", "preemption of", set(expected), set(stated))
    out += [
        Violation(
            "preempted",
            f"{wid}: plan states {stated[wid]} replicas stopped, the placement stops "
            f"{expected[wid]}",
        )
        for wid in sorted(set(expected) & set(stated))
        if stated[wid] != expected[wid]
    ]
    return out


def _missing_and_extra(rule: str, what: str, expected: set, stated: set) -> list[Violation]:
    def name(key: object) -> str:
        return " ".join(key) if isinstance(key, tuple) else str(key)

    return [
        Violation(rule, f"the plan states no {what} {name(k)}") for k in sorted(expected - stated)
    ] + [
        Violation(rule, f"the plan states {what} {name(k)}, which the placement does not have")
        for k in sorted(stated - expected)
    ]


def finite(plan: PlanFile) -> list[Violation]:
    """No number anywhere in the plan is NaN or infinite (standard JSON has neither)."""
    return [
        Violation("non_finite", f"{path} is {value}")
        for path, value in _numbers(plan.model_dump(), "")
        if not math.isfinite(value)
    ]


def _numbers(value: Any, path: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _numbers(item, f"{path}[{k}]")
