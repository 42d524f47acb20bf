"""The pricing problem of column generation: the most valuable pattern for one node.

Given a value per replica slot of each shape (the LP's duals), find the content of one
node of a group that is worth most: whole-GPU replicas, and per GPU either a set of
fractional replicas (milli-GPU and memory within the GPU) or of MIG instances (within its
7 compute and 8 memory slices), all within the node's CPU and RAM. It is a small MIP,
built as a neutral `Problem` like any other, so any MIP backend can solve it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.domain.units import NODE_RESOURCES
from allocator.model import pricing_kernel
from allocator.model.nodepack import NodePacker
from allocator.model.patterns import gpu_demand
from allocator.model.pricing_bound import binary_split
from allocator.model.problem import Block, Problem, ProblemBuilder
from allocator.model.reduce import FRACTION, MIG, WHOLE, PackingInstance


@dataclass(frozen=True, eq=False)
class Pricing:
    problem: Problem
    whole: np.ndarray  # shape of each whole column
    shared: np.ndarray  # shape of each per-GPU column block (fraction and MIG)
    gpus: int


def pricing_problem(
    inst: PackingInstance, g: int, value: np.ndarray, ub: np.ndarray, at_least: float | None = None
) -> Pricing:
    """Maximize sum(value[s] * replicas of s) on one node of group g (as a minimization).

    With `at_least`, only patterns worth more than that are feasible: a solver then proves
    quickly that none exists, or stops at the first it finds.
    """
    shapes = inst.shapes
    capacity = inst.groups.capacity[g]
    gpus = int(capacity[0])
    useful = (value > 1e-9) & (ub > 0)
    for needer, needed in shapes.together:  # a shape that another needs beside it
        if useful[needer] and ub[needed] > 0:
            useful[needed] = True
    whole = np.flatnonzero(useful & (shapes.kind == WHOLE))
    fraction = np.flatnonzero(useful & (shapes.kind == FRACTION)) if gpus else np.zeros(0, int)
    mig = np.flatnonzero(useful & (shapes.kind == MIG)) if gpus else np.zeros(0, int)
    shared = np.concatenate([fraction, mig])

    b = ProblemBuilder(f"pricing-g{g}")
    a = b.add_columns("whole", len(whole), hi=ub[whole], cost=-value[whole])
    per_gpu = b.add_columns(
        "shared",
        len(shared) * gpus,
        hi=np.repeat(ub[shared], gpus),
        cost=-np.repeat(value[shared], gpus),
    )
    modes = ("whole_mode", "fraction_mode", "mig_mode")
    mode = {name: b.add_columns(name, gpus, hi=1.0) for name in modes}

    def shared_cols(ids: np.ndarray) -> np.ndarray:
        """Column offsets (within `shared`) of shapes `ids` on every GPU: (len(ids), gpus)."""
        position = np.searchsorted(shared, ids)
        return position[:, None] * gpus + np.arange(gpus)[None, :]

    rows = b.add_rows("whole_gpus", 1, hi=0.0)
    b.add_entries(rows, np.zeros(len(whole)), a, np.arange(len(whole)), shapes.demand[whole, 0])
    b.add_entries(rows, np.zeros(gpus), mode["whole_mode"], np.arange(gpus), -1.0)

    one_mode = b.add_rows("one_mode", gpus, hi=1.0)
    for name in modes:
        b.add_entries(one_mode, np.arange(gpus), mode[name], np.arange(gpus), 1.0)

    for kind, ids, mode_name in ((FRACTION, fraction, "fraction_mode"), (MIG, mig, "mig_mode")):
        if len(ids) == 0:
            continue
        demand, per_gpu_capacity = gpu_demand(inst, g, kind)
        for dim in range(2):
            rows = b.add_rows(f"gpu_{mode_name}_{dim}", gpus, hi=0.0)
            cols = shared_cols(ids)
            b.add_entries(
                rows,
                np.tile(np.arange(gpus), len(ids)),
                per_gpu,
                cols.ravel(),
                np.repeat(demand[ids, dim], gpus),
            )
            b.add_entries(
                rows,
                np.arange(gpus),
                mode[mode_name],
                np.arange(gpus),
                -float(per_gpu_capacity[dim]),
            )

    for dim, resource in enumerate(NODE_RESOURCES[1:], start=1):
        rows = b.add_rows(resource.node_field, 1, hi=float(capacity[dim]))
        b.add_entries(
            rows, np.zeros(len(whole)), a, np.arange(len(whole)), shapes.demand[whole, dim]
        )
        b.add_entries(
            rows,
            np.zeros(len(shared) * gpus),
            per_gpu,
            np.arange(len(shared) * gpus),
            np.repeat(shapes.demand[shared, dim], gpus),
        )

    if at_least is not None:
        rows = b.add_rows("worth", 1, lo=at_least)
        b.add_entries(rows, np.zeros(len(whole)), a, np.arange(len(whole)), value[whole])
        b.add_entries(
            rows,
            np.zeros(len(shared) * gpus),
            per_gpu,
            np.arange(len(shared) * gpus),
            np.repeat(value[shared], gpus),
        )

    if len(shared):
        rows = b.add_rows("shape_bound", len(shared), hi=ub[shared].astype(float))
        b.add_entries(
            rows,
            np.repeat(np.arange(len(shared)), gpus),
            per_gpu,
            np.arange(len(shared) * gpus),
            1.0,
        )

    _node_rules(b, inst, ub, whole, shared, gpus, a, per_gpu)

    # Symmetry: whole-GPU mode first, then fractions, then MIG, then unused GPUs; among
    # fraction GPUs, the fuller first.
    if gpus > 1:
        for depth in range(1, len(modes) + 1):
            rows = b.add_rows(f"order_{depth}", gpus - 1, lo=0.0)
            for name in modes[:depth]:
                b.add_entries(rows, np.arange(gpus - 1), mode[name], np.arange(gpus - 1), 1.0)
                b.add_entries(rows, np.arange(gpus - 1), mode[name], np.arange(1, gpus), -1.0)
        if len(fraction):
            milli = gpu_demand(inst, g, FRACTION)[0][fraction, 0]
            cols = shared_cols(fraction)
            rows = b.add_rows("fuller_first", gpus - 1, lo=0.0)
            b.add_entries(
                rows,
                np.tile(np.arange(gpus - 1), len(fraction)),
                per_gpu,
                cols[:, :-1].ravel(),
                np.repeat(milli, gpus - 1),
            )
            b.add_entries(
                rows,
                np.tile(np.arange(gpus - 1), len(fraction)),
                per_gpu,
                cols[:, 1:].ravel(),
                -np.repeat(milli, gpus - 1),
            )
            b.add_entries(
                rows, np.arange(gpus - 1), mode["whole_mode"], np.arange(gpus - 1), 1000.0
            )
    return Pricing(b.build(), whole, shared, gpus)


def _node_rules(
    b: ProblemBuilder,
    inst: PackingInstance,
    ub: np.ndarray,
    whole: np.ndarray,
    shared: np.ndarray,
    gpus: int,
    a: Block,
    per_gpu: Block,
) -> None:
    """Dedicated tenants alone on the node; shapes kept apart; shapes that need another."""
    shapes = inst.shapes
    included = np.concatenate([whole, shared])

    def count(rows: Block, row: int, s: int, coef: float) -> None:
        if s in whole:
            b.add_entries(rows, [row], a, [int(np.searchsorted(whole, s))], coef)
        else:
            position = int(np.searchsorted(shared, s))
            b.add_entries(
                rows, np.full(gpus, row), per_gpu, position * gpus + np.arange(gpus), coef
            )

    tenants = sorted({t for t in shapes.tenant[included] if t})
    if tenants:
        owner = b.add_columns("tenant", len(tenants), hi=1.0)
        one = b.add_rows("one_tenant", 1, hi=1.0)
        b.add_entries(one, np.zeros(len(tenants)), owner, np.arange(len(tenants)), 1.0)
        for k, tenant in enumerate(tenants):
            mine = [s for s in included if shapes.tenant[s] == tenant]
            others = [s for s in included if shapes.tenant[s] != tenant]
            rows = b.add_rows(f"tenant_{k}", 2, hi=np.array([0.0, float(ub[others].sum())]))
            for s in mine:
                count(rows, 0, s, 1.0)
            b.add_entries(rows, [0], owner, [k], -float(ub[mine].sum()))
            for s in others:
                count(rows, 1, s, 1.0)
            b.add_entries(rows, [1], owner, [k], float(ub[others].sum()))
    for s1, s2 in shapes.apart:
        if s1 in included and s2 in included:
            side = b.add_columns(f"apart_{s1}_{s2}", 1, hi=1.0)
            rows = b.add_rows(f"apart_{s1}_{s2}", 2, hi=np.array([0.0, float(ub[s2])]))
            count(rows, 0, s1, 1.0)
            b.add_entries(rows, [0], side, [0], -float(ub[s1]))
            count(rows, 1, s2, 1.0)
            b.add_entries(rows, [1], side, [0], float(ub[s2]))
    for needer, needed in shapes.together:
        if needer in included:
            rows = b.add_rows(f"together_{needer}_{needed}", 1, hi=0.0)
            count(rows, 0, needer, 1.0)
            if needed in included:
                count(rows, 0, needed, -float(ub[needer]))


def read_pattern(pricing: Pricing, x: np.ndarray, n_shapes: int):
    """(whole counts, GPU-configuration counts, configurations) of a pricing solution."""
    problem = pricing.problem
    whole = np.zeros(n_shapes, dtype=np.int64)
    whole[pricing.whole] = np.round(x[problem.col_block("whole").slice]).astype(np.int64)
    per_gpu = np.round(x[problem.col_block("shared").slice]).astype(np.int64)
    per_gpu = per_gpu.reshape(len(pricing.shared), pricing.gpus)
    contents = np.zeros((pricing.gpus, n_shapes), dtype=np.int64)
    contents[:, pricing.shared] = per_gpu.T
    contents = contents[contents.any(axis=1)]
    configs, multiplicity = (
        np.unique(contents, axis=0, return_counts=True)
        if len(contents)
        else (np.zeros((0, n_shapes), dtype=np.int64), np.zeros(0, int))
    )
    return whole[None, :], multiplicity[None, :], configs


def pack_in_order(inst: PackingInstance, g: int, order: np.ndarray, limit: np.ndarray):
    """The pattern of one node of group g filled with up to `limit` replicas of each shape
    of `order`, in that order (a shape may appear more than once)."""
    packer = NodePacker(inst, g)
    packer.fill(order, limit)
    return packer.pattern()


# One-GPU knapsacks keep a per-GPU dimension only while its table stays this small.
_GPU_TABLE_LIMIT = 20_000


def relaxed_patterns(
    inst: PackingInstance, g: int, value: np.ndarray, ub: np.ndarray, lam: np.ndarray
) -> list:
    """Patterns the Lagrangian relaxation of the node suggests (the one
    `allocator.model.pricing_bound` solves for its bound), made to fit.

    Value each shape at its worth less lam times its node resources (CPU, RAM, ...), so
    that what the node runs short of is priced. Then for each w = 0..G: w GPUs take the
    whole-GPU replicas worth most per GPU, the other GPUs the best one-GPU configurations
    of fractions or MIG instances (knapsacks solved exactly, taken while their shapes
    last), and anything left over is filled by worth per GPU share; the node packer keeps
    every real limit. Done at the relaxed worth, at the plain one and halfway between.
    Greedy rules that rank single shapes miss patterns that mix whole GPUs with
    well-paired fractions under a CPU limit; this finds most of those that the pricing MIP
    would."""
    shapes = inst.shapes
    gpus = int(inst.groups.gpus[g])
    useful = np.flatnonzero((value > 1e-9) & (ub > 0) & (inst.fit[:, g] > 0))
    if len(useful) == 0:
        return []
    relaxed = value - shapes.demand[:, 1:].astype(np.float64) @ lam
    share = (shapes.demand[useful, 0] * 1000 + shapes.milli[useful]) / (max(gpus, 1) * 1000)
    share = np.where(shapes.kind[useful] == MIG, 1 / (7 * max(gpus, 1)), share)
    found = []
    tried: set[bytes] = set()
    for worth in (relaxed, (relaxed + value) / 2, value):
        rest = useful[np.argsort(-worth[useful] / np.maximum(share, 1e-9), kind="stable")]
        whole = useful[
            (shapes.kind[useful] == WHOLE) & (shapes.demand[useful, 0] > 0) & (worth[useful] > 0)
        ]
        whole = whole[np.argsort(-worth[whole] / shapes.demand[whole, 0], kind="stable")]
        configs = _gpu_configs(inst, g, worth, ub, gpus)
        for w in range(gpus + 1):
            order, limit = _whole_on(whole, shapes.demand[whole, 0], ub[whole], w)
            shared, copies = _first_gpus(configs, gpus - w)
            planned = np.bincount(
                np.concatenate([order, shared]),
                weights=np.concatenate([limit, copies]),
                minlength=len(shapes),
            ).astype(np.int64)
            # A shape met again in the fill takes only what its bound leaves.
            order = np.concatenate([order, shared, rest]).astype(np.int64)
            limit = np.concatenate([limit, copies, ub[rest] - planned[rest]]).astype(np.int64)
            keep = limit > 0
            key = order[keep].tobytes() + limit[keep].tobytes()
            if key not in tried:  # more GPUs for whole replicas may change nothing
                tried.add(key)
                found.append(pack_in_order(inst, g, order[keep], limit[keep]))
    return found


def _whole_on(whole: np.ndarray, need: np.ndarray, ub: np.ndarray, w: int):
    """(shapes, counts): whole-GPU replicas in the given order until w GPUs are taken."""
    order, limit = [], []
    for s, k, most in zip(whole.tolist(), need.tolist(), ub.tolist(), strict=True):
        if w <= 0:
            break
        n = min(int(most), w // int(k))
        if n > 0:
            order.append(s)
            limit.append(n)
            w -= n * int(k)
    return np.array(order, dtype=np.int64), np.array(limit, dtype=np.int64)


def _gpu_configs(inst: PackingInstance, g: int, worth: np.ndarray, ub: np.ndarray, n: int):
    """[(shapes, counts on one GPU, GPUs)] to fill n GPUs: the best one-GPU configuration
    of either sharing kind, on as many GPUs as its shapes last, then the next best. Each
    configuration's shapes come largest first: the packer then rebuilds it on a GPU of its
    own."""
    out = []
    left = ub.copy()
    while n > 0:
        best, best_worth, best_kind = None, 1e-9, FRACTION
        for kind in (FRACTION, MIG):
            config = _one_gpu(inst, g, kind, worth, left)
            if config is not None and float(worth @ config) > best_worth:
                best, best_worth, best_kind = config, float(worth @ config), kind
        if best is None:
            break
        ids = np.flatnonzero(best)
        ids = ids[np.argsort(-gpu_demand(inst, g, best_kind)[0][ids, 0], kind="stable")]
        copies = min(n, int((left[ids] // best[ids]).min()))
        out.append((ids, best[ids], copies))
        left[ids] -= best[ids] * copies
        n -= copies
    return out


def _first_gpus(configs: list, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(shapes, counts) of the configurations' first n GPUs."""
    order: list[int] = []
    limit: list[int] = []
    for ids, counts, copies in configs:
        if n <= 0:
            break
        take = min(copies, n)
        order.extend(ids.tolist())
        limit.extend((counts * take).tolist())
        n -= take
    return np.array(order, dtype=np.int64), np.array(limit, dtype=np.int64)


