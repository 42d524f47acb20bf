"""The checker accepts the planner's plans and rejects each kind of broken plan."""

from __future__ import annotations

import pytest
from builders import inventory, node, workload
from conftest import INSTANCES

from allocator.domain.build import build_domain
from allocator.evaluate.check import check_plan
from allocator.inventory.schema import Inventory
from allocator.output.plan import InventoryRef, Move, Placement, PlanFile, Unplaced
from allocator.solve.pipeline import load_domain, solve_domain
from solvers.base import SolveOptions


@pytest.fixture(scope="module")
def tiny():
    domain = load_domain(INSTANCES / "tiny.yaml")
    outcome = solve_domain(domain, InventoryRef(name="tiny"), "highs", SolveOptions())
    assert outcome.violations == []
    return domain, outcome.plan


def edited(plan: PlanFile, **changes) -> PlanFile:
    return plan.model_copy(update=changes)


def move(
    plan: PlanFile, workload: str, to: str, replica: int = 0, gpus: list[int] | None = None
) -> PlanFile:
    placements = [
        Placement(
            workload=p.workload, replica=p.replica, node=to, gpus=p.gpus if gpus is None else gpus
        )
        if (p.workload, p.replica) == (workload, replica)
        else p
        for p in plan.placements
    ]
    return edited(plan, placements=placements)


def rules(domain, plan) -> set[str]:
    return {v.rule for v in check_plan(domain, plan)}


def test_planner_output_passes(tiny):
    domain, plan = tiny
    assert check_plan(domain, plan) == []


def test_wrong_gpu_type_is_rejected(tiny):
    domain, plan = tiny
    violations = check_plan(domain, move(plan, "embed", "h100-0"))
    assert "gpu_type" in {v.rule for v in violations}
    assert any("GPU type H100 is not one of L4, L40S" in v.message for v in violations)


def test_too_little_gpu_memory_is_rejected(tiny):
    domain, plan = tiny
    violations = check_plan(domain, move(plan, "serve-70b", "l40s-1"))
    assert [v.rule for v in violations if v.rule == "gpu_memory"] == ["gpu_memory"]
    assert any("needs 140 GiB over 2 GPU(s), L40S gives 96 GiB" in v.message for v in violations)


def test_replica_larger_than_the_node_is_rejected(tiny):
    domain, plan = tiny
    assert {"gpu_count", "gpu_type"} <= rules(domain, move(plan, "train-70b", "l4-0"))


def test_a_whole_gpu_is_not_shared(tiny):
    domain, plan = tiny
    busy = next(p.node for p in plan.placements if p.workload == "train-70b")
    moved = move(plan, "serve-8b", busy, gpus=[5])
    violations = [str(v) for v in check_plan(domain, moved)]
    assert violations == [
        f"[gpu_exclusive] node {busy} GPU 5: held whole by one replica but "
        "used by 2: train-70b replica 0, serve-8b replica 0"
    ]


@pytest.mark.parametrize(("resource", "rule"), [("cpus", "node_cpu"), ("ram_gib", "node_ram")])
def test_cpu_and_ram_capacity_are_checked(resource, rule):
    doc = inventory(
        [node("a", cpus=16, ram_gib=64)], [workload("w", replicas=2, cpus=8, ram_gib=32)]
    )
    doc["workloads"][0]["resources"][resource] *= 2
    domain = build_domain(Inventory.model_validate(doc))
    base = solve_domain(domain, InventoryRef(name="t"), "highs", SolveOptions()).plan
    assert len(base.placements) == 1
    forced = edited(
        base,
        placements=[Placement(workload="w", replica=r, node="a", gpus=[r]) for r in (0, 1)],
        unplaced=[],
    )
    assert rule in rules(domain, forced)


def test_duplicate_and_unknown_entries_are_rejected(tiny):
    domain, plan = tiny
    first = plan.placements[0]
    assert "duplicate_replica" in rules(domain, edited(plan, placements=[first, *plan.placements]))
    ghost = Placement(workload=first.workload, replica=first.replica, node="no-such-node")
    assert "unknown_node" in rules(domain, edited(plan, placements=[ghost, *plan.placements[1:]]))
    stranger = Placement(workload="no-such-workload", replica=0, node=first.node)
    assert "unknown_workload" in rules(
        domain, edited(plan, placements=[*plan.placements, stranger])
    )


