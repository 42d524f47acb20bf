"""Known optimal objectives, and every exact backend agreeing on them."""

from __future__ import annotations

import pytest
from conftest import INSTANCES

from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import load_domain, solve_domain
from solvers.base import SolveOptions, Status

EXACT = ("highs", "cbc", "cpsat")


def solve(name: str, solver: str, time_limit: float = 60):
    domain = load_domain(INSTANCES / f"{name}.yaml")
    return solve_domain(
        domain, InventoryRef(name=name), solver, SolveOptions(time_limit=time_limit)
    )


@pytest.mark.parametrize("solver", EXACT)
def test_tiny_matches_the_hand_computed_optimum(solver):
    outcome = solve("tiny", solver)
    assert outcome.violations == []
    assert outcome.result.status == Status.OPTIMAL
    objective = outcome.plan.objective
    # Worked out in the comment at the top of instances/tiny.yaml.
    assert (objective.hard_shortfall, objective.unplaced_priority) == (0, 2)
    assert objective.cost_per_hour == pytest.approx(185.0)
    assert [u.workload for u in outcome.plan.unplaced] == ["finetune-405b"]
    assert outcome.plan.unplaced[0].reason.startswith("no node has an allowed GPU type: needs B200")
    on = {p.node for p in outcome.plan.placements}
    assert on == {"h100-0", "h100-1", "l40s-0", "l4-0", "l4-1", "l4-2"}


@pytest.mark.parametrize("instance", ["small", "medium"])
def test_all_exact_backends_reach_the_same_proven_optimum(instance):
    results = {solver: solve(instance, solver) for solver in EXACT}
    for solver, outcome in results.items():
        assert outcome.violations == [], solver
        assert outcome.result.status == Status.OPTIMAL, solver
        assert outcome.plan.solver.gap <= 1e-6, solver
    levels = {s: [lv.value for lv in o.result.levels] for s, o in results.items()}
    assert levels["cbc"] == pytest.approx(levels["highs"], rel=1e-9)
    assert levels["cpsat"] == pytest.approx(levels["highs"], rel=1e-9)


def test_small_leaves_out_the_cheapest_optional_work():
    # Demand exceeds supply by 9 GPUs. The least priority lost is 4: one 8-GPU batch job
    # of priority 4, or one of priority 3 plus a priority-1 notebook; cost decides.
    outcome = solve("small", "highs")
    assert [lv.value for lv in outcome.result.levels][:2] == [0, 4]
    assert all(not u.required for u in outcome.plan.unplaced)
    assert {u.workload for u in outcome.plan.unplaced} in (
        {"llama3-70b-batch"},
        {"synthetic-data", "dev-notebooks"},
    )


def test_medium_is_proven_optimal_by_highs():
    outcome = solve("medium", "highs")
    assert outcome.violations == []
    assert outcome.result.status == Status.OPTIMAL
    assert outcome.plan.solver.gap <= 1e-6
    assert outcome.plan.solver.model["all_patterns"] is True


def test_greedy_is_never_better_than_the_optimum():
    exact = solve("small", "highs").result
    greedy = solve("small", "greedy").result
    assert [lv.value for lv in greedy.levels] >= [lv.value for lv in exact.levels]
