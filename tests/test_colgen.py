"""Column generation: from a pool that lacks most patterns it reaches the LP over all of
them, and it ends cleanly when time runs out inside an LP."""

from __future__ import annotations

import pytest

from allocator.model.patterns import enumerate_pool
from allocator.solve import strategy
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


def test_time_running_out_inside_an_lp_ends_generation_with_a_valid_bound(
    openb_domain, monkeypatch
):
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    backend = type(registry.get("highs"))
    solve = backend.solve
    calls = []

    def lp_out_of_time_on_round_three(self, problem, options):
        if not problem.is_mip:
            calls.append(1)
            if len(calls) == 3:
                return Solution(Status.TIME_LIMIT, "highs")
        return solve(self, problem, options)

    monkeypatch.setattr(backend, "solve", lp_out_of_time_on_round_three)
    bound = strategy.level_bound(openb_domain, "unplaced_priority")
    assert len(calls) == 3
    assert bound is None or bound <= every + 1e-6


def test_an_interior_point_that_ends_without_duals_hands_its_lp_to_the_simplex(
    openb_domain, monkeypatch
):
    every = strategy.level_bound(openb_domain, "unplaced_priority")
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    backend = type(registry.get("highs"))
    solve = backend.solve
    central = []

    def imprecise_interior_point(self, problem, options):
        if options.central_duals:
            central.append(1)
            return Solution(Status.FEASIBLE, "highs")  # no duals, time left
        return solve(self, problem, options)

    monkeypatch.setattr(backend, "solve", imprecise_interior_point)
    assert strategy.level_bound(openb_domain, "unplaced_priority") == pytest.approx(every)
    assert central  # every round asked for central duals first


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
