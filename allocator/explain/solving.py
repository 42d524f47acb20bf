"""Solving relaxed copies of an inventory within the analysis's time: every copy goes through
the same validation, domain build, solve and checker as a file does."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from allocator.domain.build import build_domain
from allocator.domain.replicas import Replicas
from allocator.domain.tables import Domain
from allocator.evaluate.figures import Figures
from allocator.explain.lifts import Doc
from allocator.inventory.load import validate_document
from allocator.io.errors import InputError
from allocator.io.source import SourceDocument
from allocator.output.plan import InventoryRef, PlanFile
from allocator.solve.deadline import Deadline
from allocator.solve.pipeline import solve_domain
from solvers.base import SolveOptions

MIN_SOLVE_S = 0.5  # no re-solve gets less, whatever the share works out to


@dataclass
class Solved:
    """A plan of one inventory document (the plan under analysis, or a relaxed copy's)."""

    doc: Doc
    domain: Domain
    plan: PlanFile
    placement: Replicas

    def reached(self, wid: str) -> float:
        """Replicas of the workload placed; for a throughput target, what its replicas
        reach (after the worst loss it must survive)."""
        return self.reached_by_workload.get(wid, 0.0)

    @cached_property
    def reached_by_workload(self) -> dict[str, float]:
        out = {str(w): 0.0 for w in self.domain.demand.families.ids}
        for p in self.plan.placements:
            out[p.workload] += 1
        for t in self.plan.throughput:
            out[t.workload] = t.achieved if t.after_worst_loss is None else t.after_worst_loss
        return out

    def nodes_of(self, wid: str) -> np.ndarray:
        """Fleet indices of the nodes its replicas run on (one per replica)."""
        index = self.domain.fleet.index
        return np.array([index[p.node] for p in self.plan.placements if p.workload == wid], int)

    @property
    def cost(self) -> float:
        return self.plan.objective.cost_per_hour

    @cached_property
    def figures(self) -> Figures:
        return Figures(self.domain, self.placement)


class OutOfTime(Exception):
    """The analysis's deadline passed before a solve could start."""


class BoundedSolver:
    """Solves inventory documents under the analysis's deadline, each within its share."""

    def __init__(self, name: str, solver: str, per_solve_s: float, deadline: Deadline):
        self.name, self.solver = name, solver
        self.per_solve_s, self.deadline = per_solve_s, deadline
        self.count = 0

    def solve(self, doc: Doc) -> Solved | None:
        """The plan of a relaxed document; None when the edit left no valid inventory or
        the checker rejects the plan. Raises OutOfTime once the deadline has passed."""
        try:
            return self.plan(doc)
        except InputError:
            return None

    def plan(self, doc: Doc) -> Solved | None:
        """The document's plan (None when the checker rejects it); an invalid document is
        an InputError."""
        if self.deadline.passed():
            raise OutOfTime
        inventory = validate_document(SourceDocument(self.name, doc))
        domain = build_domain(inventory, name=self.name)
        limit = self.deadline.left(least=MIN_SOLVE_S, most=self.per_solve_s)
        options = SolveOptions(time_limit=limit)
        outcome = solve_domain(domain, InventoryRef(name=self.name), self.solver, options)
        self.count += 1
        if outcome.violations:
            return None
        return Solved(doc, domain, outcome.plan, outcome.result.placement)
