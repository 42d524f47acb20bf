"""Whether a plan was made for the inventory it is checked against.

A plan checked against a changed version of its inventory (a node gone, a workload
added) is what re-planning is about: the checker lists what no longer holds. A plan
checked against another inventory altogether is a mistake, and a list of a hundred
violations hides it; when most of the plan's placements name nodes or workloads the
inventory does not have, the check stops with one line instead.
"""

from __future__ import annotations

from allocator.domain.tables import Domain
from allocator.output.plan import PlanFile

FOREIGN_SHARE = 0.5  # placements naming unknown nodes or workloads, above which a plan is foreign


def foreign_plan(
    domain: Domain, plan: PlanFile, inventory: str, inventory_sha256: str
) -> str | None:
    """Why the plan belongs to another inventory, or None when it may be this one's."""
    ref = plan.inventory
    if not plan.placements or (ref.sha256 is not None and ref.sha256 == inventory_sha256):
        return None
    nodes = set(domain.fleet.ids.tolist())
    workloads = set(domain.demand.families.ids.tolist())
    unknown = sum(p.node not in nodes or p.workload not in workloads for p in plan.placements)
    if unknown <= FOREIGN_SHARE * len(plan.placements):
        return None
    made_for = ref.path or ref.name
    return (
        f"this plan was made for another inventory ({made_for}), not {inventory}: {unknown} of its "
        f"{len(plan.placements)} placements name nodes or workloads this inventory does not have"
    )
