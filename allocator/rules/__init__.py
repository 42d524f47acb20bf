"""Workload rules, one module per family: each holds its table, its model rows, its greedy
limit, its check and its words for diagnosis (see `base.RuleFamily`).

Adding a rule: its fields in the inventory schema, a module here with a table built from
them and the hooks it needs, an entry in `RuleTables`, `tables` and `FAMILIES`, and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from allocator.domain.scopes import NO_SCOPE
from allocator.inventory.schema import Inventory
from allocator.rules import affinity, gang, selectors, shares, spread, survive, tenancy

if TYPE_CHECKING:
    from allocator.domain.tables import Domain

from allocator.rules.base import Placed, RuleFamily, ShapeRules, Violation

FAMILIES: tuple[RuleFamily, ...] = (
    spread.FAMILY,
    survive.FAMILY,
    gang.FAMILY,
    affinity.FAMILY,
    tenancy.FAMILY,
    selectors.FAMILY,
    shares.FAMILY,
)


@dataclass(frozen=True, eq=False)
class RuleTables:
    """The rules of every workload, as arrays (indices are workloads, not demand rows)."""

    spread: spread.SpreadTable
    survive: np.ndarray  # scope each workload survives the loss of, NO_SCOPE for none
    gang: gang.GangTable
    relations: affinity.RelationTable
    dedicated: frozenset[str]  # dedicated tenants
    shares: shares.ShareTable  # GPU shares per tenant or workload and GPU type


def tables(inventory: Inventory) -> RuleTables:
    workloads = inventory.workloads
    family_of = {w.id: f for f, w in enumerate(workloads)}
    return RuleTables(
        spread=spread.table(workloads),
        survive=survive.table(workloads),
        gang=gang.table(workloads),
        relations=affinity.table(workloads, family_of),
        dedicated=tenancy.table(inventory),
        shares=shares.table(inventory),
    )


def scopes_counted(domain: Domain) -> set[int]:
    """Scopes at which some rule counts replicas per place."""
    t = domain.rules
    found = {*t.spread.scope.tolist(), *t.survive.tolist(), *t.gang.within[t.gang.member].tolist()}
    return (found | set(t.relations.scope.tolist())) - {NO_SCOPE}


def shape_rules(domain: Domain) -> ShapeRules:
    """What every family asks of single nodes, merged."""
    out = ShapeRules.none(len(domain.demand))
    for family in FAMILIES:
        if family.shapes is not None:
            out = out.merged(family.shapes(domain))
    return out


def check(domain: Domain, placed: Placed) -> list[Violation]:
    """Every family's own check of the plan's replicas."""
    return [v for family in FAMILIES if family.check for v in family.check(domain, placed)]


def describe(domain: Domain, f: int) -> str:
    """Workload f's rules about where its replicas go together, in words."""
    return ", ".join(
        w for family in FAMILIES if family.describe for w in family.describe(domain, f)
    )


__all__ = [
    "FAMILIES",
    "Placed",
    "RuleFamily",
    "RuleTables",
    "Violation",
    "check",
    "describe",
    "scopes_counted",
    "shape_rules",
    "tables",
]
