"""A plan file read together with the inventory it was made for, as every command that
takes both (check, report, export, diff) reads them."""

from __future__ import annotations

from pathlib import Path

from allocator.domain.tables import Domain
from allocator.evaluate.check.origin import foreign_plan
from allocator.io.errors import InputError
from allocator.output.plan import PlanFile, load_plan, sha256_of
from allocator.solve.pipeline import load_domain
from cli.common import err


def plan_for(inventory: Path, plan: Path, current: Path | None = None) -> tuple[Domain, PlanFile]:
    """The inventory's domain and the plan; bad input (exit 2) when the plan was made for
    another inventory, a note when for another version of this one."""
    domain = load_domain(inventory, current)
    plan_file = load_plan(plan)
    sha = sha256_of(inventory)
    reason = foreign_plan(domain, plan_file, str(inventory), sha)
    if reason is not None:
        raise InputError.single(str(plan), reason)
    if plan_file.inventory.sha256 and plan_file.inventory.sha256 != sha:
        err.print(f"note: {plan} was made for a different version of {inventory}", markup=False)
    return domain, plan_file
