"""The online cluster schedulers (first-fit, best-fit, dot-product, GPU packing, GPU
clustering, random, FGD) as backends: the baselines a batch plan should beat."""

from __future__ import annotations

import time
from typing import ClassVar

from allocator.heuristics.online.adapter import UnsupportedByPolicy, online_placement
from allocator.heuristics.online.policies import POLICIES
from allocator.model.problem import Problem
from solvers.base import (
    Capability,
    Solution,
    SolveOptions,
    SolverError,
    Status,
    UnsupportedRequest,
)


class OnlineSolver:
    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.HEURISTIC})

    def available(self) -> bool:
        return True

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        if problem.packing is None:
            raise SolverError(
                f"{self.name} places replicas on nodes and needs a placement "
                "problem; this one has no packing view"
            )
        started = time.perf_counter()
        try:
            placement = online_placement(problem.packing, self.name, options.seed)
        except UnsupportedByPolicy as exc:
            raise UnsupportedRequest(str(exc)) from exc
        return Solution(
            Status.FEASIBLE, self.name, wall_s=time.perf_counter() - started, placement=placement
        )


ONLINE_SOLVERS: tuple[type[OnlineSolver], ...] = tuple(
    type(f"Online_{policy.replace('-', '_')}", (OnlineSolver,), {"name": policy})
    for policy in POLICIES
)
