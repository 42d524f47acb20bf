"""The stage as one call: a policy on a `ShareInput`, exactly or in POP parts (then also
exactly, for the loss), measured against the heterogeneity-blind equal shares."""

from __future__ import annotations

import time
from dataclasses import replace

from allocator.share.inputs import ShareInput
from allocator.share.partition import solve_partitioned
from allocator.share.policies import Policy, equal_shares, solve
from allocator.share.result import Partitioned, ShareResult, measure, quality
from solvers.base import SolveOptions


def share(
    inp: ShareInput,
    policy: Policy,
    within: Policy | None = None,
    solver: str = "auto",
    options: SolveOptions | None = None,
    parts: int = 1,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    exact: bool = True,
) -> ShareResult:
    """Shares under `policy`; with `parts` > 1 solved POP-style, and, with `exact`, the
    exact solve too so that the result states the partitioned one's ratio to it."""
    options = options or SolveOptions()
    baseline = measure(inp, equal_shares(inp))
    if parts <= 1:
        alloc = solve(inp, policy, within, solver, options)
        return ShareResult(inp, alloc, measure(inp, alloc.gpus), baseline)
    alloc, where = solve_partitioned(
        inp, policy, parts, within, solver, options, engine, workers, address
    )
    metrics = measure(inp, alloc.gpus)
    ratio = exact_wall = None
    if exact:
        started = time.perf_counter()
        whole = solve(inp, policy, within, solver, options)
        exact_wall = time.perf_counter() - started
        best = quality(policy, measure(inp, whole.gpus), within)
        if whole.has_solution and best > 0:
            ratio = quality(policy, metrics, within) / best
    alloc = replace(alloc, value=quality(policy, metrics, within))
    statuses = tuple(n.split(": ")[1].split(" ")[0] for n in alloc.notes)
    return ShareResult(
        inp,
        alloc,
        metrics,
        baseline,
        Partitioned(parts, where, alloc.wall_s, exact_wall, ratio, statuses),
    )
