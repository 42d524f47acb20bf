"""Workload rules: each tiny instance's optimum is forced by one rule (asserted exactly,
by every exact backend), and the checker rejects a plan that breaks it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from builders import inventory, node, workload

from allocator.domain.build import build_domain
from allocator.evaluate.check import check_plan
from allocator.inventory.load import load_inventory
from allocator.inventory.schema import Inventory
from allocator.io.errors import ExitCode
from allocator.output.plan import InventoryRef
from allocator.output.report import build_report, render_markdown
from allocator.solve.pipeline import solve_domain
from solvers.base import Status

INSTANCES = Path(__file__).resolve().parents[1] / "instances"

EXACT = ("highs", "cbc", "cpsat")


def solve(doc: dict, solver: str = "highs"):
    domain = build_domain(Inventory.model_validate(doc))
    outcome = solve_domain(domain, InventoryRef(name="rules"), solver)
    assert outcome.violations == [], solver
    return domain, outcome


def nodes_of(outcome, workload_id: str) -> list[str]:
    return sorted(p.node for p in outcome.plan.placements if p.workload == workload_id)


def broken(domain, outcome, workload_id: str, to: list[str]) -> set[str]:
    """Rules the checker cites when the workload's replicas move to `to`."""
    placements, k = [], 0
    for p in outcome.plan.placements:
        if p.workload == workload_id:
            p = p.model_copy(update={"node": to[k % len(to)]})
            k += 1
        placements.append(p)
    return {
        v.rule
        for v in check_plan(domain, outcome.plan.model_copy(update={"placements": placements}))
    }


def racks(count: int, per_rack: int, cost: float = 10.0, **extra) -> list[dict]:
    return [
        node(f"r{r}", count=per_rack, rack=f"rack{r}", cost=cost + r, **extra) for r in range(count)
    ]


# --------------------------------------------------------------- where a replica may run


@pytest.mark.parametrize("solver", EXACT)
def test_zones_selectors_and_taints_pick_the_only_allowed_node(solver):
    doc = inventory(
        [
            node("cheap", cost=1, zone="z1"),
            node("labelled", cost=5, zone="z2", labels={"pool": "infer"}),
            node("tainted", cost=2, zone="z2", labels={"pool": "infer"}, taints=["gpu-reserved"]),
            node("other", cost=3, zone="z2"),
        ],
        [workload("svc", zones=["z2"], node_selector={"pool": "infer"})],
    )
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "svc") == ["labelled"]  # tainted is cheaper but not tolerated
    doc["workloads"][0]["tolerations"] = ["gpu-reserved"]
    assert nodes_of(solve(doc, solver)[1], "svc") == ["tainted"]
    assert "placement_rule" in broken(domain, outcome, "svc", ["cheap"])


def test_no_allowed_node_says_which_rule():
    doc = inventory(
        [node("a", zone="z1")], [workload("svc", replicas={"min": 0, "max": 1}, zones=["z9"])]
    )
    _, outcome = solve(doc)
    assert outcome.plan.unplaced[0].reason == "no node is in an allowed zone (z9)"


# --------------------------------------------------------------------- failure domains


@pytest.mark.parametrize("solver", EXACT)
def test_spread_across_racks(solver):
    doc = inventory(
        racks(2, 2),
        [workload("svc", replicas=4, gpus=2, spread=[{"across": "rack", "max_per_domain": 2}])],
    )
    domain, outcome = solve(doc, solver)
    assert outcome.result.status == Status.OPTIMAL
    # One cheap node would hold all four; two per rack needs one node in each rack.
    assert nodes_of(outcome, "svc") == ["r0-0", "r0-0", "r1-0", "r1-0"]
    assert "spread" in broken(domain, outcome, "svc", ["r0-0"])


@pytest.mark.parametrize("solver", EXACT)
def test_spread_over_at_least_three_zones(solver):
    doc = inventory(
        [node(f"z{k}", zone=f"zone{k}", cost=1 + k) for k in range(4)],
        [workload("svc", replicas=3, spread=[{"across": "zone", "min_domains": 3}])],
    )
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "svc") == ["z0", "z1", "z2"]  # one node would hold all three
    assert "spread" in broken(domain, outcome, "svc", ["z0", "z0", "z1"])


