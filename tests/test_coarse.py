"""The coarse model: rules counted per rack left out so that alike racks merge, the plan
arranged back into racks. Small fleets with known optima; every plan through the checker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from builders import inventory, node, workload

from allocator.domain.build import build_domain
from allocator.domain.replicas import Replicas
from allocator.domain.scopes import scope_index
from allocator.evaluate.levels import plan_values
from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.inventory.schema import Inventory
from allocator.model.reduce import reduce
from allocator.output.plan import InventoryRef
from allocator.solve.coarse import coarsening
from allocator.solve.pipeline import solve_domain
from solvers.base import SolveOptions, Status

RACK = scope_index("rack")


def racks(count: int, per_rack: int, gpu_type: str = "H100", prefix: str = "r") -> list[dict]:
    """`count` racks of `per_rack` alike 8-GPU nodes, all at one price."""
    return [
        node(f"{prefix}{r}", gpu_type, count=per_rack, rack=f"{prefix}ack{r}") for r in range(count)
    ]


def one_per_rack(replicas: int | dict, gpus: int = 4, **extra) -> dict:
    spread = [{"across": "rack", "max_per_domain": 1}]
    return workload("svc", replicas=replicas, gpus=gpus, spread=spread, **extra)


def domain_of(doc: dict):
    return build_domain(Inventory.model_validate(doc))


def solve(doc: dict):
    domain = domain_of(doc)
    outcome = solve_domain(domain, InventoryRef(name="coarse"), "highs", SolveOptions(60))
    assert outcome.violations == []
    return outcome


def racks_of(outcome, workload_id: str) -> list[str]:
    fleet = outcome.domain.fleet
    rack = dict(zip(fleet.ids.tolist(), fleet.rack.tolist(), strict=True))
    return [rack[p.node] for p in outcome.plan.placements if p.workload == workload_id]


def test_a_fleet_of_alike_racks_is_planned_on_one_group_and_proven_optimal():
    # 20 racks of 4 alike nodes: 20 node groups once a rule counts racks, one without.
    # 96 GPUs of 4-GPU replicas fill 12 nodes exactly: the gang's two nodes in one rack,
    # and ten nodes in ten other racks, each with one replica of svc and one of batch.
    doc = inventory(
        racks(20, 4),
        [
            one_per_rack(10),
            workload("batch", replicas=10, gpus=4),
            workload("train", replicas=4, gpus=4, gang={"within": "rack"}),
        ],
    )
    outcome = solve(doc)
    result = outcome.result
    assert result.status == Status.OPTIMAL
    assert result.final.value == result.final.bound == 120.0  # 12 nodes at 10 $/h
    assert result.size["node_groups"] == 1 and result.size["full_node_groups"] == 20
    assert any(note.startswith("planned on a coarse model") for note in result.notes)
    svc = racks_of(outcome, "svc")
    assert len(svc) == len(set(svc)) == 10
    assert len(set(racks_of(outcome, "train"))) == 1


def test_where_the_arrangement_cannot_fit_the_full_model_plans_from_it():
    # One rack holds the gang's 4 nodes whole, so only 19 racks hold slots for svc's 20
    # replicas at one per rack, which the coarse model (20 racks x 1) allows: the plan is
    # the full model's, which leaves one replica of svc out.
    doc = inventory(
        racks(20, 4),
        [
            one_per_rack({"min": 0, "max": 20}, gpus=8),
            workload("train", replicas=4, gpus=8, gang={"within": "rack"}),
        ],
    )
    outcome = solve(doc)
    result = outcome.result
    assert any(note.startswith("the plan of the coarse model") for note in result.notes)
    assert result.size["node_groups"] == 20
    assert len(racks_of(outcome, "svc")) == 19
    assert result.levels[-1].value == result.levels[-1].bound == 230.0  # 23 nodes


def test_the_coarse_model_caps_a_workload_per_group_at_its_cap_times_the_racks():
    # 5 H100 racks and 3 A100 racks, two per rack at most: 10 on H100s, 6 on A100s.
    doc = inventory(
        [
            *racks(5, 2, "H100"),
            *racks(3, 2, "A100", prefix="a"),
            *[node(f"x{k}", "H100", rack=f"xrack{k}") for k in range(12)],
        ],
        [workload("svc", replicas=4, spread=[{"across": "rack", "max_per_domain": 2}])],
    )
    domain = domain_of(doc)
    coarse = coarsening(domain)
    assert coarse is not None and coarse.scopes == (RACK,)
    groups = coarse.inst.groups
    h100 = groups.gpu_types[groups.gpu_type[0]].name == "H100"
    most = coarse.inst.most_on_group
    assert most is not None and len(groups) == 2
    assert sorted(most[0].tolist()) == [6.0, 34.0]  # 3 A100 racks; 5 + 12 H100 racks
    assert most[0, 0 if h100 else 1] == 34.0


def test_no_coarse_model_without_many_racks_nor_with_a_rule_it_cannot_arrange():
    few = inventory(racks(16, 2), [one_per_rack(4)])
    domain = domain_of(few)
    assert coarsening(domain) is None  # 16 racks keep their rules
    survive = inventory(racks(20, 2), [workload("svc", replicas=4, survive="rack")])
    domain = domain_of(survive)
    assert coarsening(domain) is None


def test_greedy_keeps_a_cap_per_group_and_places_the_rest_elsewhere():
    doc = inventory(
        [node("h", "H100", count=4), node("a", "A100", count=4)],
        [workload("svc", replicas=10, gpus=2)],
    )
    inst = reduce(domain_of(doc))
    h100 = int(np.flatnonzero([t.name == "H100" for t in inst.groups.gpu_types])[0])
    on_h100 = int(np.flatnonzero(inst.groups.gpu_type == h100)[0])
    most = np.full((1, 2), np.inf)
    most[0, on_h100] = 3
    capped = replace(inst, most_on_group=most)
    for rule in RULES:
        placed = greedy_placement(capped, rule)
        group = inst.groups.of_node[placed.node]
        assert len(placed) == 10
        assert int((group == on_h100).sum()) == 3


def test_the_cap_per_group_sends_what_few_racks_cannot_spread_over_to_others():
    # Cheap A100 nodes sit in 3 racks only: one replica per rack puts 3 of 8 there (5 $/h
    # each) and 5 on H100s (10 $/h), 65 $/h; left uncapped, the coarse model would put
    # all 8 on the 12 cheap nodes.
    doc = inventory(
        [
            *[node(f"h{k}", "H100", rack=f"hrack{k}") for k in range(17)],
            *[node(f"a{k}", "A100", count=4, rack=f"arack{k}", cost=5.0) for k in range(3)],
        ],
        [one_per_rack(8, gpus=8)],
    )
    result = solve(doc).result
    assert any(note.startswith("planned on a coarse model") for note in result.notes)
    assert result.final.value == result.final.bound == 65.0


def test_a_gang_split_over_two_kinds_of_node_gathers_in_one_rack_at_no_cost():
    # The coarse model may split a gang over H100 and A100 nodes (it knows no racks); the
    # arrangement trades one of its replicas with a replica of `batch` (same shape, no
    # rules), so the gang sits in one rack and the plan scores what it scored.
    doc = inventory(
        [*racks(17, 2, "H100"), *racks(3, 2, "A100", prefix="a")],
        [
            workload("train", replicas=2, gpus=8, gang={"within": "rack"}),
            workload("batch", replicas=2, gpus=8),
        ],
    )
    domain = domain_of(doc)
    coarse = coarsening(domain)
    assert coarse is not None
    at = domain.fleet.index
    nodes = [at["r0-0"], at["a0-0"], at["r1-0"], at["a1-0"]]
    gpus = [list(range(8))] * 4
    placement = Replicas.build([0, 0, 1, 1], nodes, gpus, len(domain.fleet), 2)
    moved, keep = coarse.arranged(domain, placement)
    assert keep.all()
    assert plan_values(domain, moved) == plan_values(domain, placement)
    train = moved.node[moved.workload == 0]
    assert len(set(domain.fleet.rack[train].tolist())) == 1
    assert len(set(train.tolist())) == 2
