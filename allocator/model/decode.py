"""Between node-level placements and the model's columns.

`columns_from_placement` turns a placement (e.g. a heuristic's) into column values, for
warm starts. `placement_from_columns` expands pattern counts onto concrete nodes and
GPUs and fills their slots with replicas. The model says only how many nodes of a group
run a pattern, so the expansion chooses which ones: where a current placement is given
it puts patterns on the nodes whose running replicas they can keep, and keeps replicas
on the node they run on, so that equally good plans move as little as possible.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import scipy.sparse as sp

from allocator.domain.replicas import Replicas
from allocator.evaluate.figures import Figures
from allocator.heuristics.greedy import choose_storage
from allocator.model import migration
from allocator.model.context import Pairs, PlacedColumns
from allocator.model.formulation import Formulation
from allocator.model.patterns import PatternPool
from allocator.model.reduce import WHOLE, PackingInstance
from allocator.rules import FAMILIES


def onehot(index: np.ndarray, size: int) -> sp.csr_array:
    n = len(index)
    return sp.csr_array((np.ones(n, dtype=np.int64), (np.arange(n), index)), shape=(n, size))


def node_layouts(
    inst: PackingInstance, placement: Replicas
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What each used node runs, as pattern parts: (nodes used, their whole-shape counts,
    their GPU-configuration counts, the configurations)."""
    shapes = inst.shapes
    shape = shapes.of_workload[placement.workload]
    sharing = shapes.kind[shape] != WHOLE
    n_shapes = len(shapes)
    used = np.flatnonzero(placement.nodes_in_use())
    position = np.full(placement.n_nodes, -1)
    position[used] = np.arange(len(used))
    whole = np.zeros((len(used), n_shapes), dtype=np.int64)
    np.add.at(whole, (position[placement.node[~sharing]], shape[~sharing]), 1)
    # One configuration per shared GPU: the shapes on (node, gpu).
    first_gpu = placement.gpu_index[placement.gpu_ptr[:-1][sharing]]
    gpu_key = np.stack([placement.node[sharing], first_gpu], axis=1).reshape(-1, 2)
    gpus, gpu_of = np.unique(gpu_key, axis=0, return_inverse=True)
    content = np.zeros((len(gpus), n_shapes), dtype=np.int64)
    np.add.at(content, (gpu_of.ravel(), shape[sharing]), 1)
    configs, config_of = np.unique(content, axis=0, return_inverse=True)
    configs = configs.reshape(-1, n_shapes)
    gpu_configs = np.zeros((len(used), len(configs)), dtype=np.int64)
    np.add.at(gpu_configs, (position[gpus[:, 0]], config_of.ravel()), 1)
    return used, whole, gpu_configs, configs


def patterns_of_placement(inst: PackingInstance, placement: Replicas) -> tuple:
    """Arguments for `PatternPool.with_patterns` holding every node pattern a placement uses
    (nodes that are not up keep the one pattern the pool gives them)."""
    used, whole, gpu_configs, configs = node_layouts(inst, placement)
    groups = inst.groups.of_node[used]
    planned = inst.groups.state[groups] == "up"
    return groups[planned], whole[planned], gpu_configs[planned], configs


def columns_from_placement(form: Formulation, placement: Replicas) -> np.ndarray | None:
    """Column values of a node-level placement, or None if a node's pattern is not in the
    pool. Every column gets its value, those of the rule families (`RuleFamily.columns`)
    and of moves included: a placement that keeps the rules satisfies every row."""
    inst, problem, pool = form.instance, form.problem, form.pool
    x = np.zeros(problem.n_cols)
    of_node = inst.groups.of_node
    used, whole, gpu_configs, configs = node_layouts(inst, placement)
    counts = whole + gpu_configs @ configs
    keys = np.concatenate([of_node[used, None], counts], axis=1).astype(np.int64)
    pool_keys = np.concatenate([pool.group[:, None], pool.counts], axis=1).astype(np.int64)
    lookup = {row.tobytes(): p for p, row in enumerate(pool_keys)}
    for row in keys:
        p = lookup.get(row.tobytes())
        if p is None:
            return None
        x[form.patterns.start + p] += 1
    x[problem.col_block("used").slice] = np.bincount(of_node[used], minlength=len(inst.groups))
    per_pair = (placement.counts().T @ onehot(of_node, len(inst.groups))).toarray()
    x[form.assign.slice] = per_pair[form.pair_w, form.pair_g]
    families = inst.domain.demand.families
    figures = Figures(inst.domain, placement)
    lost_replicas, lost_rate = figures.loss
    count = np.where(families.by_target, 0, lost_replicas)
    x[form.shortfall.slice] = np.maximum(families.min - (figures.placed - count), 0)[form.short_f]
    if families.by_target.any():
        achieved = figures.throughput - lost_rate
        missing = np.ceil(np.maximum(families.target - achieved, 0) - 1e-9)[families.by_target]
        x[problem.col_block("missing").slice] = missing
    _datacenter_columns(form, placement, x)
    placed = PlacedColumns(inst, Pairs.of(inst), pool, problem, x)
    for family in FAMILIES:
        if family.columns is not None:
            family.columns(placed)
    migration.columns(placed, placement)
    return x


