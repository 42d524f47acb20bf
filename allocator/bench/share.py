"""The fair-share benchmark of BENCHMARKS.md ("Fair shares"), on Gavel's measured
throughputs: every policy on a 108-GPU cluster against the heterogeneity-blind equal
shares, and max-min fairness at POP's scale exactly and in 4, 8 and 16 parts
(`allocator bench share`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from allocator.share import gavel
from allocator.share.policies import Policy, equal_shares, solve
from allocator.share.result import measure
from allocator.share.run import share
from solvers.base import SolveOptions

CLUSTER = {"v100": 36, "p100": 36, "k80": 36}
SCALE_CLUSTER = {"v100": 512, "p100": 512, "k80": 512}  # POP's 1,536 GPUs of three types
POLICIES = (
    Policy.EQUAL,
    Policy.MAX_MIN,
    Policy.PROPORTIONAL,
    Policy.MAX_THROUGHPUT,
    Policy.MIN_COST,
    Policy.HIERARCHICAL,
)


@dataclass(frozen=True)
class PolicyRow:
    policy: str
    status: str
    solver: str
    wall_s: float
    min_normalized: float
    sum_normalized: float
    geomean_normalized: float
    tenant_min_normalized: float
    cost_per_hour: float
    targets_met: int
    max_capacity_excess: float  # most GPUs over a type's capacity (<= 0: none)
    max_demand_excess: float  # most GPUs over a job's demand (<= 0: none)


@dataclass(frozen=True)
class ScaleRow:
    jobs: int
    gpus: int
    parts: int  # 1: the exact solve
    wall_s: float
    objective: float
    ratio: float


def run_policies(
    data: Path, n_jobs: int, seed: int, tenants: int, solver: str = "auto"
) -> list[PolicyRow]:
    """Every policy on `n_jobs` Gavel jobs (fixed seed) on 36 V100, 36 P100, 36 K80."""
    inp = gavel.jobs(gavel.load(data), n_jobs, CLUSTER, seed=seed, tenants=tenants)
    rows = []
    for policy in POLICIES:
        started = time.perf_counter()
        alloc = solve(inp, policy, solver=solver)
        wall = time.perf_counter() - started
        gpus = alloc.gpus if policy != Policy.EQUAL else equal_shares(inp)
        m = measure(inp, gpus)
        rows.append(
            PolicyRow(
                str(policy),
                str(alloc.status),
                alloc.solver or "-",
                wall,
                m.min_normalized,
                m.sum_normalized,
                m.geomean_normalized,
                m.tenant_min_normalized,
                m.cost_per_hour,
                m.targets_met,
                float((gpus.sum(axis=0) - inp.capacity).max()),
                float((gpus.sum(axis=1) - inp.demand).max()),
            )
        )
    return rows


def run_scale(
    data: Path,
    jobs: list[int],
    parts: list[int],
    seed: int,
    workers: int | None,
    engine: str = "local",
    policy: Policy = Policy.MAX_MIN,
) -> list[ScaleRow]:
    """Max-min fairness on POP's 1,536 GPUs: the exact solve, then each part count."""
    measured = gavel.load(data)
    out = []
    for n in jobs:
        inp = gavel.jobs(measured, n, SCALE_CLUSTER, seed=seed)
        started = time.perf_counter()
        exact = solve(inp, policy, options=SolveOptions(seed=seed))
        exact_wall = time.perf_counter() - started
        best = measure(inp, exact.gpus).min_normalized
        out.append(ScaleRow(n, int(inp.capacity.sum()), 1, exact_wall, best, 1.0))
        for k in parts:
            result = share(
                inp,
                policy,
                options=SolveOptions(seed=seed),
                parts=k,
                engine=engine,
                workers=workers,
                exact=False,
            )
            assert result.partitioned is not None
            got = result.metrics.min_normalized
            out.append(
                ScaleRow(n, int(inp.capacity.sum()), k, result.partitioned.wall_s, got, got / best)
            )
    return out


def policy_table(rows: list[PolicyRow]) -> str:
    lines = [
        "| policy | status | solver | s | min norm. | sum norm. | geomean | tenant min |"
        " $/h | targets met | capacity excess | demand excess |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.policy} | {r.status} | {r.solver} | {r.wall_s:.2f} | {r.min_normalized:.4f} |"
            f" {r.sum_normalized:.2f} | {r.geomean_normalized:.4f} |"
            f" {r.tenant_min_normalized:.4f} | {r.cost_per_hour:.2f} | {r.targets_met} |"
            f" {r.max_capacity_excess:.1e} | {r.max_demand_excess:.1e} |"
        )
    return "\n".join(lines)


def scale_table(rows: list[ScaleRow]) -> str:
    lines = [
        "| jobs | GPUs | parts | wall s | min normalized | ratio to exact |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        parts = "exact" if r.parts == 1 else str(r.parts)
        lines.append(
            f"| {r.jobs:,} | {r.gpus:,} | {parts} | {r.wall_s:.2f} | {r.objective:.4f} |"
            f" {r.ratio:.4f} |"
        )
    return "\n".join(lines)
