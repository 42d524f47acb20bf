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
from allocator.model.nodepack import NodePacker
from allocator.model.patterns import gpu_demand
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


# Ways to rank shapes by value per unit of the node they take, for greedy pricing.
_SIZE_RULES = ("max", "sum", "gpu", "cpu")


def greedy_patterns(
    inst: PackingInstance,
    g: int,
    value: np.ndarray,
    ub: np.ndarray,
):
    """Good node patterns found fast: fill one node shape by shape, best value density first,
    under a few definitions of a shape's size. Returns (pattern parts, value) per rule."""
    shapes = inst.shapes
    capacity = inst.groups.capacity[g].astype(float)
    useful = np.flatnonzero((value > 1e-9) & (ub > 0) & (inst.fit[:, g] > 0))
    if len(useful) == 0:
        return []
    gpus = max(capacity[0], 1.0)
    gpu_share = (shapes.demand[useful, 0] * 1000 + shapes.milli[useful]) / (gpus * 1000)
    gpu_share = np.where(shapes.kind[useful] == MIG, 1 / (7 * gpus), gpu_share)
    cpu_share = shapes.demand[useful, 1] / max(capacity[1], 1.0)
    ram_share = shapes.demand[useful, 2] / max(capacity[2], 1.0)
    shares = np.stack([gpu_share, cpu_share, ram_share], axis=1)
    sizes = {
        "max": shares.max(axis=1),
        "sum": shares.sum(axis=1),
        "gpu": gpu_share + 1e-3 * shares.sum(axis=1),
        "cpu": cpu_share + 1e-3 * shares.sum(axis=1),
    }
    found = []
    for rule in _SIZE_RULES:
        order = useful[np.argsort(-value[useful] / np.maximum(sizes[rule], 1e-9), kind="stable")]
        parts = pack_in_order(inst, g, order, ub[order])
        found.append((parts, float(value @ (parts[0][0] + parts[1][0] @ parts[2]))))
    return found


def pack_in_order(inst: PackingInstance, g: int, order: np.ndarray, limit: np.ndarray):
    """The pattern of one node of group g filled with up to `limit` replicas of each shape
    of `order`, in that order (a shape may appear more than once)."""
    packer = NodePacker(inst, g)
    keep = np.ones(len(order), dtype=bool)
    for k in range(len(order)):
        if not keep[k]:
            continue
        keep[k:] &= packer.could_hold(order[k:])  # skip what no longer fits
        if keep[k]:
            packer.add(int(order[k]), int(limit[k]))
    return packer.pattern()
