"""Pricing in column generation: the backends agree on the best pattern, duals rounded up
for an integer backend never rule out an improving pattern, and the dynamic-programming
bound holds over every pattern a group has."""

from __future__ import annotations

import numpy as np
import pytest
from builders import inventory, node, workload

from allocator.domain.build import build_domain
from allocator.inventory.schema import Inventory
from allocator.model import colgen
from allocator.model.patterns import PatternPool, enumerate_pool, shape_bounds
from allocator.model.pricing import pricing_problem, read_pattern, relaxed_patterns
from allocator.model.pricing_bound import PatternBound
from allocator.model.reduce import reduce
from allocator.solve import strategy
from allocator.solve.deadline import Deadline
from solvers import registry
from solvers.base import Capability, SolveOptions, SolverError, Status


@pytest.fixture(scope="module")
def inst(openb_domain):
    return reduce(openb_domain)


def _worth(inst, value, parts) -> float:
    whole, multiplicity, configs = parts
    return float(value @ (whole[0] + multiplicity[0] @ configs))


def _gpu_groups(inst) -> list[int]:
    bounds = shape_bounds(inst)
    return [g for g in range(len(inst.groups)) if inst.groups.gpus[g] and bounds[g].any()]


def _values(inst, rng) -> np.ndarray:
    # Thirds and sevenths: values no decimal grid holds exactly.
    return rng.integers(1, 3000, size=len(inst.shapes)) / rng.choice([3.0, 7.0])


def test_a_constraint_backend_and_a_branch_and_bound_one_find_patterns_of_the_same_worth(inst):
    rng = np.random.default_rng(7)
    bounds = shape_bounds(inst)
    highs, cpsat = registry.get("highs"), registry.get("cpsat")
    compared = 0
    for g in _gpu_groups(inst):
        value = _values(inst, rng)
        exact = pricing_problem(inst, g, value, bounds[g])
        best = highs.solve(exact.problem, SolveOptions(rel_gap=0.0))
        assert best.status == Status.OPTIMAL
        gridded = pricing_problem(inst, g, colgen._rounded_up(value), bounds[g])
        found = cpsat.solve(gridded.problem, SolveOptions(rel_gap=0.0, threads=1))
        assert found.status == Status.OPTIMAL
        top = -best.objective
        worth = _worth(inst, value, read_pattern(gridded, found.x, len(inst.shapes)))
        # Rounded up by at most 10^-6 per replica, the CP-SAT pattern is as good at the
        # true values up to that rounding.
        assert worth == pytest.approx(top, abs=1e-3)
        compared += 1
    assert compared >= 3


def test_rounded_up_duals_never_rule_out_an_improving_pattern(inst):
    rng = np.random.default_rng(11)
    bounds = shape_bounds(inst)
    highs = registry.get("highs")
    pricers = (registry.get("cpsat"), highs)
    for g in _gpu_groups(inst):
        value = _values(inst, rng)
        top = -highs.solve(
            pricing_problem(inst, g, value, bounds[g]).problem, SolveOptions(rel_gap=0.0)
        ).objective
        below = colgen._exact_pricing(
            inst, g, value, bounds[g], 0.99 * top, Deadline(), 10.0, pricers
        )
        assert below[1] and all(_worth(inst, value, p) > 0.99 * top for p in below[1])
        assert below[0] >= top - 1e-6  # the MIP's bound holds at the true values
        above = colgen._exact_pricing(
            inst, g, value, bounds[g], 1.01 * top, Deadline(), 10.0, pricers
        )
        assert above == (1.01 * top, [])  # proven: no pattern is worth that much


def test_values_rounded_up_to_a_decimal_grid():
    small = np.array([0.0, 1 / 3, 2 / 7, 0.5])
    rounded = colgen._rounded_up(small)
    assert (rounded >= small).all() and rounded.tolist()[0] == 0.0
    assert rounded.tolist() == [0.0, 0.333334, 0.285715, 0.5]  # 10^-6 at most
    value = np.array([1 / 3, 810.0, 1234.5678901234])
    rounded = colgen._rounded_up(value)
    # The largest has 4 digits before the point: 10^-5 keeps it under 10^9.
    assert rounded.tolist() == [0.33334, 810.0, 1234.56790]
    huge = colgen._rounded_up(np.array([3.3e12, 1.5]))
    assert huge.tolist() == [3.3e12, 2.0]  # beyond 10^9 the grid is whole units


