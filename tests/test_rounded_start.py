"""The rounded LP start: the pattern LP rounded down to whole nodes and replicas (dived to
whole pattern counts first where that is not within the gap), the rest placed greedily.
Its plans must pass the checker, keep the replicas of the rounding that keep the rules,
and never leave the planner worse off than the greedy warm start."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from builders import inventory, node, workload
from conftest import INSTANCES
from test_greedy_scale import mixed_fleet

import allocator.solve.strategy as strategy
from allocator.bench.instances import LadderInstance
from allocator.domain.build import build_domain
from allocator.domain.replicas import Replicas
from allocator.evaluate.levels import level_values
from allocator.heuristics.counts import repair
from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.heuristics.placers import PLACERS, Placer
from allocator.inventory.generate import generate_inventory
from allocator.inventory.schema import Inventory
from allocator.model.problem import ProblemBuilder
from allocator.model.reduce import reduce
from allocator.output.plan import InventoryRef
from allocator.solve.deadline import Deadline
from allocator.solve.pipeline import load_domain, solve_domain
from solvers import registry
from solvers.base import SolveOptions

# Samples whose rules the greedy placers know: a cap on moves or one site for a workload
# that talks between replicas is the model's to enforce (it turns down a start that
# breaks them), not the greedy completion's.
SAMPLES = ("tiny", "small", "medium")


def _sample(name: str):
    return load_domain(INSTANCES / f"{name}.yaml")


def _mixed(seed: int):
    return build_domain(Inventory.model_validate(mixed_fleet(120, seed)))


def _pairs(workload: np.ndarray, node: np.ndarray) -> dict[tuple[int, int], int]:
    keys, counts = np.unique(np.stack([workload, node]), axis=1, return_counts=True)
    return {(int(w), int(n)): int(c) for (w, n), c in zip(keys.T, counts, strict=True)}


def _plan_capturing(domain, monkeypatch):
    """Plan with HiGHS, keeping each (rounded start, its greedy completion)."""
    seen = []
    original = strategy.greedy_placement

    def capture(inst, rule="first_fit", start=None, stop_at=None):
        placed = original(inst, rule, start=start, stop_at=stop_at)
        if start is not None:
            seen.append((start, placed))
        return placed

    monkeypatch.setattr(strategy, "greedy_placement", capture)
    result = strategy.plan(domain, "highs", SolveOptions(time_limit=20, rel_gap=1e-3))
    return result, seen


@pytest.mark.parametrize(
    "make", [*(lambda n=n: _sample(n) for n in SAMPLES), lambda: _mixed(0), lambda: _mixed(1)]
)
def test_rounded_starts_pass_the_checker_and_keep_what_rounding_placed(make, monkeypatch):
    domain = make()
    result, seen = _plan_capturing(domain, monkeypatch)
    assert seen, "no level solved its LP"
    for start, completed in seen:
        # What of the rounding keeps the rules (a gang rounded down to part of it does
        # not) stays where it is.
        keep = repair(domain, start.workload, start.node)
        kept = _pairs(start.workload[keep], start.node[keep])
        have = _pairs(completed.workload, completed.node)
        assert all(have.get(key, 0) >= count for key, count in kept.items())
        monkeypatch.setitem(PLACERS, "rounded", Placer("rounded", lambda i, s, p=completed: p, ""))
        outcome = solve_domain(domain, InventoryRef(name="rounded"), "rounded")
        assert outcome.violations == []
    # Whatever the rounding gives, the plan is no worse than the greedy warm start.
    greedy = PLACERS["greedy"].place(reduce(domain), 0)
    assert [lv.value for lv in result.levels] <= list(level_values(reduce(domain), greedy))


def test_the_rounded_start_beats_greedy_on_a_generated_fleet(monkeypatch):
    # 2,000 nodes of three GPU types, 500 workloads at 90 % of the GPUs: the greedy rules
    # fill one workload after another and open more (or dearer) nodes than the LP, whose
    # rounding is within 0.1 % of the LP bound.
    domain = build_domain(Inventory.model_validate(generate_inventory(2000, 500, 3, 0, 0.9)))
    inst = reduce(domain)
    greedy = level_values(inst, PLACERS["greedy"].place(inst, 0))[-1]
    result, seen = _plan_capturing(domain, monkeypatch)
    rounded = min(level_values(inst, completed)[-1] for _, completed in seen)
    assert rounded < greedy
    assert result.final.value <= rounded
    assert result.final.bound is not None
    assert rounded <= result.final.bound * (1 + 1e-3)


def test_a_start_that_breaks_a_rule_is_completed_into_one_that_keeps_it():
    # The start runs all four replicas in zone z1, against "at least two zones": rather
    # than keep them and drop the workload at the end, completion places it anew.
    doc = inventory(
        [node("a", count=4, zone="z1"), node("b", count=4, zone="z2")],
        [workload("svc", replicas=4, gpus=8, spread=[{"across": "zone", "min_domains": 2}])],
    )
    inst = reduce(build_domain(Inventory.model_validate(doc)))
    start = Replicas.build([0] * 4, [0, 1, 2, 3], [list(range(8))] * 4, 8, 1)
    for rule in RULES:
        placed = greedy_placement(inst, rule, start=start)
        assert len(placed) == 4
        assert set(inst.domain.fleet.zone[placed.node].tolist()) == {"z1", "z2"}


def test_a_dive_makes_pattern_counts_whole_and_settles_the_level_without_a_mip(monkeypatch):
    # The harder mix at 10,000 nodes, planned on its coarse model: its cost LP rounded
    # down and completed greedily is 0.15 % above the LP. Dived until every pattern count
    # is whole, the rounding is within the 0.1 % asked for, and no MIP runs.
    dives = []
    dive = strategy._dive

    def capture(relaxer, relaxed, form, x, share):
        dived = dive(relaxer, relaxed, form, x, share)
        dives.append((relaxed, form, x, dived))
        return dived

    monkeypatch.setattr(strategy, "_dive", capture)
    domain = LadderInstance.of_size(10_000, mix="hard").domain()
    result = strategy.plan(domain, "highs", SolveOptions(time_limit=120, rel_gap=1e-3))
    assert dives
    relaxed, form, x, dived = dives[-1]
    before, after = x[form.patterns.slice], dived[form.patterns.slice]
    assert not np.allclose(before, np.round(before)) and np.allclose(after, np.round(after))
    assert relaxed.violations(dived) == []  # a solution of the LP, at a higher cost
    assert relaxed.objective_value(dived) >= relaxed.objective_value(x) - 1e-6
    assert result.final.how == "warm start meets bound"
    assert result.final.gap is not None and result.final.gap <= 1e-3


def test_a_dive_rounds_up_only_as_many_patterns_as_their_group_has_nodes_left():
    # One group of 2 nodes; pattern a opens 2 slots of shape S (3 replicas wanted), b 2
    # slots of T (1 wanted). The LP runs a on 1.5 nodes and b on 0.5. Rounding both up
    # asks for 3 nodes; the dive rounds up one, and the LP re-solved from there is whole.
    b = ProblemBuilder("two patterns")
    pattern = b.add_columns("pattern", 2, integer=False)
    placed = b.add_columns("placed", 2, hi=np.array([3.0, 1.0]), integer=False, cost=-1.0)
    nodes = b.add_rows("nodes", 1, hi=2.0)
    slots = b.add_rows("slots", 2, hi=0.0)
    b.add_entries(nodes, [0, 0], pattern, [0, 1], 1.0)
    b.add_entries(slots, [0, 1], placed, [0, 1], 1.0)
    b.add_entries(slots, [0, 1], pattern, [0, 1], -2.0)
    relaxed = b.build()
    highs = registry.get("highs")
    lp = highs.solve(relaxed, SolveOptions())
    assert lp.x is not None and lp.x[pattern.slice].tolist() == pytest.approx([1.5, 0.5])
    form = SimpleNamespace(
        patterns=pattern,
        pool=SimpleNamespace(group=np.array([0, 0])),
        instance=SimpleNamespace(groups=SimpleNamespace(count=np.array([2]))),
    )
    dived = strategy._dive(highs, relaxed, form, lp.x, Deadline.after(10, time.perf_counter()))
    counts = dived[pattern.slice]
    assert counts.tolist() == pytest.approx(np.round(counts).tolist())
    assert counts.sum() == pytest.approx(2.0)
    assert relaxed.violations(dived) == []
    assert relaxed.objective_value(dived) == pytest.approx(-3.0)  # of the 4 the LP placed