@pytest.mark.parametrize("solver", EXACT)
def test_survive_the_loss_of_any_rack(solver):
    doc = inventory(
        racks(3, 1), [workload("svc", replicas={"min": 2, "max": 3}, gpus=2, survive="rack")]
    )
    domain, outcome = solve(doc, solver)
    # Three replicas, one per rack: losing any rack leaves two.
    assert nodes_of(outcome, "svc") == ["r0", "r1", "r2"]
    assert "survive" in broken(domain, outcome, "svc", ["r0", "r0", "r1"])


@pytest.mark.parametrize("solver", EXACT)
def test_survive_the_loss_of_any_node(solver):
    doc = inventory(
        [node("a", count=3, cost=10)],
        [workload("svc", replicas={"min": 2, "max": 3}, survive="node")],
    )
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "svc") == ["a-0", "a-1", "a-2"]
    assert outcome.plan.objective.cost_per_hour == 30
    assert "survive" in broken(domain, outcome, "svc", ["a-0", "a-0", "a-1"])


@pytest.mark.parametrize("solver", EXACT)
def test_gang_in_one_rack_or_not_at_all(solver):
    doc = inventory(
        [node("small", count=2, rack="rack-s", cost=5), node("big", count=4, rack="rack-b")],
        [
            workload(
                "job", replicas={"min": 0, "max": 3}, gpus=8, priority=5, gang={"within": "rack"}
            )
        ],
    )
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "job") == ["big-0", "big-1", "big-2"]
    assert "gang" in broken(domain, outcome, "job", ["small-0", "small-1", "big-0"])


@pytest.mark.parametrize("solver", (*EXACT, "greedy"))
def test_a_multi_node_job_stays_in_one_nvlink_domain(solver):
    # Two NVL domains of 2 nodes each (cheap ones first in each); a 3-node job fits
    # in neither, a 2-node job in either: the cheaper pair wins.
    fleet = [
        node("nvl-a", count=2, fabric="nvl-a", cost=10),
        node("nvl-b", count=2, fabric="nvl-b", cost=9),
    ]
    job = workload("train", replicas=2, gpus=8, gang={"within": "fabric"})
    domain, outcome = solve(inventory(fleet, [job]), solver)
    assert nodes_of(outcome, "train") == ["nvl-b-0", "nvl-b-1"]
    assert "gang" in broken(domain, outcome, "train", ["nvl-a-0", "nvl-b-0"])
    job["replicas"] = 3
    _, too_big = solve(inventory(fleet, [job]), solver)
    assert too_big.plan.placements == []
    # An exact solver proves the job cannot run; a greedy placer only fails to find room.
    proven = ExitCode.UNPLACED if solver in EXACT else ExitCode.NO_PLAN
    assert too_big.exit_code == proven


@pytest.mark.parametrize("solver", (*EXACT, "greedy"))
def test_a_gang_within_one_node_is_not_split_over_cheaper_nodes(solver):
    # Two cheap 4-GPU nodes could hold the two 4-GPU members only apart.
    fleet = [node("half", count=2, gpus=4, cost=3), node("full", gpus=8, cost=10)]
    job = workload("job", replicas=2, gpus=4, priority=5, gang={"within": "node"})
    domain, outcome = solve(inventory(fleet, [job]), solver)
    assert nodes_of(outcome, "job") == ["full", "full"]
    assert "gang" in broken(domain, outcome, "job", ["half-0", "half-1"])


@pytest.mark.parametrize("solver", EXACT)
def test_gang_all_or_nothing(solver):
    doc = inventory(
        [node("a", count=2)], [workload("job", replicas={"min": 0, "max": 3}, gpus=8, gang={})]
    )
    _, outcome = solve(doc, solver)
    assert nodes_of(outcome, "job") == []  # two of three members would be a broken job
    assert outcome.plan.objective.unplaced_priority == 3
    bigger = inventory([node("a", count=3)], doc["workloads"])
    domain, whole = solve(bigger, solver)
    assert nodes_of(whole, "job") == ["a-0", "a-1", "a-2"]
    partial = whole.plan.model_copy(update={"placements": whole.plan.placements[:2]})
    assert "gang" in {v.rule for v in check_plan(domain, partial)}


# ---------------------------------------------------------------- affinity, tenants


