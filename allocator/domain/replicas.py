"""Where each placed replica runs: its node and the GPU indices it uses there.

One entry per replica, as flat arrays (GPU indices in CSR form), so heuristics,
decoding, checking and reporting share one vectorized representation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Replicas:
    workload: np.ndarray  # (replicas,)
    node: np.ndarray  # (replicas,)
    gpu_ptr: np.ndarray  # (replicas + 1,): GPUs of replica r are gpu_index[gpu_ptr[r]:gpu_ptr[r+1]]
    gpu_index: np.ndarray
    n_nodes: int
    n_workloads: int
    # Storage system holding each workload's dataset (-1: none); None when not chosen yet.
    dataset_on: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.workload)

    @classmethod
    def empty(cls, n_nodes: int, n_workloads: int) -> Replicas:
        zero = np.zeros(0, dtype=np.int64)
        return cls(zero, zero, np.zeros(1, dtype=np.int64), zero, n_nodes, n_workloads)

    @classmethod
    def build(
        cls,
        workload: list[int] | np.ndarray,
        node: list[int] | np.ndarray,
        gpus: list[list[int]] | list[np.ndarray],
        n_nodes: int,
        n_workloads: int,
    ) -> Replicas:
        sizes = np.array([len(g) for g in gpus], dtype=np.int64)
        flat = (
            np.concatenate([np.asarray(g, dtype=np.int64) for g in gpus])
            if len(gpus)
            else np.zeros(0, dtype=np.int64)
        )
        return cls(
            np.asarray(workload, dtype=np.int64),
            np.asarray(node, dtype=np.int64),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            flat,
            n_nodes,
            n_workloads,
        )

    def gpus(self, r: int) -> np.ndarray:
        return self.gpu_index[self.gpu_ptr[r] : self.gpu_ptr[r + 1]]

    def counts(self) -> sp.csr_array:
        """(nodes x workloads) replica counts."""
        return sp.csr_array(
            (np.ones(len(self), dtype=np.int64), (self.node, self.workload)),
            shape=(self.n_nodes, self.n_workloads),
        )

    def placed(self) -> np.ndarray:
        return np.bincount(self.workload, minlength=self.n_workloads)

    def nodes_in_use(self) -> np.ndarray:
        return np.bincount(self.node, minlength=self.n_nodes) > 0

    def sorted(self) -> Replicas:
        """Canonical order: by workload, then node, then first GPU."""
        sizes = np.diff(self.gpu_ptr)
        first = np.full(len(self), -1, dtype=np.int64)
        has = sizes > 0
        first[has] = self.gpu_index[self.gpu_ptr[:-1][has]]
        return self.take(np.lexsort((first, self.node, self.workload)))

    def take(self, order: np.ndarray) -> Replicas:
        sizes = np.diff(self.gpu_ptr)[order]
        starts = self.gpu_ptr[:-1][order]
        offsets = np.cumsum(sizes) - sizes
        flat = np.repeat(starts - offsets, sizes) + np.arange(int(sizes.sum()))
        return Replicas(
            self.workload[order],
            self.node[order],
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            self.gpu_index[flat],
            self.n_nodes,
            self.n_workloads,
            self.dataset_on,
        )
