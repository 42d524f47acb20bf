"""What a batch did, per instance and in total, read from the plans themselves (so an
instance skipped because its plan was up to date reads the same as one planned tonight),
and what changed against the previous plans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from allocator.io.errors import ExitCode
from allocator.output.plan import PlanFile

STATUSES = ("planned", "unplaced", "incomplete", "interrupted", "bad input", "failed", "not run")
SLOWEST = 5


@dataclass
class InstanceSummary:
    name: str
    source: str
    status: str  # one of STATUSES
    exit_code: int
    reason: str | None = None
    resumed: bool = False  # its plan was already there, for the same request
    solver: str | None = None
    solver_status: str | None = None
    cost_per_hour: float | None = None
    moved_replicas: int | None = None
    placed: int | None = None
    unplaced_required: int | None = None
    unplaced_optional: int | None = None
    gap: float | None = None
    seconds: float | None = None
    warnings: list[str] = field(default_factory=list)
    previous_cost_per_hour: float | None = None
    previous_unplaced_required: int | None = None

    @property
    def has_plan(self) -> bool:
        return self.cost_per_hour is not None


def plan_exit_code(plan: PlanFile) -> ExitCode:
    """The exit code `allocator solve` gave this plan."""
    if plan.objective.hard_shortfall > 0:
        proven = plan.solver.levels[0].status == "optimal"
        return ExitCode.UNPLACED if proven else ExitCode.NO_PLAN
    return ExitCode.OK


def from_plan(
    name: str,
    source: str,
    plan: PlanFile,
    seconds: float | None,
    resumed: bool = False,
    previous: PlanFile | None = None,
) -> InstanceSummary:
    code = plan_exit_code(plan)
    if plan.solver.interrupted:
        status = "interrupted"
    else:
        status = {ExitCode.OK: "planned", ExitCode.UNPLACED: "unplaced"}.get(code, "incomplete")
    required = sum(u.required for u in plan.unplaced)
    return InstanceSummary(
        name=name,
        source=source,
        status=status,
        exit_code=int(ExitCode.INTERRUPTED if plan.solver.interrupted else code),
        reason="stopped on request; the best plan found by then"
        if plan.solver.interrupted
        else None,
        resumed=resumed,
        solver=plan.solver.name,
        solver_status=plan.solver.status,
        cost_per_hour=plan.objective.cost_per_hour,
        moved_replicas=plan.objective.moved_replicas,
        placed=len(plan.placements),
        unplaced_required=required,
        unplaced_optional=len(plan.unplaced) - required,
        gap=plan.solver.gap,
        seconds=seconds if seconds is not None else plan.solver.total_s,
        warnings=list(plan.warnings),
        previous_cost_per_hour=None if previous is None else previous.objective.cost_per_hour,
        previous_unplaced_required=(
            None if previous is None else sum(u.required for u in previous.unplaced)
        ),
    )


def without_plan(
    name: str, source: str, code: int, reason: str, seconds: float | None = None
) -> InstanceSummary:
    status = {int(ExitCode.BAD_INPUT): "bad input", -1: "not run"}.get(code, "failed")
    return InstanceSummary(name, source, status, code, reason=reason, seconds=seconds)


@dataclass
class BatchSummary:
    instances: list[InstanceSummary]
    engine: str
    wall_s: float
    interrupted: bool = False
    gone: list[str] = field(default_factory=list)  # previous plans with no input tonight

    @property
    def counts(self) -> dict[str, int]:
        return {s: n for s in STATUSES if (n := sum(i.status == s for i in self.instances))}

    @property
    def exit_code(self) -> ExitCode:
        """130 stopped; 6 some instance has no plan; else the worst `solve` code (4, 3, 0)."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if any(not i.has_plan for i in self.instances):
            return ExitCode.BATCH_INCOMPLETE
        codes = {i.exit_code for i in self.instances}
        for code in (ExitCode.INTERRUPTED, ExitCode.NO_PLAN, ExitCode.UNPLACED):
            if code in codes:
                return code
        return ExitCode.OK

    @property
    def total_cost_per_hour(self) -> float:
        return sum(i.cost_per_hour or 0.0 for i in self.instances)

    def slowest(self) -> list[InstanceSummary]:
        timed = [i for i in self.instances if i.seconds is not None and not i.resumed]
        return sorted(timed, key=lambda i: -(i.seconds or 0.0))[:SLOWEST]

    def changes(self) -> list[InstanceSummary]:
        """Instances planned against a previous plan."""
        return [i for i in self.instances if i.previous_cost_per_hour is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": int(self.exit_code),
            "engine": self.engine,
            "wall_s": round(self.wall_s, 3),
            "interrupted": self.interrupted,
            "counts": self.counts,
            "total_cost_per_hour": self.total_cost_per_hour,
            "instances": [asdict(i) for i in self.instances],
            "slowest": [i.name for i in self.slowest()],
            "gone": self.gone,
        }


