"""Re-placing running replicas over any number of named resource dimensions.

The GPU inventory knows its resources by name (GPUs, CPU, RAM...); a reassignment knows
only R dimensions that nodes offer and replicas use, which is what a fleet looks like once
every rule is a number: a hard capacity and a lower *soft* capacity per node and
dimension (use above it costs), dimensions a moving replica holds on both nodes
(*transient*, e.g. disk while data is copied), balance between two dimensions on each
node, replicas of one workload on distinct nodes, spread over a minimum number of
domains, dependencies between workloads within a domain, and the cost of moving
(per replica, per node pair, and for the workload that moves most replicas).

Every amount and cost is an int64 so that sums are exact; indices are 0-based.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Reassignment:
    """R dimensions, N nodes, W workloads, I replicas, B balance terms, D dependencies."""

    resources: tuple[str, ...]  # (R,) names of the dimensions
    transient: np.ndarray  # (R,) bool: a moved replica holds it on the node it left
    load_weight: np.ndarray  # (R,) cost per unit used above the soft capacity
    capacity: np.ndarray  # (N, R) hard capacity
    soft_capacity: np.ndarray  # (N, R) use above it costs load_weight per unit
    spread_domain: np.ndarray  # (N,) domain id counted by min_domains (e.g. a zone)
    dependency_domain: np.ndarray  # (N,) domain id dependencies are kept within
    node_move_cost: np.ndarray  # (N, N) [from, to] cost of moving one replica, 0 on the diagonal
    min_domains: np.ndarray  # (W,) fewest distinct spread domains hosting the workload
    dependencies: np.ndarray  # (D, 2) [a, b]: each replica of a in a domain hosting b
    workload: np.ndarray  # (I,) workload of each replica; a workload's replicas never share a node
    need: np.ndarray  # (I, R) what a replica uses
    current: np.ndarray  # (I,) node each replica runs on now
    replica_move_cost: np.ndarray  # (I,) cost of moving the replica at all
    workload_move_weight: int  # cost per replica moved of the workload that moves most
    balance_first: np.ndarray  # (B,) dimension r1
    balance_second: np.ndarray  # (B,) dimension r2
    balance_target: np.ndarray  # (B,) cost sum_n max(0, target*free(n,r1) - free(n,r2))
    balance_weight: np.ndarray  # (B,)
    node_names: tuple[str, ...] = ()
    workload_names: tuple[str, ...] = ()
    replica_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        r, n, w, i, b = (
            len(self.resources),
            len(self.spread_domain),
            len(self.min_domains),
            len(self.workload),
            len(self.balance_target),
        )
        shapes = {
            "transient": (r,),
            "load_weight": (r,),
            "capacity": (n, r),
            "soft_capacity": (n, r),
            "dependency_domain": (n,),
            "node_move_cost": (n, n),
            "need": (i, r),
            "current": (i,),
            "replica_move_cost": (i,),
            "balance_first": (b,),
            "balance_second": (b,),
            "balance_weight": (b,),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.dependencies.shape[1:] != (2,):
            raise ValueError(f"dependencies has shape {self.dependencies.shape}, expected (D, 2)")
        for name, values, top in (
            ("workload", self.workload, w),
            ("current", self.current, n),
            ("dependencies", self.dependencies, w),
            ("balance_first", self.balance_first, r),
            ("balance_second", self.balance_second, r),
        ):
            if values.size and (values.min() < 0 or values.max() >= top):
                raise ValueError(f"{name} holds an index outside [0, {top})")

    @property
    def num_resources(self) -> int:
        return len(self.resources)

    @property
    def num_nodes(self) -> int:
        return len(self.spread_domain)

    @property
    def num_workloads(self) -> int:
        return len(self.min_domains)

    @property
    def num_replicas(self) -> int:
        return len(self.workload)

    def node_name(self, node: int) -> str:
        return self.node_names[node] if self.node_names else f"node {node}"

    def workload_name(self, workload: int) -> str:
        return self.workload_names[workload] if self.workload_names else f"workload {workload}"

    def replica_name(self, replica: int) -> str:
        return self.replica_names[replica] if self.replica_names else f"replica {replica}"

    @cached_property
    def needs(self) -> sp.csr_array:
        """(W x W) 0/1: row a has a 1 in column b if a depends on b."""
        d = self.dependencies
        ones = np.ones(len(d), dtype=np.int8)
        needs = sp.csr_array((ones, (d[:, 0], d[:, 1])), shape=(self.num_workloads,) * 2)
        needs.sum_duplicates()
        needs.data[:] = 1
        return needs

    def needs_of(self, workload: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, needed workload) for every dependency of each given workload."""
        rows = self.needs[np.asarray(workload)].tocoo()
        return rows.row.astype(np.int64), rows.col.astype(np.int64)

    @cached_property
    def depends_on(self) -> tuple[np.ndarray, ...]:
        """For each workload, the workloads it needs in its dependency domain."""
        return _rows(self.needs)

    @cached_property
    def needed_by(self) -> tuple[np.ndarray, ...]:
        """For each workload, the workloads that need it in their dependency domain."""
        return _rows(sp.csr_array(self.needs.T))


def _rows(matrix: sp.csr_array) -> tuple[np.ndarray, ...]:
    """The column indices of each row, sorted."""
    matrix = sp.csr_array(matrix)
    matrix.sort_indices()
    return tuple(np.split(matrix.indices.astype(np.int64), matrix.indptr[1:-1]))