@pytest.mark.parametrize("solver", EXACT)
def test_affinity_to_the_zone_where_another_workload_runs(solver):
    doc = inventory(
        [node("z1", zone="z1", cost=1), node("z2", zone="z2", cost=9)],
        [
            workload("cache", zones=["z2"]),
            workload("app", affinity=[{"workload": "cache", "scope": "zone"}]),
        ],
    )
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "app") == ["z2"]
    assert "affinity" in broken(domain, outcome, "app", ["z1"])


@pytest.mark.parametrize("solver", EXACT)
def test_anti_affinity_on_nodes(solver):
    doc = inventory(
        [node("a", count=2)], [workload("x"), workload("y", anti_affinity=[{"workload": "x"}])]
    )
    domain, outcome = solve(doc, solver)
    assert sorted(nodes_of(outcome, "x") + nodes_of(outcome, "y")) == ["a-0", "a-1"]
    assert "anti_affinity" in broken(domain, outcome, "y", nodes_of(outcome, "x"))


@pytest.mark.parametrize("solver", EXACT)
def test_a_sidecar_runs_beside_its_service(solver):
    doc = inventory(
        [node("cheap", cost=1), node("dear", cost=5)],
        [
            workload("svc", zones=None, node_selector={"has": "svc"}),
            workload("sidecar", gpus=0, affinity=[{"workload": "svc"}]),
        ],
    )
    doc["nodes"][1]["labels"] = {"has": "svc"}
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "sidecar") == ["dear"]
    assert "affinity" in broken(domain, outcome, "sidecar", ["cheap"])


@pytest.mark.parametrize("solver", EXACT)
def test_dedicated_tenants_do_not_share_nodes(solver):
    doc = inventory(
        [node("a", count=2)],
        [workload("mine", tenant="bank"), workload("theirs", tenant="shop")],
        tenants={"bank": {"dedicated": True}},
    )
    domain, outcome = solve(doc, solver)
    assert outcome.plan.objective.cost_per_hour == 20  # one node would do without the rule
    shared = copy.deepcopy(doc)
    shared["tenants"] = {}
    assert solve(shared, solver)[1].plan.objective.cost_per_hour == 10
    assert "tenant" in broken(domain, outcome, "theirs", nodes_of(outcome, "mine"))


@pytest.mark.parametrize("solver", EXACT)
def test_a_tenant_stays_within_its_gpu_share(solver):
    # The cheap H100 node would hold all four; the tenant's share of H100 is 2.5 GPUs,
    # rounded up to 3 whole replicas, so the fourth goes to the dearer A100 node.
    doc = inventory(
        [node("h", "H100", cost=5), node("a", "A100-80GB", cost=9)],
        [workload("svc", replicas=4, tenant="team")],
        shares={"tenants": {"team": {"H100": 2.5, "A100-80GB": 1}}},
    )
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "svc") == ["a", "h", "h", "h"]
    assert "shares" in broken(domain, outcome, "svc", ["h"])


# ------------------------------------------------------------------ priority classes


@pytest.mark.parametrize("solver", EXACT)
def test_a_higher_class_is_placed_first_whatever_the_weights(solver):
    # By weight, batch (2 x 100) outranks prod (1 x 1); prod's class comes first.
    workloads = [
        workload("prod", replicas={"min": 0, "max": 1}, gpus=8, priority=1, priority_class="prod"),
        workload(
            "batch", replicas={"min": 0, "max": 2}, gpus=4, priority=100, priority_class="batch"
        ),
    ]
    doc = inventory([node("a")], workloads, objective={"priority_classes": ["prod", "batch"]})
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "prod") == ["a"]
    assert outcome.plan.objective.unplaced_by_class == {"prod": 0, "batch": 200}
    weighted = copy.deepcopy(doc)
    del weighted["objective"]
    assert nodes_of(solve(weighted, solver)[1], "batch") == ["a", "a"]

    by_class = {"prod": 0.0, "batch": 0.0}
    objective = outcome.plan.objective.model_copy(update={"unplaced_by_class": by_class})
    lying = outcome.plan.model_copy(update={"objective": objective})
    assert {v.rule for v in check_plan(domain, lying)} == {"objective_unplaced_by_class"}


