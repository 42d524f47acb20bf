"""The whole job for one inventory: load, plan, decode, explain, verify.

This is what the CLI and batch runs call. No plan leaves it unchecked: the independent
checker runs on the plan file exactly as it will be written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from allocator.domain.build import build_domain
from allocator.domain.tables import Domain
from allocator.evaluate.check import Violation, check_plan
from allocator.evaluate.levels import level_values
from allocator.inventory.load import inventory_from_text, load_inventory, with_shares
from allocator.io.errors import ExitCode
from allocator.io.progress import PROGRESS
from allocator.io.source import decode_text, read_bytes
from allocator.model.reduce import reduce
from allocator.output.plan import (
    InventoryRef,
    LevelReport,
    PlanFile,
    SolverReport,
    plan_from_text,
)
from allocator.output.planfile import plan_file
from allocator.solve.current import reconcile
from allocator.solve.strategy import PlanningResult, plan
from solvers.base import Solution, SolveOptions, Status


@dataclass
class SolveOutcome:
    domain: Domain
    result: PlanningResult
    plan: PlanFile
    violations: list[Violation]

    @property
    def hard_shortfall(self) -> float:
        return self.result.hard_shortfall

    @property
    def exit_code(self) -> ExitCode:
        """0 all required replicas placed; 3 proven impossible; 4 not found in time."""
        if self.violations:
            return ExitCode.INTERNAL
        if self.result.hard_shortfall > 0:
            return ExitCode.UNPLACED if self.result.shortfall_proven else ExitCode.NO_PLAN
        return ExitCode.OK


@dataclass(frozen=True)
class Request:
    """One inventory to plan: the bytes of its file (and of the plan saying what runs
    now), the solver and its options. Bytes rather than paths, so that a worker on
    another machine plans exactly what was read here; `sha256` names the request, and a
    plan that states it answers it."""

    inventory_name: str
    inventory: bytes
    solver: str = "auto"
    options: SolveOptions = field(default_factory=SolveOptions)
    current_name: str | None = None
    current: bytes | None = None
    shares_name: str | None = None
    shares: bytes | None = None  # `allocator share`'s document, for the `shares` section

    @classmethod
    def from_files(
        cls,
        inventory: str | Path,
        solver: str = "auto",
        options: SolveOptions | None = None,
        current: str | Path | None = None,
        shares: str | Path | None = None,
    ) -> Request:
        return cls(
            inventory_name=str(inventory),
            inventory=read_bytes(inventory, "YAML or JSON"),
            solver=solver,
            options=options or SolveOptions(),
            current_name=None if current is None else str(current),
            current=None if current is None else read_bytes(current, "an allocator plan"),
            shares_name=None if shares is None else str(shares),
            shares=None if shares is None else read_bytes(shares, "allocator share's JSON"),
        )

    @property
    def sha256(self) -> str:
        o = self.options
        digest = hashlib.sha256(b"allocator request 1\0")
        digest.update(hashlib.sha256(self.inventory).digest())
        digest.update(hashlib.sha256(self.current or b"").digest())
        settings = [self.solver, o.time_limit, o.rel_gap, o.threads, o.seed]
        digest.update(json.dumps([*settings, sorted(o.backend_options.items())]).encode())
        if self.shares is not None:
            digest.update(hashlib.sha256(self.shares).digest())
        return digest.hexdigest()


def load_domain(path: str | Path, current: str | Path | None = None) -> Domain:
    """The domain of an inventory file; with `current`, what runs now is that plan's
    placement reconciled with the inventory (as `solve --current` planned it)."""
    if current is None:
        return build_domain(load_inventory(path), name=Path(path).stem)
    return prepare(Request.from_files(path, current=current))[0]


def solve_file(
    path: str | Path,
    solver: str = "auto",
    options: SolveOptions | None = None,
    current_plan: str | Path | None = None,
    shares: str | Path | None = None,
) -> SolveOutcome:
    """Plan an inventory file; with `current_plan`, what runs now is that plan's placement
    (instead of the inventory's `current_placement`), reconciled with the inventory; with
    `shares`, the document `allocator share` wrote replaces the inventory's `shares`."""
    return solve_request(Request.from_files(path, solver, options, current_plan, shares))


def solve_request(request: Request) -> SolveOutcome:
    domain, warnings = prepare(request)
    ref = InventoryRef(
        name=domain.name,
        path=request.inventory_name,
        sha256=hashlib.sha256(request.inventory).hexdigest(),
    )
    stated: dict[str, object] = {"request_sha256": request.sha256, "warnings": warnings}
    return solve_domain(domain, ref, request.solver, request.options, stated)


def prepare(request: Request) -> tuple[Domain, list[str]]:
    """The request's domain, and the warnings of reconciling its current plan."""
    PROGRESS.stage("load")
    name = request.inventory_name
    inventory = inventory_from_text(name, decode_text(name, request.inventory, "YAML or JSON"))
    warnings: list[str] = []
    if request.shares is not None:
        source = request.shares_name or "shares"
        text = decode_text(source, request.shares, "allocator share's JSON")
        inventory = with_shares(inventory, source, text)
    if request.current is not None:
        source = request.current_name or "current plan"
        previous = plan_from_text(source, decode_text(source, request.current, "a plan"))
        current = reconcile(inventory, previous, source)
        inventory = inventory.model_copy(update={"current_placement": current.running})
        warnings = current.warnings
    return build_domain(inventory, name=Path(name).stem), warnings


def solve_domain(
    domain: Domain,
    ref: InventoryRef,
    solver: str = "auto",
    options: SolveOptions | None = None,
    stated: dict[str, object] | None = None,
) -> SolveOutcome:
    """Plan, write the plan file (with the `stated` fields of the request) and check it."""
    options = options or SolveOptions()
    result = plan(domain, solver, options)
    PROGRESS.stage("plan file")
    written = plan_file(domain, ref, result.placement, solver_report(result, options))
    if stated:
        written = written.model_copy(update=stated)
    PROGRESS.stage("check")
    return SolveOutcome(domain, result, written, check_plan(domain, written))


def solver_report(result: PlanningResult, options: SolveOptions) -> SolverReport:
    """How the plan was found: backend, status, every objective level, timings, size. Each
    level states its value in the plan itself (a later level may improve an earlier one
    that was not proven optimal), with the bound and status its own solve reached."""
    values = level_values(reduce(result.domain), result.placement)
    levels = [
        LevelReport(
            name=lv.name,
            value=value,
            bound=lv.bound,
            gap=_gap(value, lv.bound),
            status=str(lv.status),
            how=lv.how,
        )
        for lv, value in zip(result.levels, values, strict=True)
    ]
    return SolverReport(
        name=result.solver,
        status=str(result.status),
        objective=levels[-1].value,
        bound=levels[-1].bound,
        gap=levels[-1].gap,
        time_limit_s=options.time_limit,
        build_s=result.timings.get("build_s", 0.0),
        column_generation_s=result.timings.get("column_generation_s", 0.0),
        solve_s=result.timings.get("solve_s", 0.0),
        total_s=result.timings.get("total_s", 0.0),
        levels=levels,
        model=result.size,
        notes=result.notes,
        interrupted=result.interrupted,
    )


def _gap(value: float, bound: float | None) -> float | None:
    return Solution(Status.FEASIBLE, "", objective=value, bound=bound).gap
