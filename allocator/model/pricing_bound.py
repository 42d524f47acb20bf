"""Upper bounds on what one node pattern can be worth, by dynamic programming.

Column generation may stop only when no pattern of any group is worth more than its node
costs, and the bound it reports needs, per group, an upper bound on the best pattern's
worth. The pricing MIP gives one but takes seconds; this gives one in milliseconds.

Relax the node's CPU, RAM, NVMe and NIC with multipliers (a Lagrangian relaxation) and
drop per-GPU memory and the node rules: what is left splits into knapsacks solved
exactly by small dynamic programs over GPU counts, milli-GPU and MIG slices:

  U(lam) = lam . capacity + max_w [ W(w) + (G - w) max(F, M, 0) ] + CPU-only part

with W(w) the best whole-GPU replicas on w GPUs, F the best set of GPU fractions on one
GPU and M the best MIG instances on one GPU, every replica valued at its dual minus
lam . its node resources. Any lam >= 0 gives a valid bound; a few sweeps of golden-section
search per multiplier make it tight.
"""

from __future__ import annotations

import math

import numpy as np

from allocator.domain.units import MILLI
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.model import pricing_kernel
from allocator.model.reduce import FRACTION, MIG, WHOLE, PackingInstance

_SWEEPS = 2
_GOLDEN_STEPS = 10
# Once multipliers were found for earlier duals, one sweep from them is enough: duals move
# little between rounds of column generation.
_WARM_SWEEPS = 1