def _datacenter_columns(form: Formulation, placement: Replicas, x: np.ndarray) -> None:
    """Storage, read and site columns of a placement (its storage choice, or one made)."""
    inst, problem, index = form.instance, form.problem, form.datacenter
    if len(index.dataset_w):
        choice = placement.dataset_on
        if choice is None:
            choice = choose_storage(inst, placement)
        x[problem.col_block("dataset").slice] = choice[index.dataset_w] == index.dataset_s
        if len(index.reads_w):
            racks = inst.domain.fleet.rack.astype(str)
            in_rack = Counter(
                zip(placement.workload.tolist(), racks[placement.node].tolist(), strict=True)
            )
            x[problem.col_block("reads").slice] = [
                in_rack[(w, r)] if choice[w] == s else 0
                for w, r, s in zip(index.reads_w, index.reads_rack, index.reads_s, strict=True)
            ]
    if len(index.site_w):
        sites = inst.domain.fleet.site.astype(str)
        present = set(zip(placement.workload.tolist(), sites[placement.node].tolist(), strict=True))
        x[problem.col_block("site").slice] = [
            (w, s) in present for w, s in zip(index.site_w, index.site_name, strict=True)
        ]


def dataset_choice(form: Formulation, x: np.ndarray) -> np.ndarray:
    """Storage system of each workload's dataset in a solution (-1: none)."""
    index = form.datacenter
    choice = np.full(len(form.instance.domain.demand), -1, dtype=np.int64)
    if len(index.dataset_w):
        on = x[form.problem.col_block("dataset").slice] > 0.5
        choice[index.dataset_w[on]] = index.dataset_s[on]
    return choice


def placement_from_columns(form: Formulation, x: np.ndarray) -> Replicas:
    """The replicas, nodes and GPUs that realize the column values."""
    inst, pool = form.instance, form.pool
    shapes = inst.shapes
    domain = inst.domain
    current = domain.running_now if domain.current else None
    z = np.round(x[form.patterns.slice]).astype(np.int64)
    node_pattern = _patterns_onto_nodes(inst, pool, z, current)
    slot_node, slot_shape, slot_gpu, slot_width = _slots(inst, pool, node_pattern)

    y = np.round(x[form.assign.slice]).astype(np.int64)
    pair_shape = shapes.of_workload[form.pair_w]
    pair_key = form.pair_g * len(shapes) + pair_shape
    slot_key = inst.groups.of_node[slot_node] * len(shapes) + slot_shape
    slot_order = np.lexsort(
        (_beside_first(inst, pool, node_pattern, slot_node, slot_shape), slot_key)
    )
    slot_start = np.searchsorted(
        slot_key[slot_order], np.arange(len(inst.groups) * len(shapes) + 1)
    )
    order = np.lexsort((form.pair_w, pair_key))
    firsts = np.flatnonzero(np.diff(pair_key[order], prepend=-1) != 0)
    chosen_slots, chosen_w = [], []
    for members in np.split(order, firsts[1:]) if len(order) else []:
        key = pair_key[members[0]]
        slots = slot_order[slot_start[key] : slot_start[key + 1]]
        wanted = y[members].copy()
        if wanted.sum() > len(slots):
            raise ValueError(
                f"columns place {wanted.sum()} replicas in {len(slots)} slots "
                f"(group {key // len(shapes)}, shape {key % len(shapes)})"
            )
        free = np.ones(len(slots), dtype=bool)
        if current is not None:
            for k, w in enumerate(form.pair_w[members]):
                running = current[slot_node[slots]][:, [w]].toarray().ravel()
                keep = _keep_slots(slot_node[slots], running, free, wanted[k])
                free[keep] = False
                wanted[k] -= len(keep)
                chosen_slots.append(slots[keep])
                chosen_w.append(np.full(len(keep), w))
        rest = slots[free][: wanted.sum()]
        chosen_slots.append(rest)
        chosen_w.append(np.repeat(form.pair_w[members], wanted))
    picked = np.concatenate(chosen_slots) if chosen_slots else np.zeros(0, dtype=np.int64)
    owners = np.concatenate(chosen_w) if chosen_w else np.zeros(0, dtype=np.int64)
    width = slot_width[picked]
    gpu_index = np.repeat(slot_gpu[picked], width) + (
        np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
    )
    return Replicas(
        owners.astype(np.int64),
        slot_node[picked].astype(np.int64),
        np.concatenate([[0], np.cumsum(width)]).astype(np.int64),
        gpu_index.astype(np.int64),
        len(domain.fleet),
        len(domain.demand),
        dataset_choice(form, x),
    ).sorted()


