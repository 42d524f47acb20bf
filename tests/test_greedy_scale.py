"""The greedy placers at fleet scale: they look only at the nodes in use that may have
room and, per group of identical nodes, at the first few untouched ones. That must give
the very placement a scan over every node gives, on every rule the placers know, and
plans the checker accepts."""

from __future__ import annotations

import numpy as np
import pytest
from builders import inventory, node, workload
from conftest import INSTANCES, ROOT

from allocator.domain.build import build_domain
from allocator.evaluate.levels import level_values
from allocator.heuristics.greedy import RULES, FleetState, greedy_placement
from allocator.heuristics.placers import PLACERS
from allocator.inventory.generate import generate_inventory
from allocator.inventory.schema import Inventory
from allocator.model.reduce import reduce
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import load_domain, solve_domain


def mixed_fleet(nodes: int = 160, seed: int = 0) -> dict:
    """A generated fleet whose workloads also keep gangs in one rack, spread over racks
    and zones, and share GPUs."""
    doc = generate_inventory(nodes, nodes // 4, 3, seed, 0.9)
    rng = np.random.default_rng(seed)
    for w in doc["workloads"]:
        draw = rng.random()
        if w["kind"] == "training" and draw < 0.5:
            w["gang"] = {"within": "rack"}
        elif w["kind"] == "inference" and draw < 0.3:
            w["spread"] = [{"across": "rack", "max_per_domain": 2}]
        elif w["kind"] == "inference" and draw < 0.45:
            w["spread"] = [{"across": "zone", "min_domains": 2}]
        elif w["kind"] == "batch" and w["resources"]["gpus"] == 1 and draw < 0.6:
            w["resources"] = {"gpu_fraction": 0.25 if draw < 0.3 else 0.5, "cpus": 4, "ram_gib": 32}
    return doc


def _every_node(state: FleetState, w: int, amount: int) -> np.ndarray:
    """The scan the pool stands for: every planned node the row may run on."""
    del amount
    inst = state.inst
    return np.flatnonzero((inst.compat[w] & state.planned)[inst.groups.of_node])


def _replicas(placement) -> list[tuple[int, int, tuple[int, ...]]]:
    """Each replica: row, node and the GPUs it takes."""
    return [
        (w, n, tuple(placement.gpus(r).tolist()))
        for r, (w, n) in enumerate(
            zip(placement.workload.tolist(), placement.node.tolist(), strict=True)
        )
    ]


def _sample(name: str):
    return lambda: load_domain(INSTANCES / f"{name}.yaml")


def _generated(doc: dict):
    return lambda: build_domain(Inventory.model_validate(doc))


CASES = {
    **{name: _sample(name) for name in ("small", "medium", "rules", "dc-east")},
    "datacenter": lambda: load_domain(ROOT / "tests" / "data" / "datacenter.yaml"),
    "node_states": lambda: load_domain(ROOT / "tests" / "data" / "node_states.yaml"),
    "generated": _generated(generate_inventory(120, 30, 3, 1, 0.9)),
    "mixed": _generated(mixed_fleet()),
}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_pool_places_exactly_as_a_scan_of_every_node(case, rule, monkeypatch):
    inst = reduce(CASES[case]())
    pooled = greedy_placement(inst, rule)
    monkeypatch.setattr(FleetState, "pool", _every_node)
    scanned = greedy_placement(inst, rule)
    assert _replicas(pooled) == _replicas(scanned)
    assert level_values(inst, pooled) == level_values(inst, scanned)


def test_untouched_nodes_come_in_node_order_past_those_in_use():
    doc = inventory([node("a", count=6), node("b", gpus=4, count=3)], [workload("w")])
    inst = reduce(build_domain(Inventory.model_validate(doc)))
    state = FleetState(inst)
    members = inst.groups.members(0)
    # A node kept where it runs now may be in use ahead of untouched ones.
    state.take_whole(0, members[[0, 2]], np.array([1, 1]), 1)
    assert state.next[0] == 1  # the first member is in use, the second is not
    got = state.untouched(np.array([0, 1]), np.array([3, 5]))
    assert sorted(got.tolist()) == [*members[[1, 3, 4]].tolist(), *inst.groups.members(1).tolist()]


def test_the_pool_holds_enough_untouched_nodes_for_the_amount():
    doc = inventory([node("a", count=10, cost=5.0)], [workload("w", replicas=20, gpus=2)])
    inst = reduce(build_domain(Inventory.model_validate(doc)))
    state = FleetState(inst)
    assert len(state.pool(0, 20)) == 5  # four replicas of 2 GPUs on each 8-GPU node
    assert len(state.pool(0, 1)) == 1


def test_greedy_reaches_the_known_optimum_of_filling_the_cheapest_nodes():
    # 12 one-GPU replicas: three 4-GPU nodes at $10/h beat any use of the $30/h ones.
    doc = inventory(
        [node("big", count=4, cost=30.0), node("small", gpus=4, count=6, cost=10.0)],
        [workload("w", replicas=12)],
    )
    domain = build_domain(Inventory.model_validate(doc))
    inst = reduce(domain)
    placement = greedy_placement(inst, "first_fit")
    assert level_values(inst, placement) == (0.0, 0.0, pytest.approx(30.0))
    assert sorted(set(domain.fleet.ids[placement.node].tolist())) == [
        "small-0",
        "small-1",
        "small-2",
    ]
    best = PLACERS["greedy"].place(inst, 0)
    assert level_values(inst, best)[-1] == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("rule", "second"),
    # First fit ranks nodes by cost, best fit by what room is left (alike here), then by
    # node order.
    [("first_fit", ["r2-0", "r3-0"]), ("best_fit", ["r0-0", "r1-0"])],
)
def test_a_spread_workload_goes_to_the_places_holding_fewest_first(rule, second, monkeypatch):
    # Six replicas, at most two per rack, over four racks whose cost falls rack by rack:
    # one to each rack first, then a second to two racks, on the nodes in use.
    doc = inventory(
        [node(f"r{r}", count=2, rack=f"rack{r}", cost=20.0 - r) for r in range(4)],
        [workload("svc", replicas=6, gpus=2, spread=[{"across": "rack", "max_per_domain": 2}])],
    )
    domain = build_domain(Inventory.model_validate(doc))
    expected = sorted(["r0-0", "r1-0", "r2-0", "r3-0", *second])
    placement = greedy_placement(reduce(domain), rule)
    assert sorted(domain.fleet.ids[placement.node].tolist()) == expected
    monkeypatch.setattr(FleetState, "pool", _every_node)  # every node a candidate at once
    placement = greedy_placement(reduce(domain), rule)
    assert sorted(domain.fleet.ids[placement.node].tolist()) == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_plans_of_a_mixed_fleet_pass_the_checker(seed):
    domain = build_domain(Inventory.model_validate(mixed_fleet(200, seed)))
    outcome = solve_domain(domain, InventoryRef(name="mixed"), "greedy")
    assert outcome.violations == []


@pytest.mark.parametrize("rule", RULES)
def test_out_of_time_the_placer_returns_what_it_placed(rule):
    import time

    inst = reduce(load_domain(INSTANCES / "small.yaml"))
    whole = greedy_placement(inst, rule)
    none = greedy_placement(inst, rule, stop_at=time.perf_counter() - 1.0)
    later = greedy_placement(inst, rule, stop_at=time.perf_counter() + 600.0)
    assert whole.placed().sum() > 0
    assert none.placed().sum() == 0  # nothing runs now on small: a stop at once places none
    assert _replicas(later) == _replicas(whole)
