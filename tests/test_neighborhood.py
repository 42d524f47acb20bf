"""The search over node groups: re-solving a few groups at a time from a start reaches the
whole MIP's proven optimum over the same pool, every neighbourhood of a size is tried once
per cycle, the nodes a neighbourhood releases follow what its MIP solves in time, and a
plan whose pool column generation grew is searched and passes the checker."""

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
from allocator.solve import neighborhood, strategy
from allocator.solve.deadline import Deadline
from allocator.solve.neighborhood import SearchResult, _held, _neighbourhoods, search_groups
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


@pytest.mark.parametrize("first_size", [2, 4])
@pytest.mark.parametrize("seed", [0, 2])
def test_neighbourhoods_of_the_first_size_reach_the_whole_mips_proven_optimum(
    seed, first_size, monkeypatch
):
    # A generated fleet of 60 nodes in 6 or 7 groups, with gangs, spread and shared GPUs:
    # the greedy start leaves more unplaced than the optimum over its pool.
    monkeypatch.setattr(neighborhood, "FIRST_SIZE", first_size)
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
    assert found.size == first_size and found.improved >= 1  # the first size was enough
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


def test_a_neighbourhood_releases_a_share_of_the_nodes_in_use_of_its_groups_only():
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1, 2, 3], [5, 3, 4, 2])
    # nodes in use: 11, 10, 7 and none; a share of a node more is released as a whole node
    counts = np.array([3, 0, 4, 2, 2, 6, 1, 3, 2, 2, 0, 3, 0, 0], dtype=float)
    in_use = np.bincount(group, weights=counts).astype(int)
    assert in_use.tolist() == [11, 10, 7, 0]
    for share in (0.01, 0.25, 0.6, 1.0):
        for _ in range(20):
            held = _held(counts, group, np.array([1, 2, 3]), share, rng)
            assert held.dtype == float and (held >= 0).all() and (held <= counts).all()
            released = np.bincount(group, weights=counts - held).astype(int)
            assert released[0] == 0  # a group not freed keeps every count
            for g in (1, 2):
                assert released[g] == math.ceil(share * in_use[g])
            assert released[3] == 0
    assert (_held(counts, group, np.array([0, 2]), 1.0, rng)[np.isin(group, [0, 2])] == 0).all()
    # nodes are drawn alike from all patterns of a group, not the first ones first
    drawn = sum(counts - _held(counts, group, np.array([0]), 0.2, rng) for _ in range(400))
    assert (drawn[(group == 0) & (counts > 0)] > 0).all()


def test_the_released_share_shrinks_after_a_time_out_and_grows_after_nothing_better(
    monkeypatch,
):
    form, problem, start, _ = _unplaced_level(
        build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    )
    shares = []
    held = neighborhood._held
    monkeypatch.setattr(neighborhood, "_held", lambda *args: shares.append(args[3]) or held(*args))

    class Scripted:
        """Runs out of time on the first two neighbourhoods, then proves each holds
        nothing better than the incumbent."""

        name = "scripted"

        def solve(self, problem, options):
            if len(shares) <= 2:
                return Solution(Status.TIME_LIMIT, self.name)
            return Solution(Status.OPTIMAL, self.name, x=options.warm_start)

    found = search_groups(
        problem, form, start, Scripted(), SolveOptions(seed=0), Deadline.after(60)
    )
    first = neighborhood.FIRST_SHARE
    expected = [first, first / 1.5, first / 1.5**2]
    while expected[-1] < 1:
        expected.append(min(expected[-1] * 1.25, 1.0))
    assert shares[: len(expected)] == pytest.approx(expected)
    # whole groups then, until no neighbourhood of all groups but one holds anything better
    assert set(shares[len(expected) :]) == {1.0}
    n_groups = len(np.unique(form.pool.group))
    assert found.size == n_groups - 1 and found.improved == 0
    assert (found.x == start).all()


def test_a_plan_over_generated_patterns_is_searched_and_passes_the_checker(monkeypatch):
    # Seven groups; the rounded LP start settles the unplaced level, and costs 2,242.06 $/h
    # against the optimum's 2,201.09.
    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    every = solve_domain(domain, InventoryRef(name="every pattern"), "highs")
    assert every.result.levels[1].status == Status.OPTIMAL
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: enumerate_pool(inst, limit=1))
    outcome = solve_domain(
        domain, InventoryRef(name="generated"), "highs", SolveOptions(time_limit=20)
    )
    assert outcome.violations == []
    assert any(
        note.startswith("cost_per_hour: the search over node groups improved the plan in")
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
    assert [level.value for level in outcome.result.levels] == pytest.approx(
        [level.value for level in every.result.levels]
    )
    found = f"found {every.result.levels[2].value:,.6g}"
    assert any(
        note.startswith("cost_per_hour: ")
        and "the whole MIP beside it, given" in note
        and note.endswith(found)
        for note in outcome.result.notes
    )


def test_a_second_search_takes_the_core_of_a_whole_mip_that_ends_unproven(monkeypatch):
    # The whole MIP gives up at once; the search on the planner's thread finds nothing;
    # the second search, started on the MIP's thread with the next seed, finds the optimum.
    seeds = []

    def second_only(problem, form, start, backend, options, *rest):
        seeds.append(options.seed)
        if options.seed == 0:
            return SearchResult(start, float(problem.cost @ start + problem.offset), 0, 0, 4, "")
        return search_groups(problem, form, start, backend, options, *rest)

    class GivesUp(type(registry.get("highs"))):
        def solve(self, problem, options):
            if options.stop_when is None:
                return super().solve(problem, options)
            return Solution(Status.TIME_LIMIT, "highs")

    monkeypatch.setattr(strategy, "search_groups", second_only)
    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    form, problem, start, run = _unplaced_level(domain, GivesUp(), 60)
    optimum = registry.get("highs").solve(problem, SolveOptions(time_limit=60)).objective
    assert problem.cost @ start + problem.offset > optimum + 1
    solution = run._search(problem, form, start, lp_bound=optimum)
    assert sorted(seeds) == [0, 1]
    assert solution.objective == pytest.approx(optimum)
    assert problem.violations(solution.x) == []
    assert "2 searches" in run.notes[-1] and "found nothing (time_limit)" in run.notes[-1]


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
