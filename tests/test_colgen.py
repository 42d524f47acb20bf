"""Column generation: from a pool that lacks most patterns it reaches the LP over all of
them, and it ends cleanly when time runs out inside an LP."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from allocator.bench.datasets import find_dataset
from allocator.domain.build import build_domain
from allocator.interop.openb import load_trace
from allocator.interop.openb.importer import openb_inventory
from allocator.model import colgen
from allocator.model.patterns import enumerate_pool
from allocator.solve import strategy
from allocator.solve.deadline import Deadline
from solvers import registry
from solvers.base import Capability, Solution, Status


def test_generated_patterns_reach_the_lp_over_every_pattern(openb_domain, monkeypatch):
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    seen = []

    def one_pattern_per_group(inst):
        pool = enumerate_pool(inst, limit=1)
        seen.append(int((~pool.complete).sum()))
        return pool

    monkeypatch.setattr(strategy, "enumerate_pool", one_pattern_per_group)
    generated = strategy.level_bound(openb_domain, "unplaced_priority")
    assert seen[0] > 0  # groups left to column generation
    assert generated == pytest.approx(every, rel=1e-6)


def test_on_a_published_trace_patterns_taken_at_a_mix_of_duals_reach_the_lp_optimum(monkeypatch):
    data = find_dataset("openb")
    if data is None:
        pytest.skip("the openb traces are not here")
    trace = load_trace(data, "gpuspec20")
    domain = build_domain(openb_inventory(trace, seed=42, arrived=1.0, name="x").inventory)
    mixed = []
    mix = colgen._mixed

    def watched(center, duals, alpha):
        mixed.append(alpha)
        return mix(center, duals, alpha)

    monkeypatch.setattr(colgen, "_mixed", watched)
    bound = strategy.level_bound(domain, "unplaced_priority")
    assert mixed  # rounds that did not raise the bound took patterns at a mix too
    # The LP over every pattern of this fleet (generation run to its end, with and without
    # the mix); generation stops within colgen._GAP of it.
    assert 192_442.5 * (1 - colgen._GAP) <= bound <= 192_442.5 + 1e-6


def _bound_with_highs_intercepted(domain, monkeypatch, intercept):
    """The pattern-LP bound from one pattern per group, each HiGHS call offered first to
    `intercept(problem, options)`: its Solution stands, None solves as usual."""
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    backend = type(registry.get("highs"))
    solve = backend.solve

    def intercepted(self, problem, options):
        return intercept(problem, options) or solve(self, problem, options)

    monkeypatch.setattr(backend, "solve", intercepted)
    return strategy.level_bound(domain, "unplaced_priority")


@pytest.mark.parametrize(
    "stopped_with_a_point", (False, True), ids=("no point", "a feasible point, no duals")
)
def test_time_running_out_inside_an_lp_ends_generation_with_a_valid_bound(
    openb_domain, monkeypatch, stopped_with_a_point
):
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    calls = []

    def lp_out_of_time_on_round_three(problem, options):
        if not problem.is_mip:
            calls.append(1)
            if len(calls) == 3 and stopped_with_a_point:  # a simplex stopped at the deadline
                monkeypatch.setattr(Deadline, "passed", lambda self: True)
                return Solution(Status.FEASIBLE, "highs", x=np.zeros(problem.n_cols))
            if len(calls) == 3:
                return Solution(Status.TIME_LIMIT, "highs")
        return None

    bound = _bound_with_highs_intercepted(openb_domain, monkeypatch, lp_out_of_time_on_round_three)
    assert len(calls) == 3
    assert bound is None or bound <= every + 1e-6


def test_an_lp_stopped_short_from_the_basis_with_time_left_is_solved_again_from_scratch(
    openb_domain, monkeypatch
):
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    stopped = []

    def short_from_the_basis(problem, options):
        if not problem.is_mip and options.basis is not None and len(stopped) < 2:
            stopped.append(1)
            return Solution(Status.FEASIBLE, "highs", x=np.zeros(problem.n_cols))  # no duals
        return None

    bound = _bound_with_highs_intercepted(openb_domain, monkeypatch, short_from_the_basis)
    assert len(stopped) == 2
    assert bound == pytest.approx(every)


def test_each_round_starts_from_the_last_rounds_basis_and_reaches_the_bound_of_cold_starts(
    openb_domain, monkeypatch
):
    highs = registry.get("highs")
    solve_cold = type(highs).solve
    sizes = []

    def watched(problem, options):
        if not problem.is_mip:
            sizes.append(None if options.basis is None else len(options.basis.cols))
            assert options.basis is None or len(options.basis.cols) == problem.n_cols
        return None

    warm = _bound_with_highs_intercepted(openb_domain, monkeypatch, watched)
    assert len(sizes) >= 3 and sizes[0] is None
    assert all(size is not None for size in sizes[1:])
    assert sizes[-1] > sizes[1]  # the basis grew with the pool

    def cold(problem, options):
        if problem.is_mip or options.basis is None:
            return None
        return solve_cold(highs, problem, replace(options, basis=None))

    assert warm == pytest.approx(_bound_with_highs_intercepted(openb_domain, monkeypatch, cold))


def test_generation_takes_any_backend_that_reports_duals(openb_domain, monkeypatch):
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    highs = type(registry.get("highs"))
    used = []

    class OtherLp(highs):  # another name, ranked first: chosen for what it can do
        name = "other-lp"
        rank = -1

        def solve(self, problem, options):
            used.append(problem.is_mip)
            return super().solve(problem, options)

    registry.backends()
    monkeypatch.setitem(registry._BACKENDS, OtherLp.name, OtherLp)
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    assert strategy.level_bound(openb_domain, "unplaced_priority") == pytest.approx(every)
    assert False in used  # the master LPs went to it


def test_a_backend_without_duals_hands_generation_to_one_with_them():
    cbc = registry.get("cbc")
    assert Capability.DUALS not in cbc.capabilities
    chosen = registry.first_with({Capability.LP, Capability.DUALS}, prefer=cbc)
    assert chosen is not None and Capability.DUALS in chosen.capabilities
    assert registry.first_with({Capability.MIP}, prefer=cbc) is cbc
