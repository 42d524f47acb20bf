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
    # CP-SAT's workers race one another: on one thread its search is repeatable
    threads = 1 if solver == "cpsat" else None

    def run():
        plan = solve_domain(
            domain,
            InventoryRef(name=instance),
            solver,
            SolveOptions(seed=7, time_limit=60, threads=threads),
        ).plan
        return plan.placements, plan.unplaced, plan.objective

    assert run() == run()


def test_cpsat_on_two_threads_gives_a_plan_of_the_same_value():
    domain = load_domain(INSTANCES / "small.yaml")

    def run(solver, threads):
        options = SolveOptions(seed=7, time_limit=60, threads=threads)
        value = solve_domain(domain, InventoryRef(name="small"), solver, options).plan.objective
        return value.hard_shortfall, value.unplaced_priority, value.cost_per_hour

    # each run proves its optimum: the values HiGHS proves, every time
    optimum = run("highs", None)
    assert run("cpsat", 2) == optimum
    assert run("cpsat", 2) == optimum