def test_every_replica_must_be_accounted_for(tiny):
    domain, plan = tiny
    assert "replica_count" in rules(domain, edited(plan, unplaced=[]))
    extra = Placement(workload="train-70b", replica=1, node="h100-0", gpus=list(range(8)))
    assert "replica_count" in rules(domain, edited(plan, placements=[*plan.placements, extra]))


def test_required_replicas_must_be_flagged(tiny):
    domain, plan = tiny
    dropped = [p for p in plan.placements if p.workload != "embed"]
    unplaced = [
        *plan.unplaced,
        *(Unplaced(workload="embed", replica=r, required=False, reason="x") for r in range(3)),
    ]
    assert "required_flag" in rules(domain, edited(plan, placements=dropped, unplaced=unplaced))


def test_misstated_objective_is_rejected(tiny):
    domain, plan = tiny
    cheaper = plan.objective.model_copy(update={"cost_per_hour": 150.0})
    violations = check_plan(domain, edited(plan, objective=cheaper))
    assert [str(v) for v in violations] == [
        "[objective_cost_per_hour] plan states cost_per_hour = 150, the placement gives 185"
    ]


def test_moves_must_match_the_current_placement(tiny):
    domain, plan = tiny
    bogus = [Move(workload="embed", from_node="l4-0", to_node="l4-1")]
    assert "moves" in rules(domain, edited(plan, moves=bogus))


OBJECTIVE_FIGURES = (
    "hard_shortfall",
    "unplaced_priority",
    "cost_per_hour",
    "node_cost_per_hour",
    "storage_cost_per_hour",
    "energy_cost_per_hour",
    "migration_cost_per_hour",
)


@pytest.mark.parametrize("figure", OBJECTIVE_FIGURES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_objective_figure_is_rejected(tiny, figure, bad):
    domain, plan = tiny
    tampered = edited(plan, objective=plan.objective.model_copy(update={figure: bad}))
    found = rules(domain, tampered)
    assert "non_finite" in found
    assert f"objective_{figure}" in found or "survive" in found


def test_a_nan_shortfall_does_not_hide_a_loss_the_plan_does_not_survive():
    doc = inventory(
        [node("a", count=3, rack="only-rack")],
        [workload("svc", replicas={"min": 2, "max": 3}, survive="rack")],
    )
    domain = build_domain(Inventory.model_validate(doc))
    plan = solve_domain(domain, InventoryRef(name="x"), "highs").plan
    hidden = plan.objective.model_copy(update={"hard_shortfall": float("nan")})
    violations = check_plan(domain, edited(plan, objective=hidden))
    assert any(
        v.rule == "survive" and "losing rack only-rack leaves 0 replica(s)" in v.message
        for v in violations
    )


def test_the_solver_report_is_recomputed(tiny):
    domain, plan = tiny
    solver = plan.solver
    last = solver.levels[-1]

    def with_levels(*levels, **changes):
        return edited(plan, solver=solver.model_copy(update={"levels": list(levels), **changes}))

    better = last.model_copy(update={"value": last.value - 10})
    assert "solver_levels" in rules(domain, with_levels(*solver.levels[:-1], better))
    above = last.model_copy(update={"bound": last.value + 10, "gap": 10 / last.value})
    assert "solver_bound" in rules(domain, with_levels(*solver.levels[:-1], above))
    assert "solver_objective" in rules(domain, with_levels(*solver.levels, objective=1.0))
    assert "solver_levels" in rules(domain, with_levels(*solver.levels[:-1]))
    nan_bound = last.model_copy(update={"bound": float("nan")})
    assert "non_finite" in rules(domain, with_levels(*solver.levels[:-1], nan_bound))


def test_a_plan_with_a_non_finite_number_is_never_written(tmp_path):
    from allocator.io.atomic import write_json_atomic

    target = tmp_path / "p.json"
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_json_atomic(target, {"cost": float("inf")})
    assert not target.exists()
