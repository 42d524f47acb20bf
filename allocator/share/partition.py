"""POP (SOSP 2021): split the jobs into K random parts, give each part 1/K of every GPU
type, solve each part's policy on its own (in parallel, on a local process pool or Dask)
and put the allocations side by side. The parts' capacities add up to the fleet's, so the
union is feasible for the whole problem; with many jobs per part each part looks like a
scaled-down copy of the whole, and the loss against the exact optimum is small.

The equal-share reference stays the whole problem's (`ShareInput.take`), so normalized
throughputs, and the ratio to the exact solve, mean the same in parts and whole.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from allocator.batch.engines import open_engine
from allocator.share.inputs import ShareInput
from allocator.share.policies import Allocation, Policy, feasible, solve
from solvers.base import SolveOptions, Status


@dataclass(frozen=True)
class PartResult:
    jobs: np.ndarray
    gpus: np.ndarray
    status: str
    wall_s: float


def split(inp: ShareInput, parts: int, seed: int) -> list[np.ndarray]:
    """Random parts of near-equal size and make-up: jobs in random order, sorted by demand
    and by how much they gain from their best type over the equal share, are dealt to the
    parts in turn, so that every part asks for about 1/K of each kind of GPU work (POP's
    random split, stratified: a part that drew more large jobs would start behind)."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(inp))
    best = np.where(inp.usable, inp.rate, 0.0).max(axis=1, initial=0.0) * inp.demand
    gain = np.divide(best, inp.equal_throughput, out=np.zeros(len(inp)), where=inp.active)
    order = shuffled[np.lexsort((gain[shuffled], inp.demand[shuffled]))]
    dealt = np.empty(len(inp), dtype=np.int64)
    dealt[order] = np.arange(len(inp)) % parts
    return [np.flatnonzero(dealt == p) for p in range(parts)]


def _solve_part(
    inp: ShareInput,
    jobs: np.ndarray,
    parts: int,
    policy: Policy,
    within: Policy | None,
    solver: str,
    options: SolveOptions,
) -> PartResult:
    part = inp.take(jobs, inp.capacity / parts)
    alloc = solve(part, policy, within, solver, options)
    return PartResult(jobs, alloc.gpus, str(alloc.status), alloc.wall_s)


def solve_partitioned(
    inp: ShareInput,
    policy: Policy,
    parts: int,
    within: Policy | None = None,
    solver: str = "auto",
    options: SolveOptions | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
) -> tuple[Allocation, str]:
    """The union of the parts' allocations, and a description of the engine used."""
    options = options or SolveOptions()
    started = time.perf_counter()
    pieces = split(inp, parts, options.seed)
    if parts == 1:
        results = [_solve_part(inp, pieces[0], 1, policy, within, solver, options)]
        where = "in process"
    else:
        slots = workers or min(parts, os.cpu_count() or 1)
        runner = open_engine(engine, slots, address)
        try:
            pool = runner.executor()
            futures = [
                pool.submit(_solve_part, inp, jobs, parts, policy, within, solver, options)
                for jobs in pieces
            ]
            results = [f.result() for f in futures]
            where = runner.describe()
        finally:
            runner.close()
    gpus = np.zeros(inp.rate.shape)
    for r in results:
        gpus[r.jobs] = r.gpus
    statuses = [Status(r.status) for r in results]
    worst = next((s for s in statuses if not s.has_solution), None)
    status = worst or (
        Status.OPTIMAL if all(s == Status.OPTIMAL for s in statuses) else Status.FEASIBLE
    )
    alloc = Allocation(
        policy=policy,
        within=within if policy == Policy.HIERARCHICAL else None,
        gpus=feasible(inp, gpus),
        status=status,
        value=None,
        bound=None,
        gpu_value=np.zeros(len(inp.types)),
        wall_s=time.perf_counter() - started,
        solver=f"{solver}, {parts} parts",
        notes=tuple(f"part {i}: {r.status} in {r.wall_s:.2f} s" for i, r in enumerate(results)),
    )
    return alloc, where
