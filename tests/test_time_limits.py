"""The time limit holds: each objective level gets the time left, and a HiGHS call that
does not stop at its limit (its presolve never looks at the clock) is left behind a short
grace later, so that a plan comes back on time whatever the solver does."""

from __future__ import annotations

import time
from typing import ClassVar

import highspy
import numpy as np
from conftest import INSTANCES
from test_greedy_scale import mixed_fleet

import allocator.solve.strategy as strategy
from allocator.domain.build import build_domain
from allocator.heuristics.greedy import greedy_placement
from allocator.inventory.schema import Inventory
from allocator.model.decode import patterns_of_placement
from allocator.model.patterns import enumerate_pool
from allocator.model.problem import ProblemBuilder
from allocator.model.reduce import reduce
from allocator.solve.deadline import Deadline
from allocator.solve.pipeline import load_domain
from solvers import registry
from solvers.base import Capability, Solution, SolveOptions, Status
from solvers.highs import STOP_GRACE_S, HighsSolver


def _knapsack():
    """A three-row multidimensional knapsack over 40 binaries."""
    b = ProblemBuilder(name="knapsack")
    rng = np.random.default_rng(0)
    n = 40
    x = b.add_columns("x", n, lo=0.0, hi=1.0, cost=-rng.integers(10, 100, n).astype(float))
    cap = b.add_rows("cap", 3, hi=400.0)
    rows, cols = np.divmod(np.arange(3 * n), n)
    b.add_entries(cap, rows, x, cols, rng.integers(5, 50, 3 * n).astype(float))
    return b.build()


def test_a_highs_call_that_ignores_its_limit_is_left_behind(monkeypatch):
    # HiGHS's run replaced by one that never looks at the clock nor at its callbacks.
    monkeypatch.setattr(highspy.Highs, "run", lambda self: time.sleep(STOP_GRACE_S + 3))
    started = time.perf_counter()
    solution = HighsSolver().solve(_knapsack(), SolveOptions(time_limit=0.2))
    took = time.perf_counter() - started
    assert solution.status == Status.TIME_LIMIT
    assert solution.x is None
    assert took < 0.2 + STOP_GRACE_S + 1.0  # left behind, not waited for
    assert "left behind" in solution.log_tail


def test_a_short_grace_leaves_a_highs_call_behind_sooner(monkeypatch):
    monkeypatch.setattr(highspy.Highs, "run", lambda self: time.sleep(STOP_GRACE_S + 3))
    started = time.perf_counter()
    solution = HighsSolver().solve(_knapsack(), SolveOptions(time_limit=0.2, grace_s=0.1))
    took = time.perf_counter() - started
    assert solution.status == Status.TIME_LIMIT
    assert took < 0.2 + STOP_GRACE_S / 2  # left behind after its own grace
    assert "still running 0.1 s after the time limit: left behind" in solution.log_tail


def test_highs_stops_at_a_tiny_limit():
    solution = HighsSolver().solve(_knapsack(), SolveOptions(time_limit=0.01))
    assert solution.wall_s < 0.01 + STOP_GRACE_S + 1.0
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT)


class _Slow:
    """A MIP backend that uses all the time it is given (and says so), for the levels."""

    name: ClassVar[str] = "slow"
    rank: ClassVar[int] = 99
    package: ClassVar[str] = "highspy"
    install_hint: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.MIP})

    def __init__(self, deadline_at):
        self.deadline_at = deadline_at
        self.calls: list[tuple[float, float]] = []  # (time limit given, time left then)

    def available(self) -> bool:
        return True

    def solve(self, problem, options):
        left = self.deadline_at() - time.perf_counter()
        self.calls.append((options.time_limit, left))
        time.sleep(options.time_limit)
        return Solution(Status.TIME_LIMIT, self.name, wall_s=options.time_limit)


def test_each_level_gets_only_the_time_left(monkeypatch):
    domain = load_domain(INSTANCES / "small.yaml")
    limit = 1.0
    started = time.perf_counter()
    slow = _Slow(lambda: started + limit)
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: slow if name == "slow" else real_get(name))
    result = strategy.plan(domain, "slow", SolveOptions(time_limit=limit))
    took = time.perf_counter() - started
    assert slow.calls, "no level reached the MIP"
    for given, left in slow.calls:
        assert given <= max(left, 0.01) + 1e-3
    assert sum(given for given, _ in slow.calls) <= limit + 0.05
    assert took < limit + 5.0  # decoding and levels after the deadline are quick
    reached = [o.how for o in result.levels]
    assert all(
        how in ("warm start meets bound", "warm start kept", "no time left") for how in reached
    )


def test_a_level_with_under_half_a_second_left_solves_nothing():
    # 582 required replicas unplaced by the greedy start, a pool left to column
    # generation: with 0.3 s left, neither generation, rounding nor a MIP starts.
    inst = reduce(build_domain(Inventory.model_validate(mixed_fleet(60, 2))))
    start = greedy_placement(inst, "first_fit")
    pool = enumerate_pool(inst, limit=1).with_patterns(*patterns_of_placement(inst, start))
    run = strategy._LevelRun(
        inst, registry.get("highs"), SolveOptions(time_limit=0.3), Deadline.after(0.3)
    )
    started = time.perf_counter()
    run.solve_level(0, pool, start)
    assert time.perf_counter() - started < 0.3
    assert run.outcomes[0].name == "hard_shortfall" and run.outcomes[0].value > 0
    assert run.outcomes[0].how == "no time left"
