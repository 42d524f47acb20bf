"""The neutral optimization problem handed to solver backends.

A minimization over columns x with bounds and integrality, linear rows
``row_lo <= A x <= row_hi`` held as one sparse CSR matrix, and named blocks of
columns and rows so that diagnostics and decoding never parse strings.
Backends see nothing of the domain; the builder imports no solver library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

INF = np.inf


@dataclass(frozen=True)
class Block:
    """A contiguous range of columns or rows that share a meaning, e.g. `assign[w,g]`."""

    name: str
    start: int
    stop: int
    labels: Sequence[str] | None = None

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    def label(self, offset: int) -> str:
        inner = self.labels[offset] if self.labels is not None else str(offset)
        return f"{self.name}[{inner}]"


@dataclass(frozen=True, eq=False)
class Basis:
    """A simplex basis: the status of every column and of every row (its activity), one of
    AT_LOWER, BASIC, AT_UPPER or AT_ZERO (a free column out of the basis).

    An LP re-solved after columns or rows were added starts from the last basis
    (`extended`) in a few pivots where a solve from scratch takes thousands."""

    AT_LOWER, BASIC, AT_UPPER, AT_ZERO = 0, 1, 2, 3

    cols: np.ndarray  # (n_cols,) int8
    rows: np.ndarray  # (n_rows,) int8

    def extended(self, old: Problem, new: Problem) -> Basis:
        """This basis of `old` for `new`, whose blocks of the same name hold old's entries
        first (blocks only grow at their ends): added columns start out of the basis at a
        finite bound, added rows in it, so the count of basic entries still matches."""
        cols = np.where(
            np.isfinite(new.col_lo),
            Basis.AT_LOWER,
            np.where(np.isfinite(new.col_hi), Basis.AT_UPPER, Basis.AT_ZERO),
        ).astype(np.int8)
        rows = np.full(new.n_rows, Basis.BASIC, dtype=np.int8)
        for status, source, before, after in (
            (cols, self.cols, old.col_blocks, new.col_blocks),
            (rows, self.rows, old.row_blocks, new.row_blocks),
        ):
            was = {b.name: b for b in before}
            for block in after:
                if block.name in was:
                    size = min(len(block), len(was[block.name]))
                    start = was[block.name].start
                    status[block.start : block.start + size] = source[start : start + size]
        return Basis(cols, rows)


@dataclass(frozen=True, eq=False)
class Problem:
    """min cost @ x + offset  s.t.  row_lo <= a @ x <= row_hi, col_lo <= x <= col_hi."""

    a: sp.csr_array
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    cost: np.ndarray
    offset: float = 0.0
    name: str = "problem"
    col_blocks: tuple[Block, ...] = ()
    row_blocks: tuple[Block, ...] = ()

    def __post_init__(self) -> None:
        m, n = self.a.shape
        for vec, size, what in (
            (self.row_lo, m, "row_lo"),
            (self.row_hi, m, "row_hi"),
            (self.col_lo, n, "col_lo"),
            (self.col_hi, n, "col_hi"),
            (self.integer, n, "integer"),
            (self.cost, n, "cost"),
        ):
            if len(vec) != size:
                raise ValueError(f"{what} has length {len(vec)}, expected {size}")

    @property
    def n_cols(self) -> int:
        return self.a.shape[1]

    @property
    def n_rows(self) -> int:
        return self.a.shape[0]

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())

    def col_block(self, name: str) -> Block:
        return _find(self.col_blocks, name)

    def row_block(self, name: str) -> Block:
        return _find(self.row_blocks, name)

    def col_name(self, j: int) -> str:
        return _name_of(self.col_blocks, j, "x")

    def row_name(self, i: int) -> str:
        return _name_of(self.row_blocks, i, "r")

    def objective_value(self, x: np.ndarray) -> float:
        return float(self.cost @ x + self.offset)

    def with_objective(self, cost: np.ndarray, offset: float = 0.0) -> Problem:
        return replace(self, cost=np.asarray(cost, dtype=np.float64), offset=offset)

    def with_rows(self, a: sp.csr_array, lo: np.ndarray, hi: np.ndarray, name: str) -> Problem:
        """A copy with rows appended as a new block."""
        start = self.n_rows
        return replace(
            self,
            a=sp.csr_array(sp.vstack([self.a, a], format="csr")),
            row_lo=np.concatenate([self.row_lo, lo]),
            row_hi=np.concatenate([self.row_hi, hi]),
            row_blocks=(*self.row_blocks, Block(name, start, start + a.shape[0])),
        )

    def with_lp_relaxation(self) -> Problem:
        return replace(self, integer=np.zeros_like(self.integer))

    def violations(self, x: np.ndarray, tol: float = 1e-6) -> list[str]:
        """Which bounds, rows or integrality conditions x breaks (for tests and checks)."""
        out = []
        ax = self.a @ x
        for i in np.flatnonzero((ax < self.row_lo - tol) | (ax > self.row_hi + tol))[:20]:
            out.append(
                f"{self.row_name(i)}: {ax[i]:g} not in [{self.row_lo[i]:g}, {self.row_hi[i]:g}]"
            )
        for j in np.flatnonzero((x < self.col_lo - tol) | (x > self.col_hi + tol))[:20]:
            out.append(
                f"{self.col_name(j)} = {x[j]:g} not in [{self.col_lo[j]:g}, {self.col_hi[j]:g}]"
            )
        frac = self.integer & (np.abs(x - np.round(x)) > tol)
        out.extend(
            f"{self.col_name(j)} = {x[j]:g} is not integral" for j in np.flatnonzero(frac)[:20]
        )
        return out


def _find(blocks: tuple[Block, ...], name: str) -> Block:
    for block in blocks:
        if block.name == name:
            return block
    raise KeyError(name)


def _name_of(blocks: tuple[Block, ...], k: int, default: str) -> str:
    for block in blocks:
        if block.start <= k < block.stop:
            return block.label(k - block.start)
    return f"{default}{k}"


class ProblemBuilder:
    """Accumulates column and row blocks as arrays, then assembles one CSR matrix.

    Coefficients are given as (row, col, value) triplets relative to their blocks, so
    each constraint family is a few vectorized calls, never a loop over elements.
    """

    def __init__(self, name: str = "problem"):
        self.name = name
        self._cols: list[tuple[Block, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._rows: list[tuple[Block, np.ndarray, np.ndarray]] = []
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._n_cols = 0
        self._n_rows = 0

    def copy(self) -> ProblemBuilder:
        """A builder holding the same blocks so far, to extend without changing this one."""
        other = ProblemBuilder(self.name)
        other._cols, other._rows = list(self._cols), list(self._rows)
        other._entries = list(self._entries)
        other._n_cols, other._n_rows = self._n_cols, self._n_rows
        return other

    def row_names(self) -> set[str]:
        return {r[0].name for r in self._rows}

    def row_block(self, name: str) -> Block:
        """The row block added under `name`."""
        return _find(tuple(r[0] for r in self._rows), name)

    def add_columns(
        self,
        name: str,
        count: int,
        *,
        lo: float | np.ndarray = 0.0,
        hi: float | np.ndarray = INF,
        integer: bool = True,
        cost: float | np.ndarray = 0.0,
        labels: Sequence[str] | None = None,
    ) -> Block:
        block = Block(name, self._n_cols, self._n_cols + count, labels)
        self._cols.append(
            (
                block,
                np.broadcast_to(np.asarray(lo, dtype=np.float64), (count,)),
                np.broadcast_to(np.asarray(hi, dtype=np.float64), (count,)),
                np.full(count, integer, dtype=bool),
                np.broadcast_to(np.asarray(cost, dtype=np.float64), (count,)),
            )
        )
        self._n_cols += count
        return block

    def add_rows(
        self,
        name: str,
        count: int,
        *,
        lo: float | np.ndarray = -INF,
        hi: float | np.ndarray = INF,
        labels: Sequence[str] | None = None,
    ) -> Block:
        block = Block(name, self._n_rows, self._n_rows + count, labels)
        self._rows.append(
            (
                block,
                np.broadcast_to(np.asarray(lo, dtype=np.float64), (count,)),
                np.broadcast_to(np.asarray(hi, dtype=np.float64), (count,)),
            )
        )
        self._n_rows += count
        return block

    def add_entries(
        self,
        rows: Block,
        row: np.ndarray | Sequence[int],
        cols: Block,
        col: np.ndarray | Sequence[int],
        value: float | np.ndarray,
    ) -> None:
        """Coefficients A[rows.start + row, cols.start + col] += value."""
        r = np.asarray(row, dtype=np.int64)
        c = np.asarray(col, dtype=np.int64)
        v = np.broadcast_to(np.asarray(value, dtype=np.float64), r.shape)
        self._entries.append((r + rows.start, c + cols.start, v))

    def build(self, offset: float = 0.0) -> Problem:
        def cat(parts: list[np.ndarray], dtype: npt.DTypeLike) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        if self._entries:
            rows, cols, vals = (np.concatenate(p) for p in zip(*self._entries, strict=True))
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            vals = np.zeros(0)
        a = sp.csr_array(
            sp.coo_array((vals, (rows, cols)), shape=(self._n_rows, self._n_cols)).tocsr()
        )
        a.sum_duplicates()
        return Problem(
            a=a,
            row_lo=cat([r[1] for r in self._rows], np.float64),
            row_hi=cat([r[2] for r in self._rows], np.float64),
            col_lo=cat([c[1] for c in self._cols], np.float64),
            col_hi=cat([c[2] for c in self._cols], np.float64),
            integer=cat([c[3] for c in self._cols], bool),
            cost=cat([c[4] for c in self._cols], np.float64),
            offset=offset,
            name=self.name,
            col_blocks=tuple(c[0] for c in self._cols),
            row_blocks=tuple(r[0] for r in self._rows),
        )
