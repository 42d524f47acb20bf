"""The solver contract: every backend against the same known-answer problems."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp

from allocator.model.problem import Basis, Problem, ProblemBuilder
from solvers import registry
from solvers.base import Capability, Solution, SolveOptions, SolverError, Status

EXACT = ("highs", "cbc", "cpsat")


def problem(a, lo, hi, cost, col_hi, integer=True) -> Problem:
    a = sp.csr_array(np.asarray(a, dtype=float))
    n = a.shape[1]
    return Problem(
        a=a,
        row_lo=np.asarray(lo, float),
        row_hi=np.asarray(hi, float),
        col_lo=np.zeros(n),
        col_hi=np.asarray(col_hi, float),
        integer=np.full(n, integer),
        cost=np.asarray(cost, float),
    )


def knapsack() -> Problem:
    # max 5x + 4y  s.t. 6x + 4y <= 24, x + 2y <= 6  -> integer optimum 20 at (4, 0)
    return problem([[6, 4], [1, 2]], [-np.inf, -np.inf], [24, 6], [-5, -4], [10, 10])


def test_every_backend_loads_in_one_interpreter():
    # OR-Tools and highspy each ship a HiGHS library; only matching versions coexist, and
    # PuLP and cvxpy import highspy as a side effect.
    for order in (
        "import highspy, pulp, cvxpy; from ortools.sat.python import cp_model",
        "from ortools.sat.python import cp_model; import cvxpy, pulp, highspy",
    ):
        run = subprocess.run(
            [sys.executable, "-c", order + "; print('ok')"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.stdout.strip() == "ok", run.stderr


@pytest.mark.parametrize("name", EXACT)
def test_known_optimum(name):
    solution = registry.get(name).solve(knapsack(), SolveOptions())
    assert solution.status == Status.OPTIMAL
    assert solution.objective == pytest.approx(-20)
    assert solution.bound == pytest.approx(-20)
    assert solution.gap == 0
    assert solution.x == pytest.approx([4, 0])


@pytest.mark.parametrize("name", EXACT)
def test_infeasible_is_a_status_not_an_exception(name):
    infeasible = problem([[1, 1]], [5], [np.inf], [1, 1], [2, 2])
    solution = registry.get(name).solve(infeasible, SolveOptions())
    assert solution.status == Status.INFEASIBLE
    assert solution.x is None


@pytest.mark.parametrize("name", EXACT)
def test_objective_offset_and_warm_start(name):
    shifted = knapsack().with_objective(np.array([-5.0, -4.0]), offset=100.0)
    solution = registry.get(name).solve(shifted, SolveOptions(warm_start=np.array([2.0, 2.0])))
    assert solution.objective == pytest.approx(80)
    assert solution.bound == pytest.approx(80)


def test_highs_reports_lp_duals():
    lp = knapsack().with_lp_relaxation()
    solution = registry.get("highs").solve(lp, SolveOptions())
    assert solution.objective == pytest.approx(-21)
    assert solution.duals == pytest.approx([-0.75, -0.5])


def test_highs_can_change_thread_count_between_solves():
    for threads in (1, 2, 1):
        assert (
            registry.get("highs").solve(knapsack(), SolveOptions(threads=threads)).status
            == Status.OPTIMAL
        )


def test_cpsat_refuses_continuous_columns():
    with pytest.raises(SolverError, match="needs every column integer"):
        registry.get("cpsat").solve(knapsack().with_lp_relaxation(), SolveOptions())


def test_cpsat_scales_cent_costs_exactly():
    cents = problem([[1, 1]], [1], [np.inf], [0.37, 0.41], [1, 1])
    solution = registry.get("cpsat").solve(cents, SolveOptions())
    assert solution.objective == pytest.approx(0.37)
    assert solution.bound == pytest.approx(0.37)


def test_unknown_solver_names_the_choices():
    with pytest.raises(SolverError, match="unknown solver 'gurobi'; expected one of: highs, cbc"):
        registry.get("gurobi")


def test_auto_falls_back_when_a_backend_fails(monkeypatch):
    class Broken:
        name = "highs"
        capabilities = frozenset({Capability.LP, Capability.MIP})
        rank = 0
        install_hint = ""

        def available(self):
            return True

        def solve(self, problem, options) -> Solution:
            raise SolverError("simulated crash")

    registry.backends()
    monkeypatch.setitem(registry._BACKENDS, "highs", Broken)
    auto = registry.get("auto")
    solution = auto.solve(knapsack(), SolveOptions())
    assert solution.solver == "cbc"
    assert solution.objective == pytest.approx(-20)
    assert auto.failures == ["highs: simulated crash"]


def test_auto_skips_missing_backends(monkeypatch):
    class Missing:
        name = "highs"
        capabilities = frozenset({Capability.LP, Capability.MIP})
        rank = 0
        install_hint = "pip install highspy"

        def available(self):
            return False

    registry.backends()
    monkeypatch.setitem(registry._BACKENDS, "highs", Missing)
    auto = registry.get("auto")
    assert auto.solve(knapsack(), SolveOptions()).solver == "cbc"
    assert auto.failures[0].startswith("highs: not installed")


@pytest.mark.parametrize("name", EXACT)
def test_time_limit_passes_through(name):
    # A 60-item knapsack with a 0.05 s limit: the backend stops early and says so honestly.
    rng = np.random.default_rng(1)
    weights = rng.integers(10_000, 20_000, size=(3, 60))
    hard = problem(
        weights,
        [-np.inf] * 3,
        weights.sum(axis=1) / 2.0,
        -rng.integers(10_000, 20_000, 60),
        np.ones(60),
    )
    solution = registry.get(name).solve(hard, SolveOptions(time_limit=0.05))
    assert solution.status in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT)
    if solution.status == Status.FEASIBLE:
        assert solution.bound is None or solution.bound <= solution.objective + 1e-6


def test_online_schedulers_are_backends():
    from conftest import INSTANCES

    from allocator.output.plan import InventoryRef
    from allocator.solve.pipeline import load_domain, solve_domain

    domain = load_domain(INSTANCES / "tiny.yaml")
    for policy in ("first-fit", "best-fit", "dot-product", "gpu-packing", "fgd"):
        outcome = solve_domain(domain, InventoryRef(name="tiny"), policy)
        assert outcome.violations == [], policy
        assert outcome.plan.solver.name == policy


def test_online_schedulers_refuse_mig(write_inventory):
    from typer.testing import CliRunner

    from cli.main import app

    doc = {
        "version": 1,
        "nodes": [
            {
                "id": "a",
                "gpu_type": "A100-80GB",
                "gpus": 1,
                "cpus": 8,
                "ram_gib": 64,
                "cost_per_hour": 1,
                "mig": True,
            }
        ],
        "workloads": [
            {
                "id": "w",
                "replicas": 1,
                "resources": {"mig_profile": "1g.10gb", "cpus": 1, "ram_gib": 1},
            }
        ],
    }
    result = CliRunner().invoke(app, ["solve", str(write_inventory(doc)), "-s", "fgd"])
    assert result.exit_code == 2
    assert "the fgd scheduler does not place MIG instances" in result.output


@pytest.mark.parametrize("name", EXACT)
def test_solution_limit_stops_with_a_solution(name):
    solution = registry.get(name).solve(knapsack(), SolveOptions(solution_limit=1))
    assert solution.status.has_solution
    assert not knapsack().violations(solution.x)


def test_backends_register_themselves_and_rank_auto():
    found = registry.backends()
    assert list(found)[:3] == ["highs", "cbc", "cpsat"]
    assert registry.AutoSolver().order[:3] == ["highs", "cbc", "cpsat"]
    assert all(cls.install_hint.startswith("pip install") for cls in found.values())


def partition(count: int = 40, seed: int = 0) -> Problem:
    """Choose among `count` large even numbers a sum nearest an odd target: min t with
    t >= +/-(sum of the chosen - target). A first solution is instant (choose none); no
    sum hits the target, and neither HiGHS nor CP-SAT ends its search within any time a
    test may take (both run to a 40 s limit)."""
    numbers = 2 * np.random.default_rng(seed).integers(10**12, 10**13, count)
    target = int(numbers.sum()) // 2 | 1
    a = np.zeros((2, count + 1))
    a[0, :count], a[0, count] = numbers, -1  # sum - t <= target
    a[1, :count], a[1, count] = numbers, 1  # sum + t >= target
    return Problem(
        a=sp.csr_array(a),
        row_lo=np.array([-np.inf, target]),
        row_hi=np.array([target, np.inf]),
        col_lo=np.zeros(count + 1),
        col_hi=np.append(np.ones(count), float(numbers.sum())),
        integer=np.ones(count + 1, dtype=bool),
        cost=np.append(np.zeros(count), 1.0),
    )


@pytest.mark.parametrize("name", ("highs", "cpsat"))
def test_after_first_s_ends_a_mip_soon_after_its_first_solution(name):
    hard = partition()
    solution = registry.get(name).solve(
        hard, SolveOptions(time_limit=120, after_first_s=0.5, threads=1)
    )
    assert solution.status == Status.FEASIBLE  # stopped, not proven
    assert not hard.violations(solution.x)
    assert solution.wall_s < 30  # a quarter of its time limit, which it would run to


@pytest.mark.parametrize("name", ("highs", "cpsat"))
def test_stop_when_ends_a_mip_when_its_caller_asks(name):
    hard = partition()
    asked_at = time.perf_counter() + 1.0
    solution = registry.get(name).solve(
        hard,
        SolveOptions(time_limit=120, threads=1, stop_when=lambda: time.perf_counter() >= asked_at),
    )
    assert solution.status == Status.FEASIBLE  # stopped, not proven
    assert not hard.violations(solution.x)
    assert solution.wall_s < 30  # a quarter of its time limit, which it would run to


@pytest.mark.parametrize("name", ("highs", "cpsat"))
def test_on_solution_hands_on_each_improving_solution_of_a_mip(name):
    found = []
    solution = registry.get(name).solve(
        knapsack(), SolveOptions(time_limit=30, on_solution=found.append)
    )
    assert solution.status == Status.OPTIMAL and found
    assert all(not knapsack().violations(np.round(x)) for x in found)
    assert knapsack().objective_value(np.round(found[-1])) == pytest.approx(solution.objective)


def cutting_stock(patterns: np.ndarray) -> Problem:
    """Rolls of width 10 cut into widths 3, 4 and 5 (demand 30, 20, 10): one column per
    cutting pattern, then a block of surplus columns, so that added patterns shift them."""
    b = ProblemBuilder("cutting")
    demand = b.add_rows("demand", 3, lo=np.array([30.0, 20.0, 10.0]))
    rolls = b.add_columns("pattern", len(patterns), integer=False, cost=1.0)
    surplus = b.add_columns("surplus", 3, integer=False, cost=0.01)
    rows, cols = np.nonzero(patterns.T)
    b.add_entries(demand, rows, rolls, cols, patterns.T[rows, cols])
    b.add_entries(demand, np.arange(3), surplus, np.arange(3), -1.0)
    return b.build()


def test_an_lp_restarts_from_its_basis_extended_to_added_columns():
    first = cutting_stock(np.array([[3, 0, 0], [0, 2, 0], [0, 0, 2]]))
    highs = registry.get("highs")
    assert Capability.BASIS in highs.capabilities
    before = highs.solve(first, SolveOptions())
    assert before.objective == pytest.approx(10 + 10 + 5)
    assert before.basis is not None
    more = cutting_stock(np.array([[3, 0, 0], [0, 2, 0], [0, 0, 2], [2, 1, 0], [1, 0, 1]]))
    start = before.basis.extended(first, more)
    # the old entries keep their status where their blocks now sit; added columns start
    # out of the basis, at their lower bound
    assert start.cols.tolist() == [
        *before.basis.cols[:3],
        Basis.AT_LOWER,
        Basis.AT_LOWER,
        *before.basis.cols[3:],
    ]
    assert start.rows.tolist() == before.basis.rows.tolist()
    assert (start.cols == Basis.BASIC).sum() + (start.rows == Basis.BASIC).sum() == 3
    cold = highs.solve(more, SolveOptions())
    warm = highs.solve(more, SolveOptions(basis=start))
    assert warm.status == Status.OPTIMAL
    assert warm.objective == pytest.approx(cold.objective)
    assert warm.objective < before.objective - 1  # the new patterns cut waste


def test_a_basis_extended_to_added_rows_puts_them_in_the_basis():
    first = cutting_stock(np.array([[3, 0, 0], [0, 2, 0], [0, 0, 2]]))
    basis = registry.get("highs").solve(first, SolveOptions()).basis
    capped = first.with_rows(sp.csr_array(np.ones((1, 6))), np.zeros(1), np.full(1, 50.0), "cap")
    start = basis.extended(first, capped)
    assert start.rows.tolist() == [*basis.rows, Basis.BASIC]
    assert start.cols.tolist() == basis.cols.tolist()
    solved = registry.get("highs").solve(capped, SolveOptions(basis=start))
    assert solved.status == Status.OPTIMAL
    assert solved.objective == pytest.approx(25)  # the cap of 50 rolls does not bind
