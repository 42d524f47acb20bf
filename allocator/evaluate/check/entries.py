"""The plan's entries: which replicas it places where, and that every replica of every
workload is accounted for exactly once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from allocator.domain.tables import Domain
from allocator.output.plan import PlanFile, row_key
from allocator.rules.base import Placed, Violation


@dataclass(frozen=True, eq=False)
class PlanReplicas:
    """The placements that name a known workload row and node, as arrays."""

    row: np.ndarray
    node: np.ndarray
    replica: np.ndarray  # the replica's number within its workload
    gpu_ptr: np.ndarray  # GPUs of replica k: gpu[gpu_ptr[k]:gpu_ptr[k + 1]]
    gpu: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    @property
    def placed(self) -> Placed:
        return Placed(self.row, self.node, self.replica)

    def gpus(self, k: int) -> list[int]:
        return self.gpu[self.gpu_ptr[k] : self.gpu_ptr[k + 1]].tolist()

    def who(self, domain: Domain, k: int) -> str:
        return (
            f"{domain.demand.ids[self.row[k]]} replica {self.replica[k]} "
            f"on {domain.fleet.ids[self.node[k]]}"
        )


def read_entries(domain: Domain, plan: PlanFile) -> tuple[PlanReplicas, list[Violation]]:
    """The known placements, and the entries that name what the inventory does not have
    or list a replica twice."""
    out = []
    demand, fleet = domain.demand, domain.fleet
    rows, nodes, numbers, gpus = [], [], [], []
    seen: Counter[tuple[str, int]] = Counter()
    for k, p in enumerate(plan.placements):
        seen[(p.workload, p.replica)] += 1
        row = demand.index.get(row_key(p))
        if row is None:
            what = (
                f"workload {p.workload!r} has no variant {p.variant!r}"
                if p.workload in demand.families.index
                else f"workload {p.workload!r} is not in the inventory"
            )
            out.append(Violation("unknown_workload", f"placements[{k}]: {what}"))
        elif p.node not in fleet.index:
            out.append(
                Violation(
                    "unknown_node", f"placements[{k}]: node {p.node!r} is not in the inventory"
                )
            )
        else:
            rows.append(row)
            nodes.append(fleet.index[p.node])
            numbers.append(p.replica)
            gpus.append(p.gpus)
    for k, u in enumerate(plan.unplaced):
        seen[(u.workload, u.replica)] += 1
        if u.workload not in demand.families.index:
            out.append(
                Violation(
                    "unknown_workload",
                    f"unplaced[{k}]: workload {u.workload!r} is not in the inventory",
                )
            )
    out += [
        Violation("duplicate_replica", f"{workload} replica {replica} appears {times} times")
        for (workload, replica), times in sorted(seen.items())
        if times > 1
    ]
    sizes = np.array([len(g) for g in gpus], dtype=np.int64)
    known = PlanReplicas(
        np.array(rows, dtype=np.int64),
        np.array(nodes, dtype=np.int64),
        np.array(numbers, dtype=np.int64),
        np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        np.array([g for each in gpus for g in each], dtype=np.int64),
    )
    return known, out


def replica_accounting(domain: Domain, plan: PlanFile, known: PlanReplicas) -> list[Violation]:
    """Per workload (over its variants): placed + listed unplaced = max, the required
    ones flagged; no replica number beyond max; a workload sized by a throughput target
    lists none unplaced."""
    families = domain.demand.families
    placed = np.bincount(domain.demand.family[known.row], minlength=len(families)).astype(np.int64)
    listed = np.zeros(len(families), dtype=np.int64)
    flagged = np.zeros(len(families), dtype=np.int64)
    for u in plan.unplaced:
        f = families.index.get(u.workload)
        if f is not None:
            listed[f] += 1
            flagged[f] += int(u.required)
    low, high, target = families.min, families.max, families.by_target
    expected_flags = np.maximum(low - placed, 0)
    out = []
    for f in np.flatnonzero(
        (placed > high)
        | (target & (listed > 0))
        | (~target & ((placed + listed != high) | (flagged != expected_flags)))
    ):
        wid = families.ids[f]
        if placed[f] > high[f]:
            out.append(
                Violation("replica_count", f"{wid}: {placed[f]} replicas placed, max is {high[f]}")
            )
        if target[f]:
            if listed[f]:
                out.append(
                    Violation(
                        "replica_count",
                        f"{wid}: {listed[f]} replicas listed unplaced; a workload sized by "
                        "its throughput target lists none",
                    )
                )
            continue
        if placed[f] + listed[f] != high[f]:
            out.append(
                Violation(
                    "replica_count",
                    f"{wid}: {placed[f]} placed + {listed[f]} "
                    f"listed unplaced != {high[f]} replicas wanted",
                )
            )
        if flagged[f] != expected_flags[f]:
            out.append(
                Violation(
                    "required_flag",
                    f"{wid}: {flagged[f]} unplaced replicas "
                    f"marked required, expected {expected_flags[f]} "
                    f"(min {low[f]}, placed {placed[f]})",
                )
            )
    for k, p in enumerate([*plan.placements, *plan.unplaced]):
        f = families.index.get(p.workload)
        if f is not None and p.replica >= high[f]:
            out.append(
                Violation(
                    "replica_count",
                    f"{p.workload} replica {p.replica} is beyond max {high[f]} (entry {k})",
                )
            )
    return out
