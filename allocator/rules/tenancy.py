"""Dedicated tenants: a node that runs replicas of a dedicated tenant runs nothing of any
other tenant (nor of workloads without one).

Table: the set of dedicated tenants; each demand row's tenant is in the demand.
Model: a dedicated tenant's rows get shapes of their own, and no node pattern mixes them
with other shapes; the greedy placers close a node to other tenants once one is on it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from allocator.rules.base import Placed, RuleFamily, ShapeRules, Violation

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.inventory.schema import Inventory


def table(inventory: Inventory) -> frozenset[str]:
    return frozenset(t for t, spec in inventory.tenants.items() if spec.dedicated)


def dedicated_tenant(domain: Domain) -> np.ndarray:
    """Each demand row's tenant if it is dedicated, else ""."""
    dedicated = domain.rules.dedicated
    return np.array(
        [t if t in dedicated else "" for t in domain.demand.tenant], dtype=object
    ).reshape(len(domain.demand))


def shapes(domain: Domain) -> ShapeRules:
    return replace(ShapeRules.none(len(domain.demand)), tenant=dedicated_tenant(domain))


def check(domain: Domain, placed: Placed) -> list[Violation]:
    dedicated = domain.rules.dedicated
    if not dedicated or not len(placed.row):
        return []
    tenant = np.array([t or "-" for t in domain.demand.tenant], dtype=object)[placed.row]
    pairs = np.unique(
        np.stack([placed.node, np.unique(tenant, return_inverse=True)[1].ravel()]), axis=1
    )
    names = np.unique(tenant)
    out = []
    for node in np.unique(pairs[0][np.bincount(pairs[0])[pairs[0]] > 1]):
        tenants = set(names[pairs[1][pairs[0] == node]].tolist())
        if tenants & dedicated:
            out.append(
                Violation(
                    "tenant",
                    f"node {domain.fleet.ids[node]} runs tenants {', '.join(sorted(tenants))}; "
                    f"{', '.join(sorted(tenants & dedicated))} must have it alone",
                )
            )
    return out


def describe(domain: Domain, f: int) -> list[str]:
    tenant = domain.demand.tenant[domain.demand.families.first_row[f]]
    return [f"dedicated tenant {tenant}"] if tenant in domain.rules.dedicated else []


FAMILY = RuleFamily(name="tenancy", shapes=shapes, check=check, describe=describe)
