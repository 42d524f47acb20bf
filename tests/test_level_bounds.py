"""A level's bound from its columns' bounds alone: free to compute, and where nothing the
level counts can change (the $/h of a fleet without prices), the proof that ends it."""

from __future__ import annotations

import numpy as np

from allocator.model.formulation import Level
from allocator.solve import strategy
from solvers.base import SolveOptions, Status


def test_the_least_value_within_column_bounds_takes_each_column_at_its_cheaper_end():
    level = Level("cost", np.array([2.0, -1.0, 0.0]), offset=10.0, integral=False)
    lo, hi = np.array([1.0, 0.0, -np.inf]), np.array([5.0, 3.0, np.inf])
    assert level.least(lo, hi) == 10.0 + 2.0 * 1.0 - 1.0 * 3.0  # the free column costs 0
    assert level.least(np.array([-np.inf, 0.0, 0.0]), hi) is None  # cheaper without end


def test_a_level_no_plan_can_change_ends_at_once_without_column_generation(
    openb_domain, monkeypatch
):
    generated = []

    def counted(*args, **kwargs):
        generated.append(1)
        return generate(*args, **kwargs)

    generate = strategy.generate_columns
    monkeypatch.setattr(strategy, "generate_columns", counted)
    original = strategy.enumerate_pool
    monkeypatch.setattr(strategy, "enumerate_pool", lambda inst: original(inst, limit=1))
    result = strategy.plan(openb_domain, "highs", SolveOptions(time_limit=20, seed=1))
    cost = next(o for o in result.levels if o.name == "cost_per_hour")
    assert (cost.value, cost.bound, cost.status) == (0.0, 0.0, Status.OPTIMAL)
    assert cost.how == "warm start meets bound"
    assert len(generated) == 1  # for unplaced_priority only
