"""Objective terms of a node-level placement, computed straight from the domain.

The same numbers the model's objective levels compute from columns; used to rank
heuristic placements and to cross-check decoded solutions.
"""

from __future__ import annotations

from allocator.domain.replicas import Replicas
from allocator.domain.tables import Domain
from allocator.evaluate.figures import Figures
from allocator.model.reduce import PackingInstance

TERMS = ("hard_shortfall", "unplaced_priority", "cost_per_hour")


def objective_terms(domain: Domain, placement: Replicas) -> dict[str, float]:
    """The objective's terms of a placement (`Figures.objective_terms`)."""
    return Figures(domain, placement).objective_terms()


def lexicographic(domain: Domain, terms: dict[str, float]) -> tuple[float, ...]:
    """The objective levels in the order the file's objective ranks them."""
    objective = domain.objective
    if objective.mode == "weighted":
        w = objective.weights
        blended = w.cost * terms["cost_per_hour"] + w.unplaced * terms["unplaced_priority"]
        return terms["hard_shortfall"], blended
    classes = [k for k in terms if k.startswith("unplaced_priority:")]
    if classes:
        return (terms["hard_shortfall"], *(terms[k] for k in classes), terms["cost_per_hour"])
    return tuple(terms[name] for name in TERMS)


def level_names(domain: Domain) -> tuple[str, ...]:
    """Names of the objective levels, in the order `lexicographic` gives their values."""
    objective = domain.objective
    if objective.mode == "weighted":
        return "hard_shortfall", "weighted"
    if len(objective.priority_classes):
        classes = tuple(f"unplaced_priority:{name}" for name in domain.priority_classes)
        return "hard_shortfall", *classes, "cost_per_hour"
    return TERMS


def level_values(inst: PackingInstance, placement: Replicas) -> tuple[float, ...]:
    return plan_values(inst.domain, placement)


def plan_values(domain: Domain, placement: Replicas) -> tuple[float, ...]:
    """The placement's value at each objective level, in order."""
    return lexicographic(domain, objective_terms(domain, placement))
