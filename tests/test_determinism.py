"""Same input and seed, same plan."""

from __future__ import annotations

import pytest
from conftest import INSTANCES

from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import load_domain, solve_domain
from solvers.base import SolveOptions


@pytest.mark.parametrize(
    ("instance", "solver"),
    [
        ("small", "highs"),
        ("small", "cpsat"),
        ("small", "cbc"),
        ("medium", "highs"),
        ("medium", "greedy"),
    ],
)
def test_same_input_and_seed_give_the_same_plan(instance, solver):
    domain = load_domain(INSTANCES / f"{instance}.yaml")

    def run():
        plan = solve_domain(
            domain, InventoryRef(name=instance), solver, SolveOptions(seed=7, time_limit=60)
        ).plan
        return plan.placements, plan.unplaced, plan.objective

    assert run() == run()
