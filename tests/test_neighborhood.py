"""The search over node groups: re-solving a few groups at a time from a start reaches the
whole MIP's proven optimum over the same pool, a neighbourhood frees whole groups and then
part of one within its budget, and a plan whose pool column generation grew is searched
and passes the checker."""

from __future__ import annotations

import threading
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
from allocator.solve.neighborhood import (
    LEAST_PATTERNS,
    SHRINK,
    SearchResult,
    _trading,
    free_patterns,
    search_groups,
)
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
def test_a_few_node_groups_at_a_time_reach_the_whole_mips_proven_optimum(seed):
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
    assert found.improved >= 1
    assert found.most_free < len(form.pool.group)  # never the whole pool
    assert problem.violations(found.x) == []
    assert found.objective == pytest.approx(problem.cost @ found.x + problem.offset)


def test_a_neighbourhood_frees_whole_groups_then_part_of_one_within_its_budget():
    form, _, start, _ = _unplaced_level(build_domain(Inventory.model_validate(mixed_fleet(60, 2))))
    group = form.pool.group
    sizes = np.bincount(group)  # 71 71 26 25 24 24 24 patterns
    counts = start[form.patterns.slice]
    trading = _trading(form)
    rng = np.random.default_rng(0)
    for budget in (10, 60, 100, 200):
        for _ in range(20):
            free = free_patterns(form, counts, budget, trading, rng)
            freed = np.bincount(group[free], minlength=len(sizes))
            partial = np.flatnonzero((freed > 0) & (freed < sizes))
            assert len(partial) <= 1  # every group drawn is freed whole but the last
            used = (counts > 0.5) & np.isin(group, partial)
            assert free[used].all()  # the part keeps the patterns the incumbent runs
            whole = freed[(freed > 0) & (freed == sizes)].sum()
            if len(partial):  # the budget is spent, unless the part's own patterns need more
                assert free.sum() == max(budget, whole + used.sum())
            else:
                assert free.sum() <= budget
    assert free_patterns(form, counts, len(group), trading, rng).all()


def test_groups_that_share_workloads_are_drawn_together():
    form, _, start, _ = _unplaced_level(build_domain(Inventory.model_validate(mixed_fleet(60, 2))))
    trading = _trading(form)
    # Workloads each pair of groups shares: on the diagonal, those each group runs.
    assert (trading == trading.T).all()
    assert (np.diag(trading) >= trading).all() and trading[0, 1] == 15
    group = form.pool.group
    counts = start[form.patterns.slice]
    sizes = np.bincount(group)  # 71 71 26 25 24 24 24 patterns

    def freed_with_group_2(table):
        """How often each group is freed beside group 2 (26 patterns, then another)."""
        rng = np.random.default_rng(1)
        seen = np.zeros(len(sizes))
        for _ in range(400):
            free = free_patterns(form, counts, 30, table, rng)
            freed = np.bincount(group[free], minlength=len(sizes)) > 0
            if freed[2]:
                seen += freed
        return np.delete(seen, 2) / seen[2]

    apart = np.diag(np.diag(trading))  # no workload shared: every next group as likely
    assert freed_with_group_2(apart).max() < 0.35
    partner = apart.copy()
    partner[2, 5] = partner[5, 2] = 50  # 50 workloads run on groups 2 and 5 alone
    together = freed_with_group_2(partner)
    assert together[4] > 0.7 and np.delete(together, 4).max() < 0.2


class _Recording:
    """A backend that returns `status` (with the warm start as its solution, where it
    has one) at once, and records how many patterns each call left free."""

    name = "recording"

    def __init__(self, form, status):
        self.form, self.status, self.free = form, status, []

    def solve(self, problem, options):
        patterns = self.form.patterns.slice
        self.free.append(int((problem.col_lo[patterns] < problem.col_hi[patterns]).sum()))
        x = options.warm_start if self.status.has_solution else None
        return Solution(self.status, self.name, x=x)


def test_the_budget_shrinks_after_a_limit_and_grows_to_the_whole_pool_after_quick_proofs():
    form, problem, start, _ = _unplaced_level(
        build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    )
    n_patterns = len(form.pool.group)  # 265: the first budget is half of it
    stopped = _Recording(form, Status.TIME_LIMIT)
    search_groups(problem, form, start, stopped, SolveOptions(), Deadline.after(2.4))
    # Shrinking by SHRINK (0.7) to LEAST_PATTERNS (50); each neighbourhood frees whole
    # groups and then part of one up to its budget (more where the part's own used patterns
    # need more).
    assert (SHRINK, LEAST_PATTERNS) == (0.7, 50)
    assert stopped.free[:3] == [132, 92, 64]
    assert min(stopped.free) == 50 and max(stopped.free[3:]) < 64
    proven = _Recording(form, Status.OPTIMAL)
    found = search_groups(problem, form, start, proven, SolveOptions(), Deadline.after(60))
    # Growing by GROW until one neighbourhood frees the whole pool, whose proof ends it.
    assert proven.free[-1] == n_patterns and proven.free[-2] < n_patterns
    assert len(proven.free) == found.tried == 4  # 132, 171, 222, then all 265
    assert found.improved == 0 and found.objective == problem.cost @ start + problem.offset


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


def test_a_whole_mip_that_finds_nothing_gives_way_to_a_second_search(monkeypatch):
    calls = []

    class IdleWholeMip(type(registry.get("highs"))):
        """Solves the neighbourhoods slowly (0.2 s each, so that the first search is still
        going when the whole MIP gives way); the whole MIP (the call given a `stop_when`)
        finds nothing and waits to be stopped, for 30 s at most."""

        def solve(self, problem, options):
            if options.stop_when is None:
                calls.append(threading.current_thread().name)
                time.sleep(0.2)
                return super().solve(problem, options)
            given_up = time.perf_counter() + 30
            while not options.stop_when() and time.perf_counter() < given_up:
                time.sleep(0.01)
            calls.append(f"whole MIP stopped after {time.perf_counter() - started:.1f} s")
            return Solution(Status.TIME_LIMIT, "highs")

    monkeypatch.setattr(strategy, "STALE_S", 0.5)
    domain = build_domain(Inventory.model_validate(mixed_fleet(60, 2)))
    form, problem, start, run = _unplaced_level(domain, IdleWholeMip(), 8)
    optimum = registry.get("highs").solve(problem, SolveOptions(time_limit=60)).objective
    started = time.perf_counter()
    solution = run._search(problem, form, start, lp_bound=None)
    assert solution.objective == pytest.approx(optimum)
    assert problem.violations(solution.x) == []
    stopped = [call for call in calls if call.startswith("whole MIP stopped")]
    assert len(stopped) == 1 and float(stopped[0].split()[-2]) < 2  # not at the deadline
    assert "whole MIP" in calls  # the neighbourhoods of the second search, on its thread
    assert "then gave way to a second search, which improved the plan in" in run.notes[-1]


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
