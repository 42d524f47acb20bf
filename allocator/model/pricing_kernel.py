"""Compiled inner loops of column generation's pricing (numba, the `fast` extra).

Every round of column generation fills nodes in a given order hundreds of times
(`pricing.relaxed_patterns`) and solves thousands of one-GPU knapsacks for the pattern
bound (`pricing_bound`, tens of thousands of evaluations of its relaxation, each a few
small knapsacks). Both are loops over a few GPUs and a few hundred shapes, where numpy's
per-call overhead is most of the time: compiled, they take a small fraction of it. The
results are those of the numpy code they stand in for (the tests compare the two): the
same patterns, and bounds equal to rounding (a few sums run in another order). Without
numba, `AVAILABLE` is False and the numpy code runs.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable

import numpy as np

from allocator.model.reduce import FRACTION, WHOLE

AVAILABLE = importlib.util.find_spec("numba") is not None

# GPU modes of a node being filled (as in `nodepack.NodePacker`).
FREE, WHOLE_MODE, FRACTION_MODE, MIG_MODE = 0, 1, 2, 3
_ANY = 1 << 62  # no limit from a dimension the shape does not use


def _jit(function: Callable) -> Callable:
    """`function` compiled on its first call, so that a plan that never prices does not
    import numba (a third of a second with the machine code cached on disk; the first
    run after an install compiles it, about 4 s for all of these)."""
    compiled: list[Callable] = []

    @functools.wraps(function)
    def call(*args):
        if not compiled:
            import numba

            compiled.append(numba.njit(cache=True, nogil=True)(function))
        return compiled[0](*args)

    return call


@_jit
def fill_in_order(
    order,
    limit,
    kind,
    demand,
    fraction_need,
    fraction_capacity,
    mig_need,
    mig_capacity,
    free,
    mode,
    left,
    content,
    whole,
):  # pragma: no cover - compiled; the tests compare it with the numpy packer
    """Place up to limit[k] replicas of shape order[k], k = 0, 1, ..., on one node, each as
    far as it fits (`demand`: whole GPUs, then the node resources of `free`, per shape):
    whole-GPU shapes on the first free GPUs, shared ones on the GPUs of
    their kind that are fullest first, then on free ones. Updates the node's state in
    place: resources `free`, per-GPU `mode` and `left` (room on a shared GPU), per-GPU
    `content` and `whole` counts. The node rules are not checked."""
    n_gpus = mode.shape[0]
    n_dims = free.shape[0]
    for k in range(order.shape[0]):
        s = order[k]
        fit = limit[k]
        for d in range(n_dims):
            if demand[s, d + 1] > 0:
                fit = min(fit, free[d] // demand[s, d + 1])
        if fit <= 0:
            continue
        if kind[s] == WHOLE:
            free_gpus = 0
            for gpu in range(n_gpus):
                if mode[gpu] == FREE:
                    free_gpus += 1
            per = demand[s, 0]
            if per > free_gpus:
                continue
            if per > 0:
                fit = min(fit, free_gpus // per)
            taken = fit * per
            for gpu in range(n_gpus):
                if taken == 0:
                    break
                if mode[gpu] == FREE:
                    mode[gpu] = WHOLE_MODE
                    taken -= 1
            whole[s] += fit
            for d in range(n_dims):
                free[d] -= fit * demand[s, d + 1]
            continue
        if kind[s] == FRACTION:
            need, capacity, shared_mode = fraction_need[s], fraction_capacity, FRACTION_MODE
        else:
            need, capacity, shared_mode = mig_need[s], mig_capacity, MIG_MODE
        if need[0] <= 0 and need[1] <= 0:
            continue
        if need[0] > capacity[0] or need[1] > capacity[1]:
            continue
        # Shared GPUs of this kind, fullest (least room in the first dimension) first.
        opened = np.empty(n_gpus, dtype=np.int64)
        n_opened = 0
        for gpu in range(n_gpus):
            if mode[gpu] == shared_mode:
                at = n_opened
                while at > 0 and left[opened[at - 1], 0] > left[gpu, 0]:
                    opened[at] = opened[at - 1]
                    at -= 1
                opened[at] = gpu
                n_opened += 1
        placed = 0
        for j in range(n_opened + n_gpus):
            if placed >= fit:
                break
            if j < n_opened:
                gpu = opened[j]
                room0, room1 = left[gpu, 0], left[gpu, 1]
            else:
                gpu = j - n_opened
                if mode[gpu] != FREE:
                    continue
                room0, room1 = capacity[0], capacity[1]
            room = min(
                room0 // need[0] if need[0] > 0 else _ANY,
                room1 // need[1] if need[1] > 0 else _ANY,
            )
            take = min(room, fit - placed)
            if take <= 0:
                continue
            if mode[gpu] == FREE:
                mode[gpu] = shared_mode
                left[gpu, 0] = capacity[0]
                left[gpu, 1] = capacity[1]
            left[gpu, 0] -= take * need[0]
            left[gpu, 1] -= take * need[1]
            content[gpu, s] += take
            placed += take
        for d in range(n_dims):
            free[d] -= placed * demand[s, d + 1]


@_jit
def gpu_knapsack(steps, gains, item_row, item_copies, size0, size1, n_rows):  # pragma: no cover
    """The most valuable set of 0/1 items on one GPU's table of size0 x size1 units: item k
    takes steps[k] units and is worth gains[k]. Returns the copies chosen per row
    (item k adds item_copies[k] to row item_row[k]). The same sums and ties as the numpy
    version in `pricing._one_gpu`: a cell keeps the larger value, an item counts as taken
    where it gains more than 1e-12, and the first best cell wins."""
    n_items = steps.shape[0]
    best = np.zeros((size0, size1))
    took = np.zeros((n_items, size0, size1), dtype=np.bool_)
    for k in range(n_items):
        c0, c1 = steps[k, 0], steps[k, 1]
        for a0 in range(size0 - 1, c0 - 1, -1):
            for a1 in range(size1 - 1, c1 - 1, -1):
                gained = best[a0 - c0, a1 - c1] + gains[k]
                if gained > best[a0, a1] + 1e-12:
                    took[k, a0, a1] = True
                if gained > best[a0, a1]:
                    best[a0, a1] = gained
    at0, at1, top = 0, 0, best[0, 0]
    for a0 in range(size0):
        for a1 in range(size1):
            if best[a0, a1] > top:
                at0, at1, top = a0, a1, best[a0, a1]
    counts = np.zeros(n_rows, dtype=np.int64)
    for k in range(n_items - 1, -1, -1):
        if took[k, at0, at1]:
            counts[item_row[k]] += item_copies[k]
            at0 -= steps[k, 0]
            at1 -= steps[k, 1]
    return counts


@_jit
def relaxed_node_worth(
    value,
    lam,
    need,
    capacity,
    ub,
    cpu_only,
    gpus,
    copy_shape,
    copy_class,
    classes,
    item_shape,
    item_units,
    item_copies,
    size,
    mig,
    mig_slices,
    compute_slices,
    memory_slices,
):  # pragma: no cover - compiled; the tests compare it with `PatternBound.evaluate`
    """U(lam) of `pricing_bound.PatternBound.evaluate` in one call: each shape worth its
    value less lam times its node resources; lam . capacity, the CPU-only replicas worth
    something, and the best split of the node's GPUs between whole-GPU replicas (W(w),
    copy c of a shape being copy_shape[c], taking copy_class[c] GPUs) and GPUs that each
    hold the best set of fractions (0/1 items: shape item_shape[k], item_copies[k]
    replicas in item_units[k] of `size` units) or of MIG instances (compute and memory
    slices per shape of `mig`). The sums of the numpy version, in loops: equal to
    rounding."""
    n_shapes, n_dims = need.shape
    adjusted = np.empty(n_shapes)
    for s in range(n_shapes):
        used = 0.0
        for d in range(n_dims):
            used += need[s, d] * lam[d]
        adjusted[s] = value[s] - used
    total = 0.0
    for d in range(n_dims):
        total += lam[d] * capacity[d]
    for s in cpu_only:
        if adjusted[s] > 0:
            total += adjusted[s] * ub[s]
    if gpus == 0:
        return total
    # W(w): within a class of shapes taking k GPUs each, the best m replicas are the m most
    # valuable copies; the classes combine by a max-plus convolution over GPU counts.
    whole = np.zeros(gpus + 1)
    for k in classes:
        mine = np.empty(copy_shape.shape[0])
        n = 0
        for c in range(copy_shape.shape[0]):
            if copy_class[c] == k:
                mine[n] = max(adjusted[copy_shape[c]], 0.0)
                n += 1
        top = -np.sort(-mine[:n])[: gpus // k]
        combined = whole.copy()
        gained = 0.0
        for m in range(top.shape[0]):
            gained += top[m]
            shift = k * (m + 1)
            for w in range(shift, gpus + 1):
                candidate = whole[w - shift] + gained
                if candidate > combined[w]:
                    combined[w] = candidate
        whole = combined
    # F: fractions sharing one GPU, a 0/1 knapsack over its milli-GPU units.
    fraction = np.zeros(size + 1)
    for k in range(item_shape.shape[0]):
        worth = adjusted[item_shape[k]]
        if worth <= 0:
            continue
        shift = item_units[k]
        gained = item_copies[k] * worth
        for at in range(size, shift - 1, -1):
            candidate = fraction[at - shift] + gained
            if candidate > fraction[at]:
                fraction[at] = candidate
    # M: MIG instances on one GPU, a knapsack over compute and memory slices.
    sliced = np.zeros((compute_slices + 1, memory_slices + 1))
    for j in range(mig.shape[0]):
        s = mig[j]
        c, m = mig_slices[j, 0], mig_slices[j, 1]
        if adjusted[s] <= 0 or c <= 0:
            continue
        most = min(ub[s], compute_slices // c, memory_slices // m)
        bundle = 1
        while most > 0:
            copies = min(bundle, most)
            most -= copies
            bundle *= 2
            cc, mm = c * copies, m * copies
            for a in range(compute_slices, cc - 1, -1):
                for b in range(memory_slices, mm - 1, -1):
                    candidate = sliced[a - cc, b - mm] + copies * adjusted[s]
                    if candidate > sliced[a, b]:
                        sliced[a, b] = candidate
    per_gpu = max(fraction[size], sliced[compute_slices, memory_slices], 0.0)
    best = whole[0] + gpus * per_gpu
    for w in range(1, gpus + 1):
        best = max(best, whole[w] + (gpus - w) * per_gpu)
    return total + best
