"""The compiled annealing kernel and the searches that share their best, checked against
the challenge's own evaluation: every plan they hold is valid and costs what they say."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from test_reassign import feasible_instances
from test_roadef import example, reference_evaluation

pytest.importorskip("numba")

from allocator.interop.roadef import evaluate, read_assignment, read_model
from allocator.interop.roadef.convert import to_reassignment
from allocator.reassign import cooperate, strategy
from allocator.reassign.costs import costs, violations
from allocator.reassign.kernel import Annealer
from allocator.reassign.model import Reassignment
from allocator.reassign.moves import shift_prices
from allocator.reassign.state import State

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "roadef2012"
A1_1_OPTIMUM = 44_306_501


def test_every_step_keeps_the_plan_valid_and_its_cost_exact():
    """Hot enough that nearly every step the rules allow is taken: a rule the kernel
    checked wrongly would show as an infeasible plan, a price as a drifted cost."""
    taken = checked = 0
    for k, (inst, initial) in enumerate(feasible_instances(300, seed=29)):
        if inst.num_machines < 2:
            continue
        model = to_reassignment(inst, initial)
        annealer = Annealer(model, initial, seed=k)
        start = annealer.cost
        for swap_share in (0.0, 0.5, 1.0) * 4:
            taken += annealer.run(100, temperature=1e6, swap_share=swap_share)
            total, feasible = reference_evaluation(inst, initial, annealer.s[0].copy())
            assert feasible
            assert total == annealer.cost
        best = annealer.best()
        total, feasible = reference_evaluation(inst, initial, best)
        assert feasible
        assert total == annealer.best_cost <= start
        checked += 1
    assert checked > 150
    assert taken > 10_000


def small_fleet(nodes: int, replicas: int, **fields) -> Reassignment:
    """Replica k of workload k on node k, needing 5 of one CPU dimension of 10 on each of
    `nodes` nodes, nothing that costs unless `fields` say so."""
    defaults = dict(
        resources=("cpu",),
        transient=np.zeros(1, dtype=bool),
        load_weight=np.ones(1, dtype=np.int64),
        capacity=np.full((nodes, 1), 10),
        soft_capacity=np.full((nodes, 1), 10),
        spread_domain=np.arange(nodes),
        dependency_domain=np.arange(nodes),
        node_move_cost=np.zeros((nodes, nodes), dtype=np.int64),
        min_domains=np.ones(replicas, dtype=np.int64),
        dependencies=np.zeros((0, 2), dtype=np.int64),
        workload=np.arange(replicas),
        need=np.full((replicas, 1), 5),
        current=np.arange(replicas),
        replica_move_cost=np.zeros(replicas, dtype=np.int64),
        workload_move_weight=0,
        balance_first=np.zeros(0, dtype=np.int64),
        balance_second=np.zeros(0, dtype=np.int64),
        balance_target=np.zeros(0, dtype=np.int64),
        balance_weight=np.zeros(0, dtype=np.int64),
    )
    return Reassignment(**{**defaults, **fields})


@pytest.mark.parametrize("ratio", [0.25, 1.0, 3.0])
def test_a_move_that_costs_is_taken_as_often_as_the_metropolis_rule_says(ratio):
    """One replica on two nodes: leaving home costs d, coming back saves it. At
    temperature T a step from home is taken with probability p = exp(-d / T), a step back
    always, so the chain is home a share 1 / (1 + p) of the time and takes a share
    2p / (1 + p) of its steps; at temperature 0 it never leaves."""
    d = 1000
    model = small_fleet(2, 1, replica_move_cost=np.array([d]))
    annealer = Annealer(model, model.current, seed=3)
    assert annealer.run(10_000, temperature=0.0, swap_share=0.0) == 0
    steps = 400_000
    p = math.exp(-ratio)
    taken = annealer.run(steps, temperature=d / ratio, swap_share=0.0)
    assert taken / steps == pytest.approx(2 * p / (1 + p), abs=0.005)


def test_a_dependency_holds_replicas_where_they_cost_more():
    """a depends on b, both in domain 0 where use costs; the free node is in domain 1.
    Neither may go there: a would leave b behind, b would strand a."""
    model = small_fleet(
        3,
        2,
        soft_capacity=np.array([[0], [0], [10]]),
        dependency_domain=np.array([0, 0, 1]),
        dependencies=np.array([[0, 1]]),
    )
    annealer = Annealer(model, model.current, seed=1)
    for swap_share in (0.0, 1.0, 0.5):
        annealer.run(2000, temperature=1e6, swap_share=swap_share)
        assert violations(model, annealer.s[0]) == []
        assert 2 not in annealer.s[0]
    assert annealer.cost == costs(model, annealer.s[0]).total == 10


@pytest.mark.parametrize("transient", [False, True])
def test_a_replica_back_home_holds_its_place_only_under_a_transient_capacity(transient):
    """Two replicas of 6 on nodes of 10: each may visit the free node 2 and the other's
    node. Under a transient capacity a replica away holds its place at home, so the other
    cannot join it there; without one it holds nothing, so a replica coming home to a node
    the other took must not fit."""
    model = small_fleet(
        3,
        2,
        transient=np.array([transient]),
        need=np.array([[6], [6]]),
        replica_move_cost=np.ones(2, dtype=np.int64),
    )
    annealer = Annealer(model, model.current, seed=2)
    taken, seen = 0, set()
    for k in range(300):
        taken += annealer.run(10, temperature=1e6, swap_share=(0.0, 0.5, 1.0)[k % 3])
        assert violations(model, annealer.s[0]) == []
        assert annealer.cost == costs(model, annealer.s[0]).total
        seen.add(tuple(annealer.s[0].tolist()))
    assert taken > 500
    # A replica on the other's node while the other is away: only where nothing is held.
    assert bool(seen & {(2, 0), (1, 0), (1, 2)}) is not transient
    # Trades alone: the two replicas change places only where neither holds its own.
    trader, traded = Annealer(model, model.current, seed=3), set()
    for _ in range(100):
        trader.run(1, temperature=1e6, swap_share=1.0)
        traded.add(tuple(trader.s[0].tolist()))
    assert traded == ({(0, 1)} if transient else {(0, 1), (1, 0)})


def test_a_cold_run_only_saves():
    inst, initial = example()
    model = to_reassignment(inst, initial)
    annealer = Annealer(model, initial, seed=3)
    costs_seen = []
    for _ in range(20):
        annealer.run(50, temperature=0.0, swap_share=0.5)
        costs_seen.append(annealer.cost)
    assert costs_seen == sorted(costs_seen, reverse=True)
    assert annealer.best_cost == costs_seen[-1] == evaluate(inst, initial, annealer.best()).total


def test_the_best_is_kept_across_a_full_log_of_moves(monkeypatch):
    """The best is the current plan with the moves since undone; a tiny log makes it be
    written out many times."""
    from allocator.reassign import kernel

    inst, initial = example()
    model = to_reassignment(inst, initial)
    annealer = Annealer(model, initial, seed=5)
    small = tuple(
        np.zeros(3, dtype=np.int64) if k in (9, 10) else a for k, a in enumerate(annealer.s)
    )
    annealer.s = small
    assert kernel.LOG_SIZE > 3
    for _ in range(50):
        annealer.run(20, temperature=1e4, swap_share=0.5)
    best = annealer.best()
    assert evaluate(inst, initial, best).total == annealer.best_cost
    assert evaluate(inst, initial, best).feasible


def test_a_polished_plan_is_valid_exact_and_no_single_move_saves():
    """From a hot run's plan, the polish ends where no replica saves by moving anywhere:
    every node of every replica priced by the vectorized search's own pricing."""
    checked = 0
    for k, (inst, initial) in enumerate(feasible_instances(120, seed=31)):
        if inst.num_machines < 2:
            continue
        model = to_reassignment(inst, initial)
        annealer = Annealer(model, initial, seed=k)
        annealer.run(300, temperature=1e6, swap_share=0.5)
        hot = annealer.cost
        annealer.restart(annealer.s[0].copy())  # the polish starts from the hot run's plan
        annealer.polish(time.perf_counter() + 10.0)
        polished = annealer.best()
        total, feasible = reference_evaluation(inst, initial, polished)
        assert feasible
        assert total == annealer.best_cost <= hot
        state = State(model, polished)
        for replica in range(model.num_replicas):
            delta, ok = shift_prices(state, replica)
            assert delta[ok].min(initial=0) >= 0
        checked += 1
    assert checked > 60


