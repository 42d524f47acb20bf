"""Throughput targets and variants: the planner picks how many replicas of which GPU
type and which variant meet a target at least cost; optima asserted exactly by every
exact backend, and the checker rejects plans that overstate what they reach."""

from __future__ import annotations

import copy

import pytest
from builders import inventory, node, workload

from allocator.domain.build import build_domain
from allocator.evaluate.check import check_plan
from allocator.inventory.schema import Inventory
from allocator.io.errors import ExitCode
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain

EXACT = ("highs", "cbc", "cpsat")


def solve(doc: dict, solver: str = "highs"):
    domain = build_domain(Inventory.model_validate(doc))
    outcome = solve_domain(domain, InventoryRef(name="throughput"), solver)
    assert outcome.violations == [], (solver, outcome.violations)
    return domain, outcome


def served(target: float, per_replica: dict, **extra) -> dict:
    entry = workload("chat", **extra)
    del entry["replicas"]
    entry["throughput"] = {"target": target, "unit": "tokens/s", "per_replica": per_replica}
    return entry


def mixed_fleet() -> list[dict]:
    return [
        node("h100", gpu_type="H100", gpus=1, count=2, cost=10),
        node("l40s", gpu_type="L40S", gpus=1, count=3, cost=3),
    ]


@pytest.mark.parametrize("solver", EXACT)
def test_a_target_is_met_by_mixing_gpu_types_when_that_is_cheapest(solver):
    # 2 H100 = $20, 3 L40S reach only 3,300; one of each reaches 4,100 for $13.
    doc = inventory(mixed_fleet(), [served(4000, {"H100": 3000, "L40S": 1100})])
    _, outcome = solve(doc, solver)
    (met,) = outcome.plan.throughput
    assert met.met and met.achieved == 4100 and met.target == 4000 and met.unit == "tokens/s"
    assert met.replicas_by_gpu_type == {"H100": 1, "L40S": 1}
    assert outcome.plan.objective.cost_per_hour == 13
    assert outcome.plan.unplaced == []
    assert outcome.exit_code == ExitCode.OK


@pytest.mark.parametrize("solver", EXACT)
def test_variants_are_chosen_per_replica(solver):
    # fp16 on 2 GPUs gives 5,000; int8 on 1 GPU gives 3,000. A 4-GPU node reaches 11,000
    # only with int8 replicas among its four GPUs; fp16 alone needs a second node.
    chat = served(11000, {"H100": 5000}, gpus=2)
    chat["variants"] = [
        {
            "name": "int8",
            "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16},
            "throughput": {"H100": 3000},
        }
    ]
    doc = inventory([node("n", gpus=4, count=2, cost=10)], [chat])
    _, outcome = solve(doc, solver)
    assert outcome.plan.objective.cost_per_hour == 10
    (met,) = outcome.plan.throughput
    assert met.met and met.achieved >= 11000 and met.replicas_by_variant.get("int8", 0) >= 2
    assert {p.variant for p in outcome.plan.placements} <= {None, "int8"}
    fp16_only = copy.deepcopy(doc)
    del fp16_only["workloads"][0]["variants"]
    assert solve(fp16_only, solver)[1].plan.objective.cost_per_hour == 20


@pytest.mark.parametrize("solver", EXACT)
def test_variants_with_a_replica_count(solver):
    # Two replicas: two full-size ones need both nodes; the small variant fits beside one.
    entry = workload("svc", replicas=2, gpus=2)
    entry["variants"] = [{"name": "small", "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16}}]
    doc = inventory([node("n", gpus=3, count=2, cost=10)], [entry])
    _, outcome = solve(doc, solver)
    assert outcome.plan.objective.cost_per_hour == 10
    assert len(outcome.plan.placements) == 2 and outcome.plan.unplaced == []
    assert sorted(p.replica for p in outcome.plan.placements) == [0, 1]


@pytest.mark.parametrize("solver", EXACT)
def test_a_target_survives_the_loss_of_any_node(solver):
    fleet = [node(f"n{k}", gpus=1, cost=10 + k) for k in range(3)]
    doc = inventory(fleet, [served(3000, {"H100": 3000}, survive="node")])
    _, outcome = solve(doc, solver)
    (met,) = outcome.plan.throughput
    assert met.after_worst_loss == 3000 and met.achieved == 6000
    assert sorted(p.node for p in outcome.plan.placements) == ["n0", "n1"]
    # Both replicas on one node would not survive its loss.
    single = inventory([node("big", gpus=2)], [served(3000, {"H100": 3000}, survive="node")])
    _, alone = solve(single, solver)
    assert alone.plan.throughput[0].after_worst_loss == 0 and not alone.plan.throughput[0].met
    assert alone.exit_code == ExitCode.UNPLACED


def test_the_greedy_placer_meets_a_target():
    doc = inventory(mixed_fleet(), [served(4000, {"H100": 3000, "L40S": 1100}, survive="node")])
    _, outcome = solve(doc, "greedy")
    (met,) = outcome.plan.throughput
    assert met.met and met.after_worst_loss >= 4000


def test_an_unreachable_target_is_a_shortfall_with_a_reason():
    doc = inventory(mixed_fleet(), [served(100000, {"H100": 3000, "L40S": 1100})])
    _, outcome = solve(doc)
    (met,) = outcome.plan.throughput
    assert not met.met and met.achieved == 2 * 3000 + 3 * 1100
    assert met.reason.startswith("90700 tokens/s of the target (required) did not fit")
    assert outcome.exit_code == ExitCode.UNPLACED
    assert outcome.plan.objective.hard_shortfall == pytest.approx(90700 / 3000)


def test_only_gpu_types_with_a_throughput_are_used():
    doc = inventory(mixed_fleet(), [served(3000, {"L40S": 1100})])
    _, outcome = solve(doc)
    assert {p.node.split("-")[0] for p in outcome.plan.placements} == {"l40s"}
    assert outcome.plan.throughput[0].achieved == 3300


def test_the_checker_recomputes_throughput():
    doc = inventory(mixed_fleet(), [served(4000, {"H100": 3000, "L40S": 1100})])
    domain, outcome = solve(doc)
    fewer = outcome.plan.model_copy(update={"placements": outcome.plan.placements[:1]})
    rules = {v.rule for v in check_plan(domain, fewer)}
    assert "throughput" in rules and "objective_hard_shortfall" in rules


def test_the_checker_rejects_a_variant_on_a_gpu_type_it_does_not_run_on():
    chat = served(3000, {"H100": 3000, "L40S": 1100}, gpus=1)
    chat["variants"] = [
        {
            "name": "h100-only",
            "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16},
            "throughput": {"H100": 3500},
        }
    ]
    doc = inventory(mixed_fleet(), [chat])
    domain, outcome = solve(doc)
    moved = [
        p.model_copy(update={"node": "l40s-0", "variant": "h100-only", "gpus": [0]})
        for p in outcome.plan.placements
    ]
    rules = {
        v.rule for v in check_plan(domain, outcome.plan.model_copy(update={"placements": moved}))
    }
    assert "gpu_type" in rules