def test_stopping_a_lower_class_is_reported_as_preemption():
    doc = inventory(
        [node("a")],
        [
            workload("prod", replicas={"min": 0, "max": 1}, gpus=8, priority_class="prod"),
            workload("batch", replicas={"min": 0, "max": 2}, gpus=4, priority_class="batch"),
        ],
        objective={"priority_classes": ["prod", "batch"]},
        current_placement={"batch": ["a", "a"]},
    )
    _, outcome = solve(doc)
    preempted = outcome.plan.preempted
    assert [(p.workload, p.priority_class, p.stopped) for p in preempted] == [("batch", "batch", 2)]
    stops = [(m.from_node, m.to_node) for m in outcome.plan.moves if m.workload == "batch"]
    assert stops == [("a", None), ("a", None)]


# ------------------------------------------------------------------------- migrations


def running_on_dear(move_cost: float, **migration) -> dict:
    """Three replicas run on a dear node; a cheap one would hold them all."""
    return inventory(
        [node("cheap", cost=1), node("dear", cost=5)],
        [workload("svc", replicas=3)],
        current_placement={"svc": ["dear"] * 3},
        objective={"migration": {"move_cost": move_cost, **migration}},
    )


@pytest.mark.parametrize("solver", EXACT)
def test_move_cost_decides_whether_replicas_move(solver):
    # Moving all three costs 3 x move cost and saves 5 - 1 per hour.
    _, stay = solve(running_on_dear(2.0), solver)
    assert nodes_of(stay, "svc") == ["dear"] * 3 and stay.plan.moves == []
    assert stay.plan.objective.cost_per_hour == 5
    _, go = solve(running_on_dear(1.0), solver)
    assert nodes_of(go, "svc") == ["cheap"] * 3
    assert go.plan.objective.cost_per_hour == 1 + 3 * 1.0
    assert go.plan.objective.moved_replicas == 3
    assert sorted((m.from_node, m.to_node) for m in go.plan.moves) == [("dear", "cheap")] * 3


@pytest.mark.parametrize("solver", EXACT)
def test_a_cap_on_moves_holds(solver):
    # Free moves: all three would go to the cheap node; one move may only consolidate.
    doc = inventory(
        [node("cheap", cost=1), node("dear", count=2, cost=5)],
        [workload("svc", replicas=3)],
        current_placement={"svc": ["dear-0", "dear-1", "dear-1"]},
        objective={"migration": {"move_cost": 0.0}},
    )
    assert nodes_of(solve(doc, solver)[1], "svc") == ["cheap"] * 3
    doc["objective"]["migration"]["max_moves"] = 1
    domain, outcome = solve(doc, solver)
    assert nodes_of(outcome, "svc") == ["dear-1"] * 3
    assert outcome.plan.objective.cost_per_hour == 5
    assert "max_moves" in {v.rule for v in check_plan(domain, _all_on(outcome.plan, "cheap"))}


@pytest.mark.parametrize("solver", (*EXACT, "greedy"))
def test_a_replica_on_a_node_its_rules_now_exclude_moves(solver):
    # The node was tainted after the replica started: re-planning moves it off.
    doc = inventory(
        [node("tainted", cost=1, taints=["dedicated=ml:NoSchedule"]), node("plain", cost=5)],
        [workload("svc", replicas=1)],
        current_placement={"svc": ["tainted"]},
        objective={"migration": {"move_cost": 0.5}},
    )
    _, outcome = solve(doc, solver)
    assert nodes_of(outcome, "svc") == ["plain"]
    assert outcome.plan.objective.cost_per_hour == 5 + 0.5


def test_a_draining_node_keeps_a_replica_its_rules_now_exclude():
    doc = inventory(
        [node("old", cost=1, state="draining"), node("new", cost=5, labels={"pool": "a"})],
        [workload("svc", replicas=1, node_selector={"pool": "a"})],
        current_placement={"svc": ["old"]},
    )
    _, outcome = solve(doc)  # the checker accepts it there
    assert nodes_of(outcome, "svc") == ["old"]


def test_a_workload_move_cost_overrides_the_default():
    doc = running_on_dear(1.0)
    doc["workloads"][0]["move_cost"] = 5.0
    assert nodes_of(solve(doc)[1], "svc") == ["dear"] * 3


def test_the_checker_recomputes_the_migration_cost():
    domain, outcome = solve(running_on_dear(1.0))
    objective = outcome.plan.objective.model_copy(update={"migration_cost_per_hour": 0.0})
    lying = outcome.plan.model_copy(update={"objective": objective})
    assert "objective_migration_cost_per_hour" in {v.rule for v in check_plan(domain, lying)}