def test_the_polish_sends_home_at_no_cost_what_holds_the_place_another_needs():
    """b (replica 0) costs 6 on its home node 1 (soft capacity 0) and fits nowhere else:
    node 2 runs a, away from its home node 0, where a holds its place (a transient
    capacity). a may go home at no cost (it has no move cost) but saves nothing by it;
    only once it has, node 2 is free for b."""
    model = small_fleet(
        3,
        2,
        transient=np.array([True]),
        need=np.array([[6], [6]]),
        soft_capacity=np.array([[10], [0], [10]]),
        current=np.array([1, 0]),
        replica_move_cost=np.array([1, 0]),
    )
    start = np.array([1, 2])
    annealer = Annealer(model, start, seed=0)
    assert annealer.cost == costs(model, start).total == 6
    annealer.polish(time.perf_counter() + 5.0)
    assert annealer.best().tolist() == [2, 0]
    assert annealer.best_cost == costs(model, np.array([2, 0])).total == 1


def test_the_polish_trades_two_moved_replicas_to_nodes_nearer_their_homes():
    """a (home 0) runs on node 2 and b (home 1) on node 3, each at move cost 2 from its
    home; each would cost nothing on the other's node. Every node holds one replica of 6
    of 10, so no single move fits (not even home, where c and d run): only the trade."""
    model = small_fleet(
        3,
        2,
        capacity=np.full((4, 1), 10),
        soft_capacity=np.full((4, 1), 10),
        spread_domain=np.arange(4),
        dependency_domain=np.arange(4),
        node_move_cost=np.array([[0, 5, 2, 0], [5, 0, 0, 2], [5, 5, 0, 5], [5, 5, 5, 0]]),
        min_domains=np.ones(4, dtype=np.int64),
        workload=np.arange(4),
        need=np.full((4, 1), 6),
        current=np.array([0, 1, 0, 1]),
        replica_move_cost=np.zeros(4, dtype=np.int64),
    )
    start = np.array([2, 3, 0, 1])
    annealer = Annealer(model, start, seed=0)
    assert annealer.cost == costs(model, start).total == 4
    annealer.polish(time.perf_counter() + 5.0)
    assert annealer.best().tolist() == [3, 2, 0, 1]
    assert annealer.best_cost == costs(model, np.array([3, 2, 0, 1])).total == 0


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs the shared ROADEF data")
@pytest.mark.parametrize("workers", [1, 2])
def test_the_searches_reach_the_published_optimum_of_a1_1(workers):
    inst = read_model(SHARED / "model_a1_1.txt")
    initial = read_assignment(SHARED / "assignment_a1_1.txt", inst)
    model = to_reassignment(inst, initial)
    begun = time.perf_counter()
    best = cooperate.anneal_together(model, initial, 3, begun + 4.0, workers)
    assert time.perf_counter() - begun < 4.0 + cooperate.JOIN_GRACE_S
    result = evaluate(inst, initial, best)
    assert result.feasible
    assert A1_1_OPTIMUM <= result.total <= A1_1_OPTIMUM * 1.00001


