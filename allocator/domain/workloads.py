"""Workloads and the demand rows that run them.

A workload runs one way (its own resources) or, with variants, one of several ways per
replica. Each way is a demand row of its own (its own shape and its own throughput per
GPU type); the workload's replica counts, throughput target and rules apply to the sum
over its rows. Without variants a workload is exactly one row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from allocator.inventory.schema import ResourcesSpec, WorkloadSpec, row_id


@dataclass(frozen=True)
class Way:
    """One way to run a workload, before it becomes a demand row."""

    workload: WorkloadSpec
    family: int  # index of the workload
    variant: str  # "" for the workload's own resources
    resources: ResourcesSpec
    gpu_types: list[str] | None  # allowed types, None for any
    rate: dict[str, float]  # throughput of one replica per GPU type

    @property
    def id(self) -> str:
        return row_id(self.workload.id, self.variant)


def ways_to_run(workloads: list[WorkloadSpec]) -> list[Way]:
    """Every workload's own resources, then each of its variants, in file order."""
    out = []
    for f, w in enumerate(workloads):
        own = dict(w.throughput.per_replica) if w.throughput else {}
        out.append(Way(w, f, "", w.resources, w.gpu_types, own))
        for v in w.variants:
            allowed = v.gpu_types if v.gpu_types is not None else w.gpu_types
            out.append(Way(w, f, v.name, v.resources, allowed, dict(v.throughput)))
    return out


def type_allowed(way: Way, type_name: str) -> bool:
    """Whether the way may run on a GPU type: allowed by the workload and the variant and,
    with a throughput target, giving some throughput there."""
    if way.gpu_types is not None and type_name not in way.gpu_types:
        return False
    return way.workload.throughput is None or way.rate.get(type_name, 0.0) > 0


def replica_bounds(w: WorkloadSpec, ways: list[Way], fleet_types: list[str]) -> tuple[int, int]:
    """(min, max) replicas of a workload over all its ways.

    With a throughput target and no `replicas.max`, the most replicas ever useful: the
    target at the slowest rate any way runs at, doubled when losing a domain must leave
    the target intact, plus the domains a spread rule asks for.
    """
    if w.throughput is None:
        assert w.replicas is not None, "validation requires replicas without a throughput target"
        return w.replicas.min, w.replicas.max
    rates = [
        way.rate[t]
        for way in ways
        for t in fleet_types
        if type_allowed(way, t) and way.rate.get(t, 0) > 0
    ]
    useful = 0
    if rates:
        useful = math.ceil(w.throughput.target / min(rates)) * (2 if w.survive else 1)
        useful += max((s.min_domains or 0 for s in w.spread), default=0)
    low = w.replicas.min if w.replicas else 0
    high = min(w.replicas.max, useful) if w.replicas else useful
    return low, max(high, low, 1)


@dataclass(frozen=True, eq=False)
class Families:
    """Per workload (a family of demand rows): replica counts, priority and throughput."""

    ids: np.ndarray
    of_row: np.ndarray  # family of each demand row
    min: np.ndarray
    max: np.ndarray
    priority: np.ndarray
    target: np.ndarray  # throughput target, 0 for none
    unit: np.ndarray  # unit of the target, "" for none
    best_rate: np.ndarray  # fastest replica of the family anywhere, 0 without a target

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        return {wid: i for i, wid in enumerate(self.ids)}

    @cached_property
    def sizes(self) -> np.ndarray:
        """Demand rows per family."""
        return np.bincount(self.of_row, minlength=len(self))

    @cached_property
    def first_row(self) -> np.ndarray:
        """The row of each family's own resources (its only row without variants)."""
        return np.unique(self.of_row, return_index=True)[1]

    @property
    def required(self) -> np.ndarray:
        """Workloads that must run: with min replicas or a throughput target."""
        return (self.min > 0) | self.by_target

    def rows(self, f: int) -> np.ndarray:
        return np.flatnonzero(self.of_row == f)

    def total(self, per_row: np.ndarray) -> np.ndarray:
        """Sum a per-row quantity over each family's rows."""
        return np.bincount(
            self.of_row, weights=np.asarray(per_row, dtype=np.float64), minlength=len(self)
        )

    @property
    def by_target(self) -> np.ndarray:
        return self.target > 0

    @property
    def counted_priority(self) -> np.ndarray:
        """Weight of each unplaced replica in the unplaced-priority objective: none for a
        workload sized by its throughput target (more replicas are not better there)."""
        return np.where(self.by_target, 0, self.priority)

    def hard_shortfall(
        self,
        placed: np.ndarray,
        achieved: np.ndarray,
        lost: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Per workload, required replicas unplaced plus throughput missing from its target
        (in replicas of its fastest kind); with `lost` (what the worst loss of a domain
        takes, for workloads that must survive one), counted after that loss."""
        lost_replicas, lost_rate = lost if lost is not None else (0.0, 0.0)
        # A target survives by throughput; a replica count by replicas.
        count = np.maximum(self.min - (placed - np.where(self.by_target, 0, lost_replicas)), 0)
        # In whole units of the target, as the model counts it.
        missing = np.ceil(np.maximum(self.target - (achieved - lost_rate), 0.0) - 1e-9)
        return count + np.where(self.by_target, missing / np.maximum(self.best_rate, 1e-12), 0)
