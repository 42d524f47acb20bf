"""Structure of the placement model: aggregation, sparsity, and exact decoding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import yaml
from builders import inventory, node, workload
from conftest import INSTANCES, ROOT

from allocator.domain.build import build_domain
from allocator.evaluate.check import check_plan
from allocator.evaluate.levels import level_values
from allocator.heuristics.greedy import greedy_placement
from allocator.inventory.load import load_inventory
from allocator.inventory.schema import Inventory
from allocator.model.decode import (
    columns_from_placement,
    patterns_of_placement,
    placement_from_columns,
)
from allocator.model.formulation import build_formulation, model_base
from allocator.model.patterns import enumerate_pool, maximal_patterns
from allocator.model.reduce import reduce
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import load_domain, solve_domain


def formulation_for(doc: dict):
    inst = reduce(build_domain(Inventory.model_validate(doc)))
    return inst, build_formulation(inst, enumerate_pool(inst))


def fleet(count: int) -> dict:
    return inventory(
        [node("h100", count=count, cost=98.0), node("l4", gpu_type="L4", gpus=1, count=count)],
        [
            workload("a", replicas={"min": 1, "max": 3 * count}, gpus=2),
            workload("b", replicas=count, gpus=1, cpus=8),
            workload("c", replicas=count, gpus=1, cpus=8),
        ],  # same shape as b
    )


def test_model_size_follows_distinct_shapes_not_counts():
    small_inst, small = formulation_for(fleet(4))
    big_inst, big = formulation_for(fleet(4000))
    assert len(small_inst.groups) == len(big_inst.groups) == 2
    assert len(small_inst.shapes) == len(big_inst.shapes) == 2  # b and c share a shape
    assert small.problem.a.shape == big.problem.a.shape


def test_incompatible_pairs_get_no_column():
    _, form = formulation_for(
        inventory(
            [node("h100"), node("l4", gpu_type="L4", gpus=1)],
            [
                workload("needs-h100", gpus=1, gpu_types=["H100"]),
                workload("needs-4", gpus=4),  # L4 node has 1 GPU
                workload("any", gpus=1),
            ],
        )
    )
    labels = [form.problem.col_name(j) for j in range(form.assign.start, form.assign.stop)]
    assert labels == [
        "assign[needs-h100,g0]",
        "assign[needs-4,g0]",
        "assign[any,g0]",
        "assign[any,g1]",
    ]


def test_maximal_patterns_are_complete_and_maximal():
    capacity = np.array([8, 100, 1000])
    demand = np.array([[4, 10, 100], [2, 60, 100], [1, 10, 10]])
    ub = np.array([2, 4, 8])
    found = {tuple(p) for p in maximal_patterns(capacity, demand, ub, limit=10_000)}
    expected = set()
    for a in range(3):
        for b in range(5):
            for c in range(9):
                used = a * demand[0] + b * demand[1] + c * demand[2]
                if (used > capacity).any() or a + b + c == 0:
                    continue
                counts = np.array([a, b, c])
                grows = any(
                    counts[s] < ub[s] and (used + demand[s] <= capacity).all() for s in range(3)
                )
                if not grows:
                    expected.add((a, b, c))
    assert found == expected


def test_enumeration_gives_up_beyond_the_limit():
    capacity = np.array([64, 10_000, 10_000])
    demand = np.array([[1, k + 1, 1] for k in range(12)])
    assert maximal_patterns(capacity, demand, np.full(12, 64), limit=100) is None


@pytest.mark.parametrize("rule", ["first_fit", "best_fit"])
def test_placements_survive_the_round_trip_through_columns(rule):
    inst = reduce(load_domain(INSTANCES / "small.yaml"))
    placement = greedy_placement(inst, rule)
    pool = enumerate_pool(inst).with_patterns(*patterns_of_placement(inst, placement))
    form = build_formulation(inst, pool)
    x = columns_from_placement(form, placement)
    assert form.problem.violations(x) == []
    decoded = placement_from_columns(form, x)
    assert level_values(inst, decoded) == level_values(inst, placement)
    assert (decoded.placed() == placement.placed()).all()
    for level, value in zip(form.levels, level_values(inst, placement), strict=True):
        assert level.value(x) == pytest.approx(value)


def test_replanning_an_unchanged_fleet_keeps_every_replica_in_place():
    doc = yaml.safe_load((INSTANCES / "small.yaml").read_text())
    first = solve_domain(
        build_domain(Inventory.model_validate(doc)), InventoryRef(name="s"), "highs"
    ).plan
    current: dict[str, list[str]] = {}
    for p in first.placements:
        current.setdefault(p.workload, []).append(p.node)
    # Shuffle which replica runs where inside each workload: only nodes matter.
    doc["current_placement"] = {w: sorted(nodes, reverse=True) for w, nodes in current.items()}
    again = solve_domain(
        build_domain(Inventory.model_validate(doc)), InventoryRef(name="s"), "highs"
    ).plan
    assert again.moves == []
    assert again.objective == first.objective


def test_draining_nodes_keep_their_replicas_and_down_nodes_get_none():
    domain = build_domain(load_inventory(ROOT / "tests" / "data" / "node_states.yaml"))
    for solver in ("highs", "cpsat", "greedy"):
        outcome = solve_domain(domain, InventoryRef(name="states"), solver)
        assert outcome.violations == [], solver
        on = Counter((p.workload, p.node) for p in outcome.plan.placements)
        assert on[("w1", "b")] == 1 and on[("w2", "b")] == 3, solver  # b is draining
        assert not any(node == "c" for _, node in on), solver  # c is down
        assert outcome.plan.objective.node_cost_per_hour == 30.0, solver
        # w1's replica on the down node moves, at the default move cost.
        assert outcome.plan.objective.migration_cost_per_hour == 1.0, solver


def test_the_checker_enforces_node_states():
    domain = build_domain(load_inventory(ROOT / "tests" / "data" / "node_states.yaml"))
    plan = solve_domain(domain, InventoryRef(name="states"), "highs").plan
    moved = [
        p.model_copy(update={"node": "c"}) if p.workload == "w1" and p.node == "a" else p
        for p in plan.placements
    ]
    rules = {v.rule for v in check_plan(domain, plan.model_copy(update={"placements": moved}))}
    assert "node_state" in rules


def test_the_model_base_is_built_once_per_solve(monkeypatch):
    # Three objective levels and column generation all extend one base.
    from allocator.model import formulation
    from allocator.solve import strategy

    built = []
    original = formulation.model_base

    def counting(inst):
        built.append(inst)
        return original(inst)

    monkeypatch.setattr(strategy, "model_base", counting)
    outcome = solve_domain(load_domain(INSTANCES / "rules.yaml"), InventoryRef(name="rules"))
    assert outcome.violations == []
    assert len(outcome.result.levels) == 4
    assert len(built) == 1


def test_a_pool_extends_the_base_to_the_model_built_from_scratch():
    inst = reduce(load_domain(INSTANCES / "rules.yaml"))
    pool = enumerate_pool(inst)
    base = model_base(inst)
    for seed in (greedy_placement(inst, "first_fit"), greedy_placement(inst, "best_fit")):
        pool = pool.with_patterns(*patterns_of_placement(inst, seed))
        extended, fresh = build_formulation(inst, pool, base), build_formulation(inst, pool)
        assert (extended.problem.a != fresh.problem.a).nnz == 0
        assert np.array_equal(extended.problem.row_lo, fresh.problem.row_lo)
        assert np.array_equal(extended.problem.col_hi, fresh.problem.col_hi)
    # The base itself is left as it was: a second pool starts from the same rows.
    assert build_formulation(inst, enumerate_pool(inst), base).problem.n_cols < fresh.problem.n_cols