def _all_on(plan, node_id: str):
    moved = [p.model_copy(update={"node": node_id, "gpus": []}) for p in plan.placements]
    return plan.model_copy(update={"placements": moved})


# ------------------------------------------------------------- every rule at once


def test_the_sample_with_every_rule_solves_to_a_verified_plan():
    domain = build_domain(load_inventory(INSTANCES / "rules.yaml"))
    for solver in ("highs", "cpsat"):
        outcome = solve_domain(domain, InventoryRef(name="rules"), solver)
        assert outcome.violations == [] and outcome.exit_code == ExitCode.OK, solver
        assert outcome.plan.objective.cost_per_hour == pytest.approx(688.46), solver
        assert outcome.plan.objective.moved_replicas <= 6
        assert all(t.met for t in outcome.plan.throughput)
    greedy = solve_domain(domain, InventoryRef(name="rules"), "greedy")
    assert greedy.violations == [] and greedy.exit_code == ExitCode.OK
    assert greedy.plan.objective.cost_per_hour >= 688.46
    report = render_markdown(build_report(domain, outcome.plan))
    for section in (
        "## Throughput targets",
        "| chat-70b | 24,000 tokens/s |",
        "## Spread per failure domain",
        "| risk-model | node | 3 | secure-0: 1, secure-1: 1, secure-2: 1 |",
        "moves against current placement",
    ):
        assert section in report


def test_greedy_replanning_of_its_own_plan_moves_nothing():
    doc = yaml.safe_load((INSTANCES / "small.yaml").read_text())
    first = solve(doc, "greedy")[1].plan
    current: dict[str, list[str]] = {}
    for p in first.placements:
        current.setdefault(p.workload, []).append(p.node)
    doc["current_placement"] = current
    again = solve(doc, "greedy")[1].plan
    assert again.moves == []
    assert again.objective.node_cost_per_hour == first.objective.node_cost_per_hour


@pytest.mark.parametrize(
    "rules",
    [
        {"spread": [{"across": "rack", "max_per_domain": 1}]},
        {"spread": [{"across": "rack", "min_domains": 3}]},
        {"gang": {"within": "rack"}},
    ],
)
def test_greedy_plans_keep_domain_rules(rules):
    doc = inventory(racks(3, 2), [workload("svc", replicas=3, gpus=4, **rules)])
    _, outcome = solve(doc, "greedy")
    assert len(outcome.plan.placements) == 3


def test_a_loss_that_cannot_be_survived_is_a_shortfall_listed_as_exposed():
    doc = inventory(
        [node("a", count=3, rack="only-rack")],
        [workload("svc", replicas={"min": 2, "max": 3}, survive="rack")],
    )
    _, outcome = solve(doc)
    (exposed,) = outcome.plan.exposed
    assert (exposed.workload, exposed.scope, exposed.domain) == ("svc", "rack", "only-rack")
    assert exposed.remaining == 0 and exposed.min == 2
    assert outcome.plan.objective.hard_shortfall == 2
    assert outcome.exit_code == ExitCode.UNPLACED


@pytest.mark.parametrize("solver", (*EXACT, "greedy"))
def test_node_affinity_to_a_workload_that_runs_on_fewer_gpu_types(solver):
    # embed runs only on L4 and L40S; serve-8b may run anywhere but only beside embed.
    doc = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    for w in doc["workloads"]:
        if w["id"] == "serve-8b":
            w["affinity"] = [{"workload": "embed", "scope": "node"}]
    _, outcome = solve(doc, solver)
    embed_nodes = set(nodes_of(outcome, "embed"))
    assert set(nodes_of(outcome, "serve-8b")) <= embed_nodes
    if solver in EXACT:
        assert outcome.exit_code == ExitCode.OK
        assert len(nodes_of(outcome, "serve-8b")) >= 2


@pytest.mark.parametrize("solver", (*EXACT, "greedy", "fgd"))
def test_an_inventory_without_workloads_plans_the_empty_plan(solver):
    doc = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    doc["workloads"] = []
    _, outcome = solve(doc, solver)
    assert outcome.exit_code == ExitCode.OK
    assert outcome.plan.placements == [] and outcome.plan.objective.cost_per_hour == 0
    assert [lv.status for lv in outcome.plan.solver.levels] == ["optimal"] * 3