def test_the_dynamic_programming_bound_holds_over_every_pattern_of_a_group(inst):
    pool = enumerate_pool(inst)
    bounds = shape_bounds(inst)
    rng = np.random.default_rng(3)
    checked = 0
    for g in np.flatnonzero(pool.complete & (inst.groups.gpus > 0)):
        mine = pool.counts[pool.group == g]
        if not len(mine):
            continue
        upper = PatternBound(inst, int(g), bounds[g])
        for _ in range(5):
            value = rng.random(len(inst.shapes)) * 1000
            best = float((mine @ value).max())
            assert upper.bound(value) >= best - 1e-6
        checked += 1
    assert checked >= 2


def test_pricing_goes_to_a_constraint_backend_first_and_to_another_when_it_refuses(
    openb_domain, monkeypatch
):
    fast = registry.first_with({Capability.MIP, Capability.SMALL_INTEGER})
    assert fast is not None and fast.name == "cpsat"
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    cpsat = type(fast)
    refused = []

    def refuse(self, problem, options):
        refused.append(problem.name)
        raise SolverError("row cannot be scaled")

    monkeypatch.setattr(cpsat, "solve", refuse)
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    assert strategy.level_bound(openb_domain, "unplaced_priority") == pytest.approx(every)
    assert refused  # the pricing problems were offered to CP-SAT, then solved by HiGHS


def test_suggested_patterns_keep_every_shape_within_its_bound_on_one_node(inst):
    """A shape bound per node (replicas wanted, a most per node) holds in every pattern
    the relaxation suggests, whatever the worth: it may meet the shape twice, as a whole
    or shared replica planned first and again in the fill."""
    bounds = shape_bounds(inst)
    rng = np.random.default_rng(5)
    checked = 0
    for g in _gpu_groups(inst):
        upper = PatternBound(inst, g, bounds[g])
        for _ in range(3):
            value = _values(inst, rng)
            upper.bound(value)
            for parts in relaxed_patterns(inst, g, value, bounds[g], upper.lam):
                assert (colgen._counts(parts) <= bounds[g]).all()
                checked += 1
    assert checked > 20


def test_patterns_the_pool_already_has_are_not_new_columns(inst):
    """A pattern running on every node of its group sits at its upper bound and may look
    improving at optimal duals: offered again, it must not count as a new column (that
    once ended generation as converged without pricing the other groups)."""
    bounds = shape_bounds(inst)
    g = _gpu_groups(inst)[0]
    value = np.ones(len(inst.shapes))
    lam = PatternBound(inst, g, bounds[g]).lam
    suggested = relaxed_patterns(inst, g, value, bounds[g], lam)
    empty = PatternPool.empty(len(inst.groups), len(inst.shapes))
    offered = colgen._new_columns(empty, g, suggested, value, -1.0)  # all look improving
    assert offered
    known = colgen._add_all(empty, offered)
    assert all(known.holds(g, colgen._counts(parts)) for _, parts in offered)
    assert colgen._new_columns(known, g, suggested, value, -1.0) == []


def test_the_relaxation_suggests_the_best_pattern_where_single_shape_rankings_miss_it():
    """Four GPUs and 64 CPUs. Two 0.6 and two 0.4 GPU shares pair up on a GPU (worth 11),
    two whole-GPU replicas take 28 CPUs each (worth 10): the best node runs both pairs and
    both whole replicas, 42, with every CPU taken. Ranking single shapes by worth per
    share of the node puts the 0.4 shares together first and never reaches it."""
    domain = build_domain(
        Inventory.model_validate(
            inventory(
                [node("n1", gpus=4, cpus=64, ram_gib=1024)],
                [
                    workload("whole", replicas=2, cpus=28),
                    _share("big", 0.6),
                    _share("small", 0.4),
                    _share("odd", 0.7, replicas=1),
                ],
            )
        ),
        name="pairs",
    )
    inst = reduce(domain)
    worth = {"whole": 10.0, "big": 6.0, "small": 5.0, "odd": 6.5}
    value = np.zeros(len(inst.shapes))
    for w, wid in enumerate(domain.demand.ids):
        value[inst.shapes.of_workload[w]] = worth[str(wid)]
    ub = shape_bounds(inst)[0]
    pricing = pricing_problem(inst, 0, value, ub)
    exact = registry.get("highs").solve(pricing.problem, SolveOptions())
    assert -exact.objective == pytest.approx(42.0)
    upper = PatternBound(inst, 0, ub)
    assert upper.bound(value) >= 42.0 - 1e-9
    suggested = [
        _worth(inst, value, parts) for parts in relaxed_patterns(inst, 0, value, ub, upper.lam)
    ]
    assert max(suggested) == pytest.approx(42.0)
    assert max(suggested) <= -exact.objective + 1e-9  # each suggestion fits the node


def _share(id: str, fraction: float, replicas: int = 2) -> dict:
    entry = workload(id, replicas=replicas, cpus=2)
    entry["resources"] = {"gpu_fraction": fraction, "cpus": 2, "ram_gib": 8}
    return entry