def _one_gpu(
    inst: PackingInstance, g: int, kind: int, worth: np.ndarray, left: np.ndarray
) -> np.ndarray | None:
    """Counts per shape of the most valuable set of `kind` replicas on one GPU of group g
    (a knapsack over the GPU's dimensions, those whose table stays small), or None."""
    shapes = inst.shapes
    demand, capacity = gpu_demand(inst, g, kind)
    ids = np.flatnonzero((shapes.kind == kind) & (worth > 1e-9) & (left > 0) & (inst.fit[:, g] > 0))
    ids = ids[demand[ids].any(axis=1) & (demand[ids] <= capacity).all(axis=1)]
    if len(ids) == 0:
        return None
    sizes: list[int] = []
    dims: list[int] = []
    units: list[int] = []
    for d in range(demand.shape[1]):
        unit = int(np.gcd.reduce(np.append(demand[ids, d], capacity[d]).astype(np.int64)))
        size = int(capacity[d]) // max(unit, 1) + 1
        if unit > 0 and int(np.prod(sizes)) * size <= _GPU_TABLE_LIMIT:
            sizes.append(size)
            dims.append(d)
            units.append(unit)
    if not sizes:
        return None
    scaled = demand[ids][:, dims] // np.array(units)
    room = ((np.array(sizes) - 1)[None, :] // np.maximum(scaled, 1)).min(axis=1)
    most = np.minimum(left[ids], room)
    items = [(i, copies) for i in range(len(ids)) for copies in binary_split(int(most[i]))]
    config = np.zeros(len(shapes), dtype=np.int64)
    if pricing_kernel.AVAILABLE:
        rows = np.array([i for i, _ in items], dtype=np.int64)
        bundle = np.array([c for _, c in items], dtype=np.int64)
        steps = np.zeros((len(items), 2), dtype=np.int64)
        steps[:, : len(sizes)] = scaled[rows] * bundle[:, None]
        table = (*sizes, 1) if len(sizes) == 1 else tuple(sizes)
        config[ids] = pricing_kernel.gpu_knapsack(
            steps, bundle * worth[ids[rows]], rows, bundle, *table, len(ids)
        )
        return config if config.any() else None
    best = np.zeros(sizes)
    took = np.zeros((len(items), *sizes), dtype=bool)
    for k, (i, copies) in enumerate(items):
        step = scaled[i] * copies
        cut = tuple(slice(int(s), None) for s in step)
        src = tuple(slice(0, size - int(s)) for size, s in zip(sizes, step, strict=True))
        gained = best[src] + copies * worth[ids[i]]
        took[k][cut] = gained > best[cut] + 1e-12
        np.maximum(best[cut], gained, out=best[cut])
    at: tuple[int, ...] = tuple(int(a) for a in np.unravel_index(int(np.argmax(best)), best.shape))
    for k in range(len(items) - 1, -1, -1):
        if took[k][at]:
            i, copies = items[k]
            config[ids[i]] += copies
            at = tuple(int(a) - int(s) * copies for a, s in zip(at, scaled[i], strict=True))
    return config if config.any() else None
