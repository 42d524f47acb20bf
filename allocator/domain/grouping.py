"""Index arithmetic over arrays grouped by a key (rules by workload, pairs by workload,
replicas by place): CSR pointers, range expansion, membership and distinct keys, so that
code over groups is one array expression instead of a loop per group."""

from __future__ import annotations

import numpy as np


def by_family(f: np.ndarray, n_families: int) -> np.ndarray:
    """CSR pointer over a table sorted by workload: rows of f are ptr[f]:ptr[f + 1]."""
    return np.searchsorted(f, np.arange(n_families + 1)).astype(np.int64)


def expand(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [starts[k], starts[k] + lengths[k]): (k of each element, the element)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    k = np.repeat(np.arange(len(lengths)), lengths)
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return k, np.asarray(starts, dtype=np.int64)[k] + offset


def members(values: np.ndarray, wanted: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each wanted[k] (in 0..size-1), every i with values[i] == wanted[k]: (k, i)."""
    order = np.argsort(values, kind="stable")
    ptr = by_family(np.asarray(values)[order], size)
    wanted = np.asarray(wanted, dtype=np.int64)
    k, position = expand(ptr[wanted], ptr[wanted + 1] - ptr[wanted])
    return k, order[position]


def rank_among_equal(keys: np.ndarray) -> np.ndarray:
    """Each element's rank among the elements with its key, in order."""
    order = np.argsort(keys, kind="stable")
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.arange(len(keys)) - np.searchsorted(keys[order], keys[order])
    return ranks


def group_keys(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of the stacked integer columns (sorted) and each row's index among them."""
    if not len(columns[0]):
        return np.zeros((0, len(columns)), dtype=np.int64), np.zeros(0, dtype=np.int64)
    stacked = np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1)
    keys, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return keys, inverse.ravel()


def keys_at(keys: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each row of the columns sits among distinct sorted `keys` (of two integer
    columns, from `group_keys`), and whether it is there at all."""
    first, second = (np.asarray(c, dtype=np.int64) for c in columns)
    if not len(keys):
        return np.zeros(len(first), dtype=np.int64), np.zeros(len(first), dtype=bool)
    width = int(max(keys[:, 1].max(initial=0), second.max(initial=0))) + 1
    at = np.searchsorted(keys[:, 0] * width + keys[:, 1], first * width + second)
    at = np.minimum(at, len(keys) - 1)
    return at, (keys[at, 0] == first) & (keys[at, 1] == second)