def _beside_first(
    inst: PackingInstance,
    pool: PatternPool,
    node_pattern: np.ndarray,
    slot_node: np.ndarray,
    slot_shape: np.ndarray,
) -> np.ndarray:
    """0 for one slot of a needed shape on each node whose pattern holds a shape that runs
    only beside it (node affinity), and for one slot on each node of a shape whose rule
    counts its nodes; 1 for the others. The 0s are filled first, so that every such node
    gets its replica (the model places enough of them)."""
    first = np.ones(len(slot_node), dtype=np.int8)
    for needer, needed in inst.shapes.together:
        holds = pool.counts[node_pattern[slot_node], needer] > 0
        candidates = np.flatnonzero((slot_shape == needed) & holds)
        _, one_per_node = np.unique(slot_node[candidates], return_index=True)
        first[candidates[one_per_node]] = 0
    # Shapes whose rule counts the nodes they run on: one slot on every node first.
    candidates = np.flatnonzero(inst.shapes.fill_each_node[slot_shape])
    _, one_per_node = np.unique(
        np.stack([slot_node[candidates], slot_shape[candidates]]), axis=1, return_index=True
    )
    first[candidates[one_per_node]] = 0
    return first


def _keep_slots(nodes: np.ndarray, running: np.ndarray, free: np.ndarray, limit: int) -> np.ndarray:
    """Free slots on nodes where the workload runs now, at most as many per node as run there."""
    candidates = np.flatnonzero(free & (running > 0))
    if len(candidates) == 0 or limit <= 0:
        return np.zeros(0, dtype=np.int64)
    candidates = candidates[np.argsort(nodes[candidates], kind="stable")]
    rank = np.arange(len(candidates)) - np.searchsorted(nodes[candidates], nodes[candidates])
    return candidates[rank < running[candidates]][:limit]


def _slots(inst: PackingInstance, pool: PatternPool, node_pattern: np.ndarray):
    """Every slot the chosen patterns open: (node, shape, first GPU, number of GPUs)."""
    shapes = inst.shapes
    nodes_, shapes_, gpus_, widths_ = [], [], [], []
    for p in np.unique(node_pattern[node_pattern >= 0]):
        nodes = np.flatnonzero(node_pattern == p)
        t_shape, t_gpu, t_width = _template(pool, p, shapes.kind, shapes.demand[:, 0])
        nodes_.append(np.repeat(nodes, len(t_shape)))
        shapes_.append(np.tile(t_shape, len(nodes)))
        gpus_.append(np.tile(t_gpu, len(nodes)))
        widths_.append(np.tile(t_width, len(nodes)))
    if not nodes_:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return (
        np.concatenate(nodes_),
        np.concatenate(shapes_),
        np.concatenate(gpus_),
        np.concatenate(widths_),
    )


