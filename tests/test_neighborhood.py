"""The search over node groups: re-solving a few groups at a time from a start reaches the
whole MIP's proven optimum over the same pool, every neighbourhood of a size is tried once
per cycle, and a plan whose pool column generation grew is searched and passes the
checker."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from test_greedy_scale import mixed_fleet

from allocator.domain.build import build_domain
from allocator.evaluate.levels import level_names, level_values
from allocator.heuristics.greedy import greedy_placement
from allocator.inventory.schema import Inventory
from allocator.model.decode import columns_from_placement, patterns_of_placement
from allocator.model.patterns import enumerate_pool
from allocator.model.reduce import reduce
from allocator.output.plan import InventoryRef
from allocator.solve import strategy
from allocator.solve.deadline import Deadline
from allocator.solve.neighborhood import SearchResult, _neighbourhoods, search_groups
from allocator.solve.pipeline import solve_domain
from solvers import registry
from solvers.base import Solution, SolveOptions, Status


def _unplaced_level(domain, backend=None, seconds=None):
    """The unplaced-priority level's model over every pattern (and the greedy start's),
    the earlier levels held at the greedy start's values, and that start's columns; and
    the level run that built it (`backend`, with a limit of `seconds`)."""
    inst = reduce(domain)
    start = greedy_placement(inst, "first_fit")
    pool = enumerate_pool(inst).with_patterns(*patterns_of_placement(inst, start))
    names = level_names(domain)
    k = names.index("unplaced_priority")
    run = strategy._LevelRun(
        inst,
        backend or registry.get("highs"),
        SolveOptions(time_limit=seconds),
        Deadline.after(seconds),
    )
    run.kept = [(name, level_values(inst, start)[i]) for i, name in enumerate(names[:k])]
    run.outcomes = [None] * k  # the levels before, as the run would have them
    form, problem = run.level_problem(pool, k)
    return form, problem, columns_from_placement(form, start), run


@pytest.mark.parametrize("seed", [0, 2])
def test_pairs_of_node_groups_reach_the_whole_mips_proven_optimum(seed):
    # A generated fleet of 60 nodes in 6 or 7 groups, with gangs, spread and shared GPUs:
    # the greedy start leaves more unplaced than the optimum over its pool.
    form, problem, start, _ = _unplaced_level(
        build_domain(Inventory.model_validate(mixed_fleet(60, seed)))
    )
    highs = registry.get("highs")
    whole = highs.solve(problem, SolveOptions(time_limit=60))
    assert whole.status == Status.OPTIMAL
    assert problem.cost @ start + problem.offset > whole.objective + 1
    found = search_groups(
        problem,
        form,
        start,
        highs,
        SolveOptions(seed=0),
        Deadline.after(60),
        done=lambda value: value <= whole.objective + 1e-6,
    )
    assert found.objective == pytest.approx(whole.objective)
    assert found.size == 2 and found.improved >= 1  # pairs of groups were enough
    assert problem.violations(found.x) == []
    assert found.objective == pytest.approx(problem.cost @ found.x + problem.offset)


def test_each_cycle_frees_every_set_of_groups_once():
    form, _, _, _ = _unplaced_level(build_domain(Inventory.model_validate(mixed_fleet(60, 2))))
    groups = np.unique(form.pool.group)
    for size in (2, 3):
        count = math.comb(len(groups), size)
        drawn = _neighbourhoods(form, groups, size, np.random.default_rng(0))
        for _ in range(2):
            cycle = {tuple(sorted(next(drawn).tolist())) for _ in range(count)}
            assert len(cycle) == count
            assert all(len(set(free)) == size for free in cycle)


def test_a_plan_over_generated_patterns_is_searched_and_passes_the_checker(monkeypatch):
    # Seven groups; the rounded LP start of the unplaced level is 11 short of the optimum.
    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    every = solve_domain(domain, InventoryRef(name="every pattern"), "highs")
    assert every.result.levels[1].status == Status.OPTIMAL
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    outcome = solve_domain(
        domain, InventoryRef(name="generated"), "highs", SolveOptions(time_limit=20)
    )
    assert outcome.violations == []
    assert any(
        note.startswith("unplaced_priority: the search over node groups improved the plan in")
        for note in outcome.result.notes
    )
    assert [level.value for level in outcome.result.levels] == pytest.approx(
        [level.value for level in every.result.levels]
    )


def test_a_search_that_reaches_the_bound_stops_the_whole_mip_beside_it():
    waited = []

    class SlowWholeMip(type(registry.get("highs"))):
        """Solves the neighbourhoods; the whole MIP (the call given a `stop_when`) only
        waits to be stopped, for 30 s at most."""

        def solve(self, problem, options):
            if options.stop_when is None:
                return super().solve(problem, options)
            given_up = time.perf_counter() + 30
            while not options.stop_when() and time.perf_counter() < given_up:
                time.sleep(0.01)
            waited.append(options.stop_when())
            return Solution(Status.TIME_LIMIT, "highs")

    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    form, problem, start, run = _unplaced_level(domain, SlowWholeMip(), 60)
    optimum = registry.get("highs").solve(problem, SolveOptions(time_limit=60)).objective
    solution = run._search(problem, form, start, lp_bound=optimum)
    assert waited == [True]  # stopped by the search, not by its 30 s
    assert solution.objective == pytest.approx(optimum)
    assert problem.violations(solution.x) == []


def test_the_plan_takes_the_whole_mips_plan_where_no_few_groups_improve(monkeypatch):
    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    every = solve_domain(domain, InventoryRef(name="every pattern"), "highs")
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))

    def finds_nothing(problem, form, start, *rest):
        return SearchResult(start, float(problem.cost @ start + problem.offset), 0, 0, 2, "")

    monkeypatch.setattr(strategy, "search_groups", finds_nothing)
    outcome = solve_domain(domain, InventoryRef(name="mip"), "highs", SolveOptions(time_limit=20))
    assert outcome.violations == []
    assert outcome.result.levels[1].value == every.result.levels[1].value
    found = f"the whole MIP beside it found {every.result.levels[1].value:,.6g}"
    assert any(found in note for note in outcome.result.notes)


def test_the_search_goes_on_from_a_better_solution_another_search_shares():
    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    form, problem, start, _ = _unplaced_level(domain)
    whole = registry.get("highs").solve(problem, SolveOptions(time_limit=60))
    optimum = float(problem.cost @ whole.x + problem.offset)
    found = search_groups(
        problem,
        form,
        start,
        registry.get("highs"),
        SolveOptions(seed=0),
        Deadline.after(60),
        done=lambda value: value <= optimum + 1e-6,
        shared=lambda: (np.round(whole.x), optimum),
    )
    assert found.adopted == 1 and found.tried == 1  # taken over before any neighbourhood
    assert found.objective == pytest.approx(optimum)
    assert problem.violations(found.x) == []
