"""What a benchmark keeps of one plan: status, each level's value and bound, where the
time went, model size, and whether the independent checker accepted it."""

from __future__ import annotations

from dataclasses import dataclass, field

from allocator.solve.pipeline import SolveOutcome


@dataclass(frozen=True)
class LevelStats:
    name: str
    value: float
    bound: float | None
    gap: float | None
    status: str
    how: str


@dataclass(frozen=True)
class PlanStats:
    """One planner run. Times are the planner's own (``plan.solver``); ``wall_s`` also
    covers decoding, diagnosis and the checker."""

    solver: str
    status: str
    levels: list[LevelStats]
    build_s: float
    column_generation_s: float
    solve_s: float
    total_s: float
    wall_s: float
    model: dict[str, int | bool]
    checker_passed: bool
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, outcome: SolveOutcome, wall_s: float) -> PlanStats:
        report = outcome.plan.solver
        return cls(
            solver=report.name,
            status=report.status,
            levels=[
                LevelStats(lv.name, lv.value, lv.bound, lv.gap, lv.status, lv.how)
                for lv in report.levels
            ],
            build_s=report.build_s,
            column_generation_s=report.column_generation_s,
            solve_s=report.solve_s,
            total_s=report.total_s,
            wall_s=wall_s,
            model=dict(report.model),
            checker_passed=not outcome.violations,
            violations=[str(v) for v in outcome.violations[:10]],
            notes=list(report.notes),
        )

    def level(self, name: str) -> LevelStats | None:
        return next((lv for lv in self.levels if lv.name == name), None)

    @property
    def worst_gap(self) -> float | None:
        """The largest relative gap over the levels; None when a level has no bound."""
        gaps = [lv.gap for lv in self.levels]
        return None if any(g is None for g in gaps) else max(gaps, default=0.0)  # type: ignore[type-var]

    @property
    def other_s(self) -> float:
        """Planner time outside model build, column generation and the MIP: the greedy
        warm starts, pattern enumeration and decoding."""
        return max(self.total_s - self.build_s - self.column_generation_s - self.solve_s, 0.0)

    @property
    def final(self) -> LevelStats:
        return self.levels[-1]


def plan_stats_from_dict(data: dict) -> PlanStats:
    """A PlanStats read back from its JSON form (as a child process reports it)."""
    fields = dict(data)
    fields["levels"] = [LevelStats(**lv) for lv in fields["levels"]]
    return PlanStats(**fields)
