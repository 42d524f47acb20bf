"""Generic reassignment: incremental pricing, the MIP of a part, the search, and
`allocator roadef solve`, checked against the ROADEF evaluator and brute force."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from test_roadef import EXAMPLE, FIXTURES, SHIPPED, example, random_instance, reference_evaluation
from typer.testing import CliRunner

from allocator.interop.roadef import evaluate, read_assignment, read_model, write_solution
from allocator.interop.roadef.convert import to_reassignment
from allocator.reassign import strategy as solve_module
from allocator.reassign.costs import costs, lower_bound, violations
from allocator.reassign.mip import build
from allocator.reassign.moves import shift_prices, swap_prices
from allocator.reassign.search import anneal, descend, settle
from allocator.reassign.state import State
from allocator.reassign.strategy import InfeasibleStart, solve
from cli.roadef import app
from solvers.base import SolveOptions
from solvers.registry import get


def feasible_instances(count: int, seed: int = 7):
    """Random ROADEF instances whose initial assignment meets every hard constraint."""
    rng = np.random.default_rng(seed)
    found = 0
    while found < count:
        inst, initial, _ = random_instance(rng)
        if inst.num_processes and evaluate(inst, initial).feasible:
            found += 1
            yield inst, initial


def wandered(state: State, rng: np.random.Generator, steps: int = 3) -> State:
    """A few allowed random moves, so that some replicas are away from home."""
    for _ in range(steps):
        replica = int(rng.integers(state.model.num_replicas))
        _, ok = shift_prices(state, replica)
        if ok.any():
            state.move(replica, int(rng.choice(np.flatnonzero(ok))))
    return state


def test_costs_and_rules_agree_with_the_challenge_evaluator():
    rng = np.random.default_rng(3)
    for inst, initial in feasible_instances(60):
        model = to_reassignment(inst, initial)
        new = np.where(
            rng.random(inst.num_processes) < 0.5,
            rng.integers(0, inst.num_machines, inst.num_processes),
            initial,
        )
        result = evaluate(inst, initial, new)
        assert costs(model, new).total == result.total
        assert (violations(model, new) == []) == result.feasible


def test_every_shift_is_priced_and_ruled_exactly():
    rng = np.random.default_rng(5)
    checked = 0
    for inst, initial in feasible_instances(80):
        model = to_reassignment(inst, initial)
        state = wandered(State(model, initial), rng)
        here = state.assignment.copy()
        here_total, here_ok = reference_evaluation(inst, initial, here)
        assert here_ok
        for replica in range(inst.num_processes):
            delta, ok = shift_prices(state, replica)
            for node in range(inst.num_machines):
                if node == here[replica]:
                    continue
                there = here.copy()
                there[replica] = node
                total, feasible = reference_evaluation(inst, initial, there)
                assert ok[node] == feasible
                if feasible:
                    assert delta[node] == total - here_total
                    checked += 1
    assert checked > 100


def test_state_counts_match_a_fresh_state_after_moves():
    rng = np.random.default_rng(11)
    for inst, initial in feasible_instances(30):
        model = to_reassignment(inst, initial)
        state = State(model, initial)
        for _ in range(20):
            state.move(int(rng.integers(inst.num_processes)), int(rng.integers(inst.num_machines)))
        fresh = State(model, state.assignment)
        for name in ("used", "held", "in_spread", "in_dep", "domains", "moved", "moved_histogram"):
            assert np.array_equal(getattr(state, name), getattr(fresh, name)), name
        assert state.most_moved == fresh.most_moved == state.moved.max()


def test_swaps_are_priced_exactly_apart_from_the_most_moved_workload():
    rng = np.random.default_rng(13)
    checked = 0
    for inst, initial in feasible_instances(150):
        model = to_reassignment(inst, initial)
        state = wandered(State(model, initial), rng)
        here = state.assignment.copy()
        base = costs(model, here)
        others = np.arange(inst.num_processes)
        for replica in range(inst.num_processes):
            delta, ok = swap_prices(state, replica, others)
            for other in others[here != here[replica]]:
                there = here.copy()
                there[replica], there[other] = here[other], here[replica]
                broken = [
                    v for v in violations(model, there) if "capacity" in v or " replicas on " in v
                ]
                assert ok[other] == (not broken)
                if ok[other]:
                    after = costs(model, there)
                    moves = after.workload_moves - base.workload_moves
                    assert delta[other] == after.total - base.total - moves
                    checked += 1
    assert checked > 30


def test_descent_keeps_the_plan_valid_and_counts_its_gain():
    rng = np.random.default_rng(17)
    for inst, initial in feasible_instances(40):
        model = to_reassignment(inst, initial)
        state = State(model, initial)
        gained = descend(state, rng, deadline=float("inf"))
        total, feasible = reference_evaluation(inst, initial, state.assignment)
        assert feasible
        assert total == evaluate(inst, initial).total - gained


def test_annealing_returns_a_valid_plan_no_worse_than_the_start():
    rng = np.random.default_rng(19)
    import time

    for inst, initial in feasible_instances(15):
        model = to_reassignment(inst, initial)
        state = State(model, initial)
        best, saved = anneal(state, rng, time.perf_counter() + 0.05, 100.0, 1.0)
        total, feasible = reference_evaluation(inst, initial, best)
        assert feasible
        assert total == evaluate(inst, initial).total - saved


def brute_force(inst, initial, movable: np.ndarray, nodes: np.ndarray) -> int:
    """The cheapest feasible assignment that moves only `movable` replicas onto `nodes`."""
    best = evaluate(inst, initial).total
    for choice in itertools.product(nodes, repeat=len(movable)):
        new = initial.copy()
        new[movable] = choice
        result = evaluate(inst, initial, new)
        if result.feasible:
            best = min(best, result.total)
    return best


def test_mip_of_a_part_finds_the_best_reassignment_inside_it():
    rng = np.random.default_rng(23)
    highs = get("highs")
    solved = 0
    for inst, initial in feasible_instances(120):
        nodes = np.flatnonzero(rng.random(inst.num_machines) < 0.7)
        if len(nodes) == 0:
            continue
        movable = np.flatnonzero(np.isin(initial, nodes))
        if len(nodes) ** len(movable) > 3000:
            continue
        model = to_reassignment(inst, initial)
        part = build(model, initial, nodes)
        assert part.problem.violations(part.start) == []
        assert part.problem.objective_value(part.start) == pytest.approx(
            costs(model, initial).total
        )
        found = highs.solve(part.problem, SolveOptions(rel_gap=0.0, warm_start=part.start))
        new = part.decode(found.x, initial)
        assert evaluate(inst, initial, new).feasible
        assert evaluate(inst, initial, new).total == brute_force(inst, initial, movable, nodes)
        solved += 1
    assert solved > 40


def test_example_is_solved_to_its_known_optimum():
    inst, initial = example()
    outcome = solve(to_reassignment(inst, initial), time_limit=10)
    assert outcome.method == "mip" and outcome.optimal
    assert outcome.costs.total == 2411 == evaluate(inst, initial, outcome.assignment).total
    assert outcome.start.total == 4200


def test_large_instances_anneal_to_a_valid_cheaper_plan(monkeypatch):
    monkeypatch.setattr(solve_module, "EXACT_PAIRS", 0)
    inst, initial = example()
    outcome = solve(to_reassignment(inst, initial), time_limit=0.5)
    assert outcome.method == "anneal+lns"
    result = evaluate(inst, initial, outcome.assignment)
    assert result.feasible and result.total == outcome.costs.total <= 4200
    assert outcome.bound <= 2411


def test_lower_bound_is_the_aggregate_one():
    inst, initial = example()
    model = to_reassignment(inst, initial)
    over = np.maximum(inst.requirement.sum(0) - inst.safety_capacity.sum(0), 0)
    assert lower_bound(model) >= int(inst.load_cost_weight @ over)
    assert lower_bound(model) <= 2411


def test_infeasible_start_is_refused():
    inst, initial = example()
    model = to_reassignment(inst, initial)
    crowded = np.zeros_like(initial)  # every process on machine 0
    bad = to_reassignment(inst, crowded)
    if not violations(bad, crowded):
        pytest.skip("the example fits on one machine")
    with pytest.raises(InfeasibleStart):
        solve(bad, time_limit=1)
    assert not violations(model, initial)


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="needs ../shared/data/roadef2012")
def test_shipped_a1_1_is_solved_to_the_published_optimum():
    inst = read_model(SHIPPED / "model_a1_1.txt")
    initial = read_assignment(SHIPPED / "assignment_a1_1.txt", inst)
    outcome = solve(to_reassignment(inst, initial), time_limit=60)
    assert outcome.optimal
    assert evaluate(inst, initial, outcome.assignment).total == 44_306_501


runner = CliRunner()


def test_cli_solve_writes_a_solution_the_evaluator_accepts(tmp_path):
    out = tmp_path / "solution.txt"
    assignment = FIXTURES / "assignment_example.txt"
    result = runner.invoke(app, ["solve", str(EXAMPLE), str(assignment), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "total cost        = 2411" in result.output
    assert "lower bound" in result.output and "optimal" in result.output
    inst, initial = example()
    assert evaluate(inst, initial, read_assignment(out, inst)).total == 2411
    again = runner.invoke(app, ["eval", str(EXAMPLE), str(assignment), str(out)])
    assert again.exit_code == 0 and "total cost        = 2411" in again.output


def test_cli_solve_refuses_an_infeasible_initial_assignment(tmp_path):
    inst, _ = example()
    crowded = tmp_path / "crowded.txt"
    write_solution(crowded, np.zeros(inst.num_processes, dtype=np.int64))
    if evaluate(inst, np.zeros(inst.num_processes, dtype=np.int64)).feasible:
        pytest.skip("the example fits on one machine")
    out = tmp_path / "solution.txt"
    result = runner.invoke(app, ["solve", str(EXAMPLE), str(crowded), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{crowded}: the initial assignment: " in result.output
    assert not out.exists()


def test_cli_solve_rejects_a_malformed_model_and_writes_nothing(tmp_path):
    model = tmp_path / "model.txt"
    model.write_text("1\n0 10\nx\n")
    out = tmp_path / "solution.txt"
    assignment = FIXTURES / "assignment_example.txt"
    result = runner.invoke(app, ["solve", str(model), str(assignment), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{model}:3:1: " in result.output
    assert not out.exists()


def test_settling_sends_home_what_moved_for_nothing():
    rng = np.random.default_rng(29)
    for inst, initial in feasible_instances(40):
        model = to_reassignment(inst, initial)
        state = wandered(State(model, initial), rng, steps=6)
        before = costs(model, state.assignment).total
        settle(state)
        after = costs(model, state.assignment).total
        assert after <= before and violations(model, state.assignment) == []
        for replica in np.flatnonzero(state.assignment != model.current):
            delta, ok = shift_prices(state, int(replica))
            home = model.current[replica]
            assert not (ok[home] and delta[home] <= 0)


def test_two_replicas_that_only_traded_places_are_sent_back():
    """Replicas of one workload cannot go home one at a time: each home holds the other."""
    inst, initial = example()
    model = dataclasses.replace(
        to_reassignment(inst, initial),
        current=np.array([0, 3, 1]),
        workload=np.zeros(3, dtype=np.int64),
        min_domains=np.zeros(1, dtype=np.int64),
        dependencies=np.zeros((0, 2), dtype=np.int64),
        workload_names=("w",),
        need=np.zeros((3, inst.num_resources), dtype=np.int64),
    )
    traded = np.array([3, 0, 1])
    assert violations(model, traded) == []
    state = State(model, traded)
    assert settle(state) == 2
    assert np.array_equal(state.assignment, model.current)
    assert costs(model, model.current).total < costs(model, traded).total  # the moves cost