class PatternBound:
    """Upper bounds on one group's best pattern worth, for changing values (duals)."""

    def __init__(self, inst: PackingInstance, g: int, ub: np.ndarray):
        self.inst, self.g = inst, g
        shapes, groups = inst.shapes, inst.groups
        self.gpus = int(groups.gpus[g])
        self.capacity = groups.capacity[g, 1:].astype(np.float64)
        self.candidates = np.flatnonzero((ub > 0) & (inst.fit[:, g] > 0))
        self.ub = ub
        self.need = shapes.demand[:, 1:].astype(np.float64)
        kind, whole_gpus = shapes.kind, shapes.demand[:, 0]
        self.whole = self._of((kind == WHOLE) & (whole_gpus > 0))
        self.cpu_only = self._of((kind == WHOLE) & (whole_gpus == 0))
        self.fraction = self._of(kind == FRACTION) if self.gpus else np.zeros(0, int)
        self.mig = self._of(kind == MIG) if self.gpus and groups.mig[g] else np.zeros(0, int)
        milli = shapes.milli[self.fraction]
        self.unit = math.gcd(MILLI, *milli.tolist()) if len(milli) else MILLI
        self.mig_slices = self._mig_slices()
        # Each fraction shape as a few 0/1 knapsack items: (shape, milli units, copies).
        size = MILLI // self.unit
        self.fraction_items = [
            (int(s), k * copies, copies)
            for s, k in zip(self.fraction.tolist(), (milli // self.unit).tolist(), strict=True)
            for copies in binary_split(min(int(ub[s]), size // k))
        ]
        items = np.array(self.fraction_items, dtype=np.int64).reshape(-1, 3)
        self.item_shape, self.item_units, self.item_copies = items.T.copy()
        self.lam = np.zeros(len(self.capacity))
        # W(w) by GPU-count class: each whole shape as its copies that fit the node, and per
        # class the most copies w GPUs could hold.
        gpus_each = shapes.demand[self.whole, 0]
        copies = np.minimum(ub[self.whole], self.gpus // np.maximum(gpus_each, 1))
        self.copy_shape = np.repeat(self.whole, copies)
        self.copy_class = np.repeat(gpus_each, copies)
        self.classes = np.unique(self.copy_class)

    def _of(self, mask: np.ndarray) -> np.ndarray:
        return self.candidates[mask[self.candidates]]

    def _mig_slices(self) -> np.ndarray:
        groups = self.inst.groups
        out = np.zeros((len(self.mig), 2), dtype=np.int64)
        if len(self.mig):
            gpu_type = groups.gpu_types[groups.gpu_type[self.g]]
            for k, s in enumerate(self.mig):
                if self.inst.shapes.mig_profile[s] in gpu_type.mig_profiles:
                    out[k] = self.inst.shapes.mig_slices(s, gpu_type)
        return out

    def bound(self, value: np.ndarray) -> float:
        """An upper bound on sum(value[s] x replicas of s) over every pattern of the group,
        at the best multipliers found (kept for the next call: duals change little)."""
        used = np.flatnonzero((self.need[self.candidates] > 0).any(axis=0))
        best = self.evaluate(value, self.lam)
        for _ in range(_WARM_SWEEPS if self.lam.any() else _SWEEPS):
            before = best
            for d in used:
                best = self._line_search(value, int(d), best)
            if best >= before - 1e-9 * max(1.0, abs(before)):
                break
        return best

    def _line_search(self, value: np.ndarray, d: int, best: float) -> float:
        """Golden-section search of multiplier d (U is convex in it)."""
        rates = value[self.candidates] / np.maximum(self.need[self.candidates, d], 1e-12)
        hi = float(rates[self.need[self.candidates, d] > 0].max(initial=0.0))
        lo = 0.0
        ratio = (math.sqrt(5) - 1) / 2

        def at(x: float) -> float:
            lam = self.lam.copy()
            lam[d] = x
            return self.evaluate(value, lam)

        a, b = lo, hi
        c, e = b - ratio * (b - a), a + ratio * (b - a)
        fc, fe = at(c), at(e)
        for _ in range(_GOLDEN_STEPS):
            if fc <= fe:
                b, e, fe = e, c, fc
                c = b - ratio * (b - a)
                fc = at(c)
            else:
                a, c, fc = c, e, fe
                e = a + ratio * (b - a)
                fe = at(e)
        for x, fx in ((c, fc), (e, fe), (lo, at(lo))):  # the search never reaches 0 itself
            if fx < best:
                best = fx
                self.lam[d] = x
        return best

    def evaluate(self, value: np.ndarray, lam: np.ndarray) -> float:
        """U(lam): the relaxed node's best worth plus lam . capacity."""
        if pricing_kernel.AVAILABLE:
            return pricing_kernel.relaxed_node_worth(
                value,
                lam,
                self.need,
                self.capacity,
                self.ub,
                self.cpu_only,
                self.gpus,
                self.copy_shape,
                self.copy_class,
                self.classes,
                self.item_shape,
                self.item_units,
                self.item_copies,
                MILLI // self.unit,
                self.mig,
                self.mig_slices,
                MIG_COMPUTE_SLICES,
                MIG_MEMORY_SLICES,
            )
        adjusted = value - self.need @ lam
        total = float(lam @ self.capacity)
        cpu_only = self.cpu_only[adjusted[self.cpu_only] > 0]
        total += float((adjusted[cpu_only] * self.ub[cpu_only]).sum())
        if self.gpus == 0:
            return total
        whole = self._whole_gpus(adjusted)
        per_gpu = max(self._fraction_gpu(adjusted), self._mig_gpu(adjusted), 0.0)
        w = np.arange(self.gpus + 1)
        return total + float((whole + (self.gpus - w) * per_gpu).max())

    def _whole_gpus(self, adjusted: np.ndarray) -> np.ndarray:
        """W(w): best worth of whole-GPU replicas on at most w GPUs. Within a class of shapes
        taking k GPUs each, the best m replicas are the m most valuable copies; the classes
        combine by a max-plus convolution over GPU counts."""
        best = np.zeros(self.gpus + 1)
        if len(self.copy_shape) == 0:
            return best
        worth = np.maximum(adjusted[self.copy_shape], 0.0)
        order = np.lexsort((-worth, self.copy_class))
        worth, classes = worth[order], self.copy_class[order]
        starts = np.searchsorted(classes, self.classes)
        for k, start in zip(self.classes.tolist(), starts.tolist(), strict=True):
            most = self.gpus // k
            top = worth[start : start + most][classes[start : start + most] == k]
            prefix = np.cumsum(top)
            combined = best.copy()
            for m, gained in enumerate(prefix.tolist(), start=1):
                shift = k * m
                np.maximum(
                    combined[shift:], best[: len(best) - shift] + gained, out=combined[shift:]
                )
            best = combined
        return best

    def _fraction_gpu(self, adjusted: np.ndarray) -> float:
        """F: best worth of GPU fractions sharing one GPU (its memory relaxed)."""
        if not (adjusted[self.fraction] > 0).any():
            return 0.0
        best = np.zeros(MILLI // self.unit + 1)
        for s, shift, copies in self.fraction_items:
            if adjusted[s] > 0:
                gained = best[: len(best) - shift] + copies * adjusted[s]
                np.maximum(best[shift:], gained, out=best[shift:])
        return float(best[-1])

    def _mig_gpu(self, adjusted: np.ndarray) -> float:
        """M: best worth of MIG instances on one GPU (compute and memory slices)."""
        keep = (adjusted[self.mig] > 0) & (self.mig_slices[:, 0] > 0)
        if not keep.any():
            return 0.0
        best = np.zeros((MIG_COMPUTE_SLICES + 1, MIG_MEMORY_SLICES + 1))
        for s, (c, m) in zip(self.mig[keep], self.mig_slices[keep], strict=True):
            most = min(int(self.ub[s]), MIG_COMPUTE_SLICES // int(c), MIG_MEMORY_SLICES // int(m))
            for copies in binary_split(most):
                cc, mm = c * copies, m * copies
                gained = best[: best.shape[0] - cc, : best.shape[1] - mm] + copies * adjusted[s]
                np.maximum(best[cc:, mm:], gained, out=best[cc:, mm:])
        return float(best[-1, -1])


def binary_split(count: int) -> list[int]:
    """Bundle sizes 1, 2, 4, ... (and the rest) whose subsets make every number up to
    `count`: a bounded knapsack item as a few 0/1 items."""
    sizes, size = [], 1
    while count > 0:
        take = min(size, count)
        sizes.append(take)
        count -= take
        size *= 2
    return sizes
