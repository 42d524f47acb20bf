"""Greedy heuristics as a backend: first-fit-decreasing and best-fit, the better of the two.

They need the structured packing view that the placement builder attaches to its
problem; they return a node-level placement and no bound.
"""

from __future__ import annotations

import time
from typing import ClassVar

from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.model.problem import Problem
from solvers.base import Capability, Solution, SolveOptions, SolverError, Status


class GreedySolver:
    name: ClassVar[str] = "greedy"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.HEURISTIC})
    rules: ClassVar[tuple[str, ...]] = RULES

    def available(self) -> bool:
        return True

    def solve(self, problem: Problem, options: SolveOptions) -> Solution:
        if problem.packing is None:
            raise SolverError(
                f"{self.name} places replicas on nodes and needs a placement "
                "problem; this one has no packing view"
            )
        from allocator.evaluate.levels import level_values

        started = time.perf_counter()
        best = best_values = None
        for rule in self.rules:
            placement = greedy_placement(problem.packing, rule)
            values = level_values(problem.packing, placement)
            if best_values is None or values < best_values:
                best, best_values = placement, values
        return Solution(
            Status.FEASIBLE, self.name, wall_s=time.perf_counter() - started, placement=best
        )
