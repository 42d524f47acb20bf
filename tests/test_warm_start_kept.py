"""A plan is never worse than the warm start it began from: a backend that returns a worse
solution (here: the worst one, found by maximizing each level) leaves the warm start in
place, at every level, even when the solution is taken on its word."""

from __future__ import annotations

import time
from typing import ClassVar

import pytest
from conftest import INSTANCES

import allocator.solve.strategy as strategy
from allocator.evaluate.levels import level_values
from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.model.decode import placement_from_columns
from allocator.model.reduce import reduce
from allocator.solve.pipeline import load_domain
from solvers import registry
from solvers.base import Capability, Solution, SolveOptions, Status
from solvers.highs import HighsSolver


class _Worst:
    """A MIP backend that answers with the worst solution of the level it is given."""

    name: ClassVar[str] = "worst"
    rank: ClassVar[int] = 99
    package: ClassVar[str] = "highspy"
    install_hint: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MIP})

    def __init__(self):
        self.calls = 0

    def available(self) -> bool:
        return True

    def solve(self, problem, options):
        self.calls += 1
        started = time.perf_counter()
        worst = HighsSolver().solve(
            problem.with_objective(-problem.cost, -problem.offset), SolveOptions(time_limit=10)
        )
        return Solution(
            Status.FEASIBLE if worst.x is not None else Status.TIME_LIMIT,
            self.name,
            objective=None if worst.objective is None else -worst.objective,
            x=worst.x,
            wall_s=time.perf_counter() - started,
        )


def _plan_with_worst(domain, monkeypatch):
    worst = _Worst()
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: worst if name == "worst" else real_get(name))
    # No rounded LP start: the warm start is the greedy one, so the MIP is reached.
    monkeypatch.setattr(
        strategy._LevelRun, "_rounded_start", lambda self, k, p, inc, cur: (inc, p, None)
    )
    result = strategy.plan(domain, "worst", SolveOptions(time_limit=60, rel_gap=1e-3))
    return result, worst


def _greedy_best(domain):
    inst = reduce(domain)
    return min(level_values(inst, greedy_placement(inst, rule)) for rule in RULES)


@pytest.mark.parametrize("name", ["small", "rules", "medium"])
def test_a_worse_solution_leaves_the_warm_start(name, monkeypatch):
    domain = load_domain(INSTANCES / f"{name}.yaml")
    result, worst = _plan_with_worst(domain, monkeypatch)
    values = level_values(reduce(domain), result.placement)
    assert values <= _greedy_best(domain)
    assert [o.value for o in result.levels] == pytest.approx(list(values))
    if worst.calls:
        assert any(o.how == "warm start kept" for o in result.levels)


def test_a_worse_solution_taken_on_its_word_still_leaves_the_warm_start(monkeypatch):
    """The last guard: even were a worse solution accepted, the level keeps the start."""
    domain = load_domain(INSTANCES / "rules.yaml")

    def accept_anything(self, problem, level, solution, form, current):
        if solution.x is None or problem.violations(solution.x):
            return None
        return placement_from_columns(form, solution.x)

    monkeypatch.setattr(strategy._LevelRun, "_accept", accept_anything)
    result, worst = _plan_with_worst(domain, monkeypatch)
    assert worst.calls
    values = level_values(reduce(domain), result.placement)
    assert values <= _greedy_best(domain)
    assert any("kept the warm start" in note for note in result.notes)


def test_a_start_the_model_turns_down_is_noted(monkeypatch):
    domain = load_domain(INSTANCES / "small.yaml")
    monkeypatch.setattr(strategy, "columns_from_placement", lambda form, placement: None)
    result = strategy.plan(domain, "highs", SolveOptions(time_limit=10))
    assert any("turned down" in note for note in result.notes)