def render_markdown(summary: BatchSummary) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts.items()) or "no instances"
    lines = [
        "# Batch summary",
        "",
        f"- **instances**: {len(summary.instances)} ({counts})",
        f"- **total cost**: ${summary.total_cost_per_hour:,.2f}/h",
        f"- **wall time**: {summary.wall_s:,.1f} s on {summary.engine}",
        f"- **exit code**: {int(summary.exit_code)}"
        + (" (stopped on request)" if summary.interrupted else ""),
        "",
        "## Instances",
        "",
        "| instance | status | $/h | moved | unplaced (required) | gap | seconds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for i in summary.instances:
        lines.append(
            f"| {i.name} | {i.status}{' (resumed)' if i.resumed else ''} | "
            f"{_money(i.cost_per_hour)} | {_int(i.moved_replicas)} | {_unplaced(i)} | "
            f"{_gap(i.gap)} | {_secs(i.seconds)} |"
        )
    problems = [i for i in summary.instances if i.reason]
    if problems:
        lines += ["", "## Reasons", ""]
        for i in problems:
            reason = (i.reason or "").replace("\n", "; ")
            lines.append(f"- **{i.name}** ({i.status}, exit {i.exit_code}): {reason}")
    warned = [i for i in summary.instances if i.warnings]
    if warned:
        lines += ["", "## Warnings", ""]
        lines += [f"- **{i.name}**: {w}" for i in warned for w in i.warnings]
    slowest = summary.slowest()
    if slowest:
        lines += ["", "## Slowest", "", "| instance | seconds | status |", "|---|---:|---|"]
        lines += [f"| {i.name} | {_secs(i.seconds)} | {i.status} |" for i in slowest]
    changed = summary.changes()
    if changed or summary.gone:
        lines += [
            "",
            "## Changes since the previous plans",
            "",
            "| instance | $/h before | $/h now | change | moved | required unplaced |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for i in changed:
            before, now = i.previous_cost_per_hour or 0.0, i.cost_per_hour or 0.0
            lines.append(
                f"| {i.name} | {_money(before)} | {_money(now)} | {now - before:+,.2f} | "
                f"{_int(i.moved_replicas)} | {i.previous_unplaced_required} -> "
                f"{_int(i.unplaced_required)} |"
            )
        new = [i.name for i in summary.instances if i.has_plan and i.previous_cost_per_hour is None]
        if new:
            lines += ["", f"New tonight (no previous plan): {', '.join(new)}."]
        if summary.gone:
            lines += ["", f"Gone (a previous plan, no input tonight): {', '.join(summary.gone)}."]
    return "\n".join(lines) + "\n"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def _gap(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _unplaced(i: InstanceSummary) -> str:
    if i.unplaced_required is None:
        return "-"
    return f"{i.unplaced_required + (i.unplaced_optional or 0)} ({i.unplaced_required})"
