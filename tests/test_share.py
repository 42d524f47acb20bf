"""Fair shares: hand-worked answers, two formulations that must agree, properties on Gavel's
measured throughputs, POP parts, and the command on good and bad input."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from builders import inventory, node, workload
from conftest import INSTANCES
from typer.testing import CliRunner

from allocator.share import gavel
from allocator.share.inputs import ShareInput
from allocator.share.partition import solve_partitioned, split
from allocator.share.policies import Policy, equal_shares, solve
from allocator.share.result import measure, quality
from allocator.share.run import share
from cli.main import app
from solvers import registry
from solvers.base import SolveOptions, Status, UnsupportedRequest

GAVEL = gavel.DEFAULT_DATA
CLUSTER = {"v100": 36, "p100": 36, "k80": 36}
LP_POLICIES = (Policy.MAX_MIN, Policy.MAX_THROUGHPUT, Policy.MIN_COST, Policy.HIERARCHICAL)


def two_jobs(**changes) -> ShareInput:
    """Two jobs, one GPU of each of two types. Job 1 runs 3x faster on A than on B, job 2
    the same on both; each could use both GPUs. Equal shares: half of each GPU each, so
    e1 = 3(0.5) + 1(0.5) = 2 and e2 = 1."""
    fields = dict(
        name="two",
        jobs=np.array(["fast-on-a", "same"], dtype=object),
        types=("A", "B"),
        capacity=np.array([1.0, 1.0]),
        price=np.array([3.0, 1.0]),
        rate=np.array([[3.0, 1.0], [1.0, 1.0]]),
        weight=np.ones(2),
        demand=np.array([2.0, 2.0]),
        target=np.array([2.0, 1.0]),
        tenant=np.array([0, 1]),
        tenants=("a", "b"),
        tenant_weight=np.ones(2),
    )
    fields.update(changes)
    return ShareInput(**fields)


def assert_feasible(inp: ShareInput, gpus: np.ndarray) -> None:
    """Capacity and demand hold exactly (to float rounding), nothing on unusable types."""
    assert (gpus >= 0).all()
    assert (gpus.sum(axis=0) <= inp.capacity * (1 + 1e-12)).all()
    assert (gpus.sum(axis=1) <= inp.demand * (1 + 1e-12)).all()
    assert not gpus[~inp.usable].any()


@pytest.fixture(scope="module")
def measured() -> gavel.Measured:
    if not GAVEL.is_dir():
        pytest.skip(f"Gavel's measured throughputs are not here ({GAVEL})")
    return gavel.load(GAVEL)


@pytest.fixture(scope="module")
def gavel_jobs(measured) -> ShareInput:
    return gavel.jobs(measured, 120, CLUSTER, seed=7, tenants=4)


def test_equal_shares_by_hand():
    inp = two_jobs()
    assert inp.equal_gpus == pytest.approx(np.full((2, 2), 0.5))
    assert inp.equal_throughput == pytest.approx([2.0, 1.0])
    assert inp.normalized(equal_shares(inp)) == pytest.approx([1.0, 1.0])


def test_max_min_by_hand():
    # rho1 = (3a + b)/2, rho2 = (1 - a) + (1 - b) with a, b job 1's A and B. An A-GPU is
    # worth 1.5 to job 1 and 1 to job 2, a B-GPU 0.5 and 1: job 1 gets A only, and
    # 1.5a = 2 - a gives a = 0.8, lambda = 1.2.
    alloc = solve(two_jobs(), Policy.MAX_MIN)
    assert alloc.status == Status.OPTIMAL
    assert alloc.value == pytest.approx(1.2, abs=1e-9)
    assert alloc.gpus == pytest.approx(np.array([[0.8, 0.0], [0.2, 1.0]]), abs=1e-6)
    assert measure(two_jobs(), alloc.gpus).min_normalized == pytest.approx(1.2, abs=1e-6)
    # One more A-GPU: job 1 takes x of it, 1.5(0.8 + x) = 1.2 + (1 - x)... lambda = 1.8:
    # the dual says +0.6 per A-GPU.
    assert alloc.gpu_value[0] == pytest.approx(0.6, abs=1e-6)


def test_max_throughput_and_min_cost_by_hand():
    # Sum rho = 2 + a/2 - b/2: all of A to job 1, all of B to job 2: 1.5 + 1.
    alloc = solve(two_jobs(), Policy.MAX_THROUGHPUT)
    assert alloc.value == pytest.approx(2.5)
    assert alloc.gpus == pytest.approx(np.array([[1.0, 0.0], [0.0, 1.0]]), abs=1e-9)
    # Targets 2 and 1: job 1 on A ($3) needs 2/3 GPU = $2, on B ($1) 2 GPUs = $2 but B
    # is one GPU; job 2 on B costs $1 a unit, on A $3: 2/3 A + 1 B = $3.
    cost = solve(two_jobs(), Policy.MIN_COST)
    assert cost.value == pytest.approx(3.0)
    assert cost.gpus == pytest.approx(np.array([[2 / 3, 0.0], [0.0, 1.0]]), abs=1e-6)


def test_weights_shift_the_max_min_level():
    # With w2 = 2, rho2 >= 2 lambda: 1.5a = lambda, 2 - a = 2 lambda -> a = 0.5, 0.75.
    alloc = solve(two_jobs(weight=np.array([1.0, 2.0])), Policy.MAX_MIN)
    assert alloc.value == pytest.approx(0.75, abs=1e-9)
    assert alloc.gpus[0] == pytest.approx([0.5, 0.0], abs=1e-6)


def test_min_cost_target_out_of_reach_is_named():
    inp = two_jobs(target=np.array([7.0, 1.0]))  # at most 3 x 2 GPUs = 6
    with pytest.raises(Exception) as caught:
        solve(inp, Policy.MIN_COST)
    assert str(caught.value) == (
        "two: fast-on-a: throughput target 7 throughput cannot be met: at most 6 on the 2"
        " GPUs it may use"
    )


def test_proportional_by_hand():
    pytest.importorskip("cvxpy")
    # max log(1.5a + 0.5b) + log(2 - a - b): b = 0 and 1/a = 1/(2 - a) -> a = 1 (its bound):
    # log 1.5 + log 1.
    alloc = solve(two_jobs(), Policy.PROPORTIONAL)
    assert alloc.status == Status.OPTIMAL
    assert alloc.value == pytest.approx(math.log(1.5), abs=1e-6)
    assert alloc.gpus == pytest.approx(np.array([[1.0, 0.0], [0.0, 1.0]]), abs=1e-4)


@pytest.mark.parametrize("policy", LP_POLICIES)
def test_highs_and_cvxpy_agree_by_hand(policy):
    pytest.importorskip("cvxpy")
    direct = solve(two_jobs(), policy, solver="highs")
    conic = solve(two_jobs(), policy, solver="cvxpy")
    assert conic.solver == "cvxpy/clarabel"
    assert conic.value == pytest.approx(direct.value, abs=1e-6)


@pytest.mark.parametrize("policy", LP_POLICIES)
def test_highs_and_cvxpy_agree_on_gavel_jobs(gavel_jobs, policy):
    pytest.importorskip("cvxpy")
    direct = solve(gavel_jobs, policy, solver="highs")
    conic = solve(gavel_jobs, policy, solver="cvxpy")
    assert direct.status == conic.status == Status.OPTIMAL
    assert conic.value == pytest.approx(direct.value, rel=1e-6, abs=1e-6)
    # The conic backend's dual bound certifies its optimum too.
    assert conic.bound == pytest.approx(conic.value, rel=1e-6, abs=1e-6)


def test_cvxpy_duals_follow_the_highs_convention():
    pytest.importorskip("cvxpy")
    import scipy.sparse as sp

    from allocator.model.problem import Problem

    # min x + 2y s.t. x + y >= 1, x <= 0.4: x = 0.4, y = 0.6; duals 2 and -1.
    lp = Problem(
        a=sp.csr_array(np.array([[1.0, 1.0], [1.0, 0.0]])),
        row_lo=np.array([1.0, -np.inf]),
        row_hi=np.array([np.inf, 0.4]),
        col_lo=np.zeros(2),
        col_hi=np.full(2, np.inf),
        integer=np.zeros(2, dtype=bool),
        cost=np.array([1.0, 2.0]),
    )
    highs = registry.get("highs").solve(lp, SolveOptions())
    conic = registry.get("cvxpy", placement=False).solve(lp, SolveOptions())
    assert conic.objective == pytest.approx(highs.objective, abs=1e-7)
    assert conic.duals == pytest.approx(highs.duals, abs=1e-6)
    assert conic.duals == pytest.approx([2.0, -1.0], abs=1e-6)


def test_cvxpy_is_registered_but_never_places():
    assert "cvxpy" in registry.backends()
    assert "cvxpy" not in registry.names()
    assert "cvxpy" not in registry.AutoSolver().order
    with pytest.raises(UnsupportedRequest, match="solves continuous problems only"):
        registry.get("cvxpy")


def test_gavel_data_has_26_job_types(measured):
    assert len(measured.models) == 26
    # ResNet-50 at batch 128 on 2+ K80s was not measured (0): such a job gets no K80.
    assert measured.throughput[("ResNet-50 (batch size 128)", 2)][2] == 0.0


def test_policies_on_gavel_data(gavel_jobs):
    inp = gavel_jobs
    baseline = measure(inp, equal_shares(inp))
    assert_feasible(inp, equal_shares(inp))
    results = {}
    for policy in LP_POLICIES:
        alloc = solve(inp, policy)
        assert alloc.status == Status.OPTIMAL, policy
        assert_feasible(inp, alloc.gpus)
        results[policy] = measure(inp, alloc.gpus)
    # Heterogeneity-aware max-min lifts the worst-off job above equal GPU counts ...
    assert results[Policy.MAX_MIN].min_normalized > baseline.min_normalized + 0.1
    # ... and max total throughput lifts the sum (and is the largest sum of all).
    assert results[Policy.MAX_THROUGHPUT].sum_normalized > 1.5 * baseline.sum_normalized
    top = max(m.sum_normalized for m in results.values())
    assert results[Policy.MAX_THROUGHPUT].sum_normalized == pytest.approx(top)
    # Min cost meets every target, for less than the whole fleet costs.
    cheap = results[Policy.MIN_COST]
    assert cheap.targets_met == cheap.targets == len(inp)
    assert cheap.cost_per_hour < baseline.cost_per_hour
    # Hierarchical (max-min within): the lowest tenant level is the best any policy has.
    best = max(m.tenant_level for m in results.values())
    assert results[Policy.HIERARCHICAL].tenant_level == pytest.approx(best, rel=1e-6)


def test_hierarchical_within_policies(gavel_jobs):
    inp = gavel_jobs
    inner_min = solve(inp, Policy.HIERARCHICAL)
    inner_sum = solve(inp, Policy.HIERARCHICAL, Policy.MAX_THROUGHPUT)
    for alloc in (inner_min, inner_sum):
        assert alloc.status == Status.OPTIMAL
        assert_feasible(inp, alloc.gpus)
    by_min, by_sum = measure(inp, inner_min.gpus), measure(inp, inner_sum.gpus)
    # Each meets its tenant floor, and each inner policy wins on its own figure.
    assert by_min.tenant_level >= inner_min.value * (1 - 1e-6)
    assert by_sum.tenant_min_normalized >= inner_sum.value * (1 - 1e-6)
    assert by_min.min_normalized > by_sum.min_normalized
    assert by_sum.sum_normalized > by_min.sum_normalized
    # A tenant weighted twice as high gets at least twice the level of the lowest.
    heavy = replace(inp, tenant_weight=np.array([2.0, 1.0, 1.0, 1.0]))
    weighted = measure(heavy, solve(heavy, Policy.HIERARCHICAL).gpus)
    first = (heavy.normalized(solve(heavy, Policy.HIERARCHICAL).gpus) / heavy.weight)[
        heavy.tenant == 0
    ].min()
    assert first >= 2 * weighted.tenant_level * (1 - 1e-6)


def test_proportional_on_gavel_data(gavel_jobs):
    pytest.importorskip("cvxpy")
    alloc = solve(gavel_jobs, Policy.PROPORTIONAL)
    assert alloc.status == Status.OPTIMAL
    assert_feasible(gavel_jobs, alloc.gpus)
    m = measure(gavel_jobs, alloc.gpus)
    # The proportional optimum has the largest weighted log utility of all policies.
    for policy in (Policy.MAX_MIN, Policy.MAX_THROUGHPUT, Policy.EQUAL):
        other = measure(gavel_jobs, solve(gavel_jobs, policy).gpus)
        assert m.geomean_normalized >= other.geomean_normalized - 1e-6


def test_parts_are_a_feasible_union_close_to_exact(measured):
    inp = gavel.jobs(measured, 400, {"v100": 96, "p100": 96, "k80": 96}, seed=3)
    pieces = split(inp, 4, seed=0)
    assert sorted(np.concatenate(pieces).tolist()) == list(range(400))
    result = share(inp, Policy.MAX_MIN, parts=4, workers=2)
    assert_feasible(inp, result.allocation.gpus)
    p = result.partitioned
    assert p is not None and p.parts == 4 and p.statuses == ("optimal",) * 4
    assert p.ratio is not None and 0.9 < p.ratio <= 1 + 1e-6
    # Each part kept within its quarter of every type.
    for jobs in pieces:
        assert (result.allocation.gpus[jobs].sum(axis=0) <= inp.capacity / 4 + 1e-9).all()


def test_one_part_is_the_exact_solve(gavel_jobs):
    alloc, _ = solve_partitioned(gavel_jobs, Policy.MAX_MIN, 1)
    exact = solve(gavel_jobs, Policy.MAX_MIN)
    assert quality(Policy.MAX_MIN, measure(gavel_jobs, alloc.gpus)) == pytest.approx(exact.value)


# The command


def run(*args: str):
    return CliRunner().invoke(app, ["share", *args])


def teams_inventory() -> dict:
    """Two teams on H100 and A100: team a's training gains 3x on H100, team b's 1.2x."""
    rates_a = {"H100": 3.0, "A100-80GB": 1.0}
    rates_b = {"H100": 1.2, "A100-80GB": 1.0}
    return inventory(
        [
            node("h100", "H100", gpus=8, count=2, cost=80),
            node("a100", "A100-80GB", gpus=8, count=2, cost=40),
        ],
        [
            workload(
                "a-train",
                replicas={"min": 0, "max": 16},
                tenant="a",
                variants=[
                    {
                        "name": "v",
                        "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16},
                        "throughput": rates_a,
                    }
                ],
            ),
            workload(
                "b-train",
                replicas={"min": 0, "max": 16},
                tenant="b",
                variants=[
                    {
                        "name": "v",
                        "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16},
                        "throughput": rates_b,
                    }
                ],
            ),
        ],
    )


def test_command_writes_shares(write_inventory, tmp_path):
    path = write_inventory(teams_inventory())
    out = tmp_path / "shares.json"
    result = run(str(path), "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["format"] == "allocator-shares" and doc["policy"] == "max-min"
    tenants = doc["shares"]["tenants"]
    # The H100s go to the team that gains 3x on them.
    assert tenants["a"]["H100"] > tenants["b"].get("H100", 0.0)
    assert sum(t.get("H100", 0) for t in tenants.values()) == pytest.approx(16, abs=1e-6)
    json_out = run(str(path), "-f", "json", "-p", "max-throughput")
    assert json_out.exit_code == 0
    assert json.loads(json_out.stdout)["shares"]["tenants"]["a"]["H100"] == pytest.approx(16)


def test_command_table(write_inventory):
    result = run(str(INSTANCES / "tiny.yaml"))
    assert result.exit_code == 0, result.output
    assert "GPUs per tenant and type" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.yaml"], "error: missing.yaml: file not found"),
        (
            ["{tiny}", "--tenant-weight", "x"],
            "error: --tenant-weight: expected NAME=WEIGHT with a positive weight, got 'x'",
        ),
        (
            ["{tiny}", "--tenant-weight", "zz=2"],
            "error: --tenant-weight: no workload bills tenant 'zz'; tenants: -",
        ),
        (
            ["{tiny}", "--within", "proportional"],
            "error: --within: applies to --policy hierarchical only",
        ),
        (
            ["{tiny}", "-p", "min-cost"],
            "error: {tiny}: the min-cost policy needs workloads with a throughput target",
        ),
        (
            ["{tiny}", "-s", "cpsat"],
            "error: unknown solver 'cpsat' for fair shares; expected one of: highs, cbc, cvxpy,"
            " auto",
        ),
        (
            ["{tiny}", "-p", "proportional", "-s", "highs"],
            "error: proportional fairness is a convex program (a sum of logs), which needs a"
            " conic solver: use --solver cvxpy (or auto), not 'highs'",
        ),
    ],
)
def test_command_bad_input(args, message):
    tiny = str(INSTANCES / "tiny.yaml")
    result = run(*(a.replace("{tiny}", tiny) for a in args))
    assert result.exit_code == 2
    assert result.stderr.strip() == message.replace("{tiny}", tiny)


def test_command_bad_inventory_is_located(write_inventory):
    path = write_inventory("version: 1\nnodes:\n  - id: n\n    gpus: -1\n")
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:")
    assert "Traceback" not in result.output


def test_proportional_without_cvxpy_says_how_to_get_it(monkeypatch):
    from solvers.convex import CvxpySolver

    monkeypatch.setattr(CvxpySolver, "available", lambda self: False)
    result = run(str(INSTANCES / "tiny.yaml"), "-p", "proportional")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: proportional fairness is a convex program (a sum of logs) solved through cvxpy"
        " with Clarabel or SCS, which is not installed: pip install 'cvxpy>=1.9,<1.9.2' (or"
        " allocator[cvxpy])"
    )
    # The LP policies need no cvxpy.
    assert run(str(INSTANCES / "tiny.yaml"), "-q").exit_code == 0