def test_a_search_alone_starts_from_each_temperature_in_turn(monkeypatch):
    inst, initial = example()
    model = to_reassignment(inst, initial)
    hots = []
    anneal = Annealer.anneal
    monkeypatch.setattr(
        Annealer,
        "anneal",
        lambda self, end, hot, *a, **k: hots.append(hot) or anneal(self, end, hot, *a, **k),
    )
    best = cooperate.anneal_together(model, initial, 0, time.perf_counter() + 1.0, workers=1)
    assert evaluate(inst, initial, best).feasible
    assert len(hots) == len(cooperate.HOTS)
    assert [h / hots[0] for h in hots] == pytest.approx(
        [h / cooperate.HOTS[0] for h in cooperate.HOTS]
    )


def test_a_long_enough_search_takes_the_compiled_path(monkeypatch):
    inst, initial = example()
    used = []
    monkeypatch.setattr(strategy, "EXACT_PAIRS", 0)
    monkeypatch.setattr(strategy, "COMPILED_MIN_S", 0.0)
    together = cooperate.anneal_together
    monkeypatch.setattr(
        cooperate, "anneal_together", lambda *a, **k: used.append(a) or together(*a, **k)
    )
    outcome = strategy.solve(to_reassignment(inst, initial), time_limit=1.0)
    assert used
    result = evaluate(inst, initial, outcome.assignment)
    assert result.feasible and result.total == outcome.costs.total == 2411
