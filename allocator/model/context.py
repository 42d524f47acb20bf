"""What a rule family writes its model rows with: the builder, the sparse pair index, the
`assign` columns and the slack that lets a workload fall short instead of making the model
infeasible; and what it sets its own columns of a placement's solution with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from allocator.domain.grouping import by_family, expand, members
from allocator.model.patterns import PatternPool
from allocator.model.problem import Block, Problem, ProblemBuilder
from allocator.model.reduce import PackingInstance


@dataclass(frozen=True, eq=False)
class Pairs:
    """Compatible (demand row, node group) pairs, the model's sparse index: `assign[k]`
    counts replicas of row w[k] on nodes of group g[k]. Sorted by row, so the pairs of one
    workload (over its rows) are contiguous: ptr[f]:ptr[f + 1]."""

    w: np.ndarray
    g: np.ndarray
    f: np.ndarray
    ptr: np.ndarray

    @classmethod
    def of(cls, inst: PackingInstance) -> Pairs:
        w, g = inst.pairs
        f = inst.domain.demand.family[w]
        return cls(w, g, f, by_family(f, len(inst.domain.demand.families)))

    def __len__(self) -> int:
        return len(self.w)

    def cols(self, f: int) -> np.ndarray:
        return np.arange(self.ptr[f], self.ptr[f + 1])

    def of_families(self, families: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every pair column of each listed workload: (position in `families`, column)."""
        families = np.asarray(families, dtype=np.int64)
        return expand(self.ptr[families], self.ptr[families + 1] - self.ptr[families])


@dataclass(frozen=True, eq=False)
class Slack:
    """Columns that let a workload fall short: `shortfall` (replicas) and `missing`
    (throughput), so that an impossible rule shows up as a shortfall, not infeasibility."""

    shortfall: Block
    short_f: np.ndarray  # workload of each shortfall column (sorted)
    missing: Block | None
    targets: np.ndarray  # workload of each missing column (sorted)

    def add(self, b: ProblemBuilder, rows: Block, row: np.ndarray, f: np.ndarray) -> None:
        """Add workload f[k]'s slack column to row[k] of `rows`."""
        row, f = np.asarray(row, dtype=np.int64), np.asarray(f, dtype=np.int64)
        if self.missing is not None and len(self.targets):
            at = np.minimum(np.searchsorted(self.targets, f), len(self.targets) - 1)
            hit = self.targets[at] == f
            b.add_entries(rows, row[hit], self.missing, at[hit], 1.0)
            row, f = row[~hit], f[~hit]
        if len(self.short_f):
            at = np.minimum(np.searchsorted(self.short_f, f), len(self.short_f) - 1)
            hit = self.short_f[at] == f
            b.add_entries(rows, row[hit], self.shortfall, at[hit], 1.0)


@dataclass(frozen=True, eq=False)
class ModelContext:
    b: ProblemBuilder
    inst: PackingInstance
    pairs: Pairs
    assign: Block
    used: Block  # nodes in use per group
    slack: Slack

    def places(self, scope: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Place code, at scope[k], of the node group of pair column cols[k]."""
        return self.inst.group_places[self.pairs.g[cols], scope]

    @cached_property
    def weight(self) -> np.ndarray:
        """What each pair's replica counts for in rules about a workload's strength: its
        throughput for a workload with a target, else 1."""
        by_target = self.inst.domain.demand.families.by_target[self.pairs.f]
        return np.where(by_target, self.inst.pair_rate(self.pairs.w, self.pairs.g), 1.0)


@dataclass(frozen=True, eq=False)
class PatternContext(ModelContext):
    """The context plus a pattern pool and its `pattern` columns (nodes per pattern)."""

    pool: PatternPool
    patterns: Block

    def holds(self, families: np.ndarray) -> sp.csr_array:
        """(patterns x listed workloads) replicas of each workload (over its rows) that one
        node running each pattern holds. Meaningful for workloads whose rows have shapes of
        their own (a rule about single nodes gives them that)."""
        demand, shapes = self.inst.domain.demand, self.inst.shapes
        families = np.asarray(families, dtype=np.int64)
        k, rows = members(demand.family, families, len(demand.families))
        member = sp.csr_array(
            (np.ones(len(rows)), (shapes.of_workload[rows], k)),
            shape=(len(shapes), len(families)),
        )
        return sp.csr_array(sp.csr_array(self.pool.counts.astype(np.float64)) @ member)


@dataclass(frozen=True, eq=False)
class PlacedColumns:
    """Column values being written from a placement, once `pattern`, `assign` and the
    slack hold theirs: each rule family sets its own columns from those
    (`RuleFamily.columns`), so that the model accepts every placement that keeps the rules."""

    inst: PackingInstance
    pairs: Pairs
    pool: PatternPool
    problem: Problem
    x: np.ndarray

    def places(self, scope: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Place code, at scope[k], of the node group of pair column cols[k]."""
        return self.inst.group_places[self.pairs.g[cols], scope]

    @property
    def assign(self) -> np.ndarray:
        return self.x[self.problem.col_block("assign").slice]

    @property
    def patterns(self) -> np.ndarray:
        return self.x[self.problem.col_block("pattern").slice]

    def replicas(self, key: np.ndarray, cols: np.ndarray, n_keys: int) -> np.ndarray:
        """Replicas per key: the `assign` values of pair columns cols[k] summed by key[k]."""
        return np.bincount(key, weights=self.assign[cols], minlength=n_keys)

    def set(self, name: str, values: np.ndarray) -> None:
        self.x[self.problem.col_block(name).slice] = values