def _template(pool: PatternPool, p: int, kind: np.ndarray, whole_gpus: np.ndarray):
    """Slots of one node running pattern p: configurations take the first GPUs, one GPU
    each; whole-GPU replicas take the following GPUs in order."""
    shape, gpu, width = [], [], []
    next_gpu = 0
    row = pool.gpu_configs[[p]].toarray().ravel() if pool.gpu_configs.shape[1] else []
    for q in np.flatnonzero(row):
        for _ in range(int(row[q])):
            content = pool.configs[q]
            for s in np.flatnonzero(content):
                shape += [s] * int(content[s])
                gpu += [next_gpu] * int(content[s])
                width += [1] * int(content[s])
            next_gpu += 1
    for s in np.flatnonzero((kind == WHOLE) & (pool.counts[p] > 0)):
        k = int(whole_gpus[s])
        for _ in range(int(pool.counts[p, s])):
            shape.append(s)
            gpu.append(next_gpu if k else 0)
            width.append(k)
            next_gpu += k
    return (
        np.array(shape, dtype=np.int64),
        np.array(gpu, dtype=np.int64),
        np.array(width, dtype=np.int64),
    )


def _patterns_onto_nodes(
    inst: PackingInstance, pool: PatternPool, z: np.ndarray, current: sp.csr_array | None
) -> np.ndarray:
    """Pattern index of every node (-1: off)."""
    node_pattern = np.full(len(inst.domain.fleet), -1, dtype=np.int64)
    current_shapes = (
        (current @ onehot(inst.shapes.of_workload, len(inst.shapes))).toarray()
        if current is not None
        else None
    )
    for g in np.unique(pool.group[z > 0]):
        chosen = np.flatnonzero((z > 0) & (pool.group == g))
        left = z[chosen].copy()
        members = inst.groups.members(g)
        taken = np.zeros(len(members), dtype=bool)
        if current_shapes is not None:
            for k in np.flatnonzero(current_shapes[members].any(axis=1)):
                if not left.any():
                    break
                kept = np.minimum(pool.counts[chosen], current_shapes[members[k]]).sum(axis=1)
                best = int(np.argmax(np.where(left > 0, kept, -1)))
                node_pattern[members[k]] = chosen[best]
                left[best] -= 1
                taken[k] = True
        rest = members[~taken][: left.sum()]
        node_pattern[rest] = np.repeat(chosen, left)
    return node_pattern


def rounded_down(form: Formulation, x: np.ndarray) -> Replicas:
    """The placement of an LP solution rounded down: floor(pattern[p]) nodes of each group
    run pattern p, and floor(assign[w,g]) replicas of w fill the slots of group g, higher
    priority first where the rounded patterns open fewer slots of w's shape than that.

    Rounding down keeps every row of the form sum <= bound (node counts, wanted replicas,
    slots, most per place) and shortens the rest (required replicas, spread over places),
    which a greedy pass then tops up (`heuristics.greedy.greedy_placement(start=...)`).
    The LP of a pattern model is tight, so what rounding loses is a few nodes per group."""
    inst, pool = form.instance, form.pool
    shapes = inst.shapes
    n_groups, n_shapes = len(inst.groups), len(shapes)
    z = np.floor(x[form.patterns.slice] + 1e-6).clip(0)
    slots = np.zeros(n_groups * n_shapes)
    np.add.at(
        slots,
        (pool.group[:, None] * n_shapes + np.arange(n_shapes)[None, :]).ravel(),
        (pool.counts * z[:, None]).ravel(),
    )
    y = np.floor(x[form.assign.slice] + 1e-6).clip(0)
    key = form.pair_g * n_shapes + shapes.of_workload[form.pair_w]
    demand = inst.domain.demand
    priority = demand.families.priority[demand.family[form.pair_w]]
    order = np.lexsort((form.pair_w, -priority, key))
    ranked = y[order]
    before = np.cumsum(ranked) - ranked
    first = np.searchsorted(key[order], key[order])  # start of each key's run
    before -= (np.cumsum(ranked) - ranked)[first]
    kept = np.zeros_like(y)
    kept[order] = np.clip(slots[key[order]] - before, 0, ranked)
    rounded = np.zeros_like(x)
    rounded[form.patterns.slice] = z
    rounded[form.assign.slice] = kept
    # Storage is chosen again as the placement is completed (`Budgets`).
    return placement_from_columns(form, rounded)
