"""Node patterns: which multiset of replica shapes one node runs, and on which GPUs.

The placement model chooses how many nodes of each group run each pattern. Because
surplus slots may stay empty, only *maximal* patterns are needed (no replica can be
added). A node's content is built from two kinds of items: shapes that take whole GPUs
(or none), and *GPU configurations*, the multiset of fractional or MIG replicas that
share one GPU. A pattern lists both, so its GPU layout is known.

When a group has few enough maximal patterns they are all enumerated and the model is
exact. Otherwise the pool starts from heuristic packings and column generation adds the
patterns that improve the LP (`allocator.model.colgen`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from allocator.domain.units import MILLI
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.io.errors import InputError
from allocator.model.reduce import FRACTION, MIG, WHOLE, PackingInstance

ENUMERATION_LIMIT = 20_000  # maximal patterns per group
CONFIG_LIMIT = 400  # GPU configurations per group
_PARTIAL_LIMIT = 400_000  # partial patterns kept while enumerating
_CHUNK = 50_000


@dataclass(frozen=True, eq=False)
class PatternPool:
    """Patterns per group.

    counts[p, s]        replicas of shape s on a node of group[p] (all kinds)
    gpu_configs[p, q]   GPUs of such a node that run configuration q
    configs[q, s]       replicas of (fractional or MIG) shape s on one GPU of configuration q
    """

    group: np.ndarray
    counts: np.ndarray
    gpu_configs: sp.csr_array
    configs: np.ndarray
    complete: np.ndarray  # (groups,) bool: every maximal pattern of the group is present
    keys: frozenset[bytes] = frozenset()  # (group, counts) of every pattern, to skip repeats

    def __len__(self) -> int:
        return len(self.group)

    @classmethod
    def empty(cls, n_groups: int, n_shapes: int) -> PatternPool:
        return cls(
            np.zeros(0, dtype=np.int64),
            np.zeros((0, n_shapes), dtype=np.int32),
            sp.csr_array((0, 0), dtype=np.int32),
            np.zeros((0, n_shapes), dtype=np.int32),
            np.zeros(n_groups, dtype=bool),
        )

    def with_patterns(
        self, group: np.ndarray, whole: np.ndarray, gpu_configs: np.ndarray, configs: np.ndarray
    ) -> PatternPool:
        """Add patterns given by whole-shape counts and GPU-configuration counts.

        `configs` (new configurations, rows over shapes) are merged into the pool's table;
        `gpu_configs` counts refer to them. Repeats and empty patterns are dropped.
        """
        table, remap = _merge_configs(self.configs, configs)
        n_q = len(table)
        new_gc = _reindex_columns(gpu_configs, remap, n_q)
        group = np.asarray(group, dtype=np.int64)
        new_counts = (np.asarray(whole, dtype=np.int64) + new_gc @ table).astype(np.int32)
        keys = set(self.keys)
        chosen = []
        for k, row in enumerate(np.concatenate([group[:, None], new_counts], axis=1)):
            key = row.astype(np.int64).tobytes()
            if new_counts[k].any() and key not in keys:
                keys.add(key)
                chosen.append(k)
        chosen_rows = np.array(chosen, dtype=np.int64)
        return PatternPool(
            np.concatenate([self.group, group[chosen_rows]]),
            np.concatenate([self.counts, new_counts[chosen_rows]]),
            sp.csr_array(
                sp.vstack([_resize(self.gpu_configs, n_q), new_gc[chosen_rows]]).astype(np.int32)
            ),
            table,
            self.complete,
            frozenset(keys),
        )

    def holds(self, group: int, counts: np.ndarray) -> bool:
        """Whether the pool has a pattern of `group` with these shape counts."""
        key = np.concatenate([[group], counts]).astype(np.int64).tobytes()
        return key in self.keys

    def with_complete(self, complete: np.ndarray) -> PatternPool:
        return PatternPool(
            self.group, self.counts, self.gpu_configs, self.configs, complete, self.keys
        )


def _merge_configs(table: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table with the new configurations appended (once each), and where each new one sits."""
    if len(new) == 0:
        return table, np.zeros(0, dtype=np.int64)
    index = {row.tobytes(): q for q, row in enumerate(table.astype(np.int32))}
    remap = np.empty(len(new), dtype=np.int64)
    added: list[np.ndarray] = []
    for k, row in enumerate(np.asarray(new, dtype=np.int32)):
        q = index.get(row.tobytes())
        if q is None:
            q = len(table) + len(added)
            index[row.tobytes()] = q
            added.append(row)
        remap[k] = q
    if added:
        table = np.concatenate([table, np.array(added, dtype=np.int32)])
    return table, remap


def _reindex_columns(matrix: np.ndarray, remap: np.ndarray, n_cols: int) -> sp.csr_array:
    coo = sp.coo_array(np.asarray(matrix) if not sp.issparse(matrix) else matrix)
    return sp.csr_array((coo.data, (coo.row, remap[coo.col])), shape=(coo.shape[0], n_cols))


def _resize(matrix: sp.csr_array, n_cols: int) -> sp.csr_array:
    coo = sp.coo_array(matrix)
    return sp.csr_array((coo.data, (coo.row, coo.col)), shape=(matrix.shape[0], n_cols))


def shape_bounds(inst: PackingInstance) -> np.ndarray:
    """(groups x shapes) most replicas of a shape worth putting on one node of a group."""
    shape_of = inst.shapes.of_workload
    w, g = inst.pairs
    wanted = np.zeros((len(inst.groups), len(inst.shapes)), dtype=np.int64)
    np.add.at(wanted, (g, shape_of[w]), inst.domain.demand.max[w])
    return np.minimum(np.minimum(wanted, inst.fit.T), inst.shapes.per_node_max[None, :])


def gpu_demand(inst: PackingInstance, g: int, kind: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-GPU demand of every shape of `kind` on group g, and one GPU's capacity."""
    shapes, groups = inst.shapes, inst.groups
    if kind == FRACTION:
        demand = np.stack([shapes.milli, shapes.gpu_mem_mib], axis=1)
        return demand, np.array([MILLI, groups.gpu_memory_mib[g]])
    demand = np.zeros((len(shapes), 2), dtype=np.int64)  # none: MIG shapes do not fit
    if groups.gpu_type[g] >= 0 and groups.mig[g]:
        gpu_type = groups.gpu_types[groups.gpu_type[g]]
        for s in np.flatnonzero(shapes.kind == MIG):
            if shapes.mig_profile[s] in gpu_type.mig_profiles:
                demand[s] = shapes.mig_slices(int(s), gpu_type)
    return demand, np.array([MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES])


def enumerate_pool(inst: PackingInstance, limit: int = ENUMERATION_LIMIT) -> PatternPool:
    """All maximal patterns of every group whose count stays within `limit`."""
    pool = PatternPool.empty(len(inst.groups), len(inst.shapes))
    bounds = shape_bounds(inst)
    complete = np.zeros(len(inst.groups), dtype=bool)
    cache: dict[bytes, tuple | None] = {}
    for g in inst.fixed_groups:
        complete[g] = True
        if inst.pinned[:, g].any():
            pool = pool.with_patterns(np.array([g]), *pinned_pattern(inst, g))
    for g in np.flatnonzero(inst.groups.state == "up"):
        key = (
            inst.groups.capacity[g].tobytes()
            + bounds[g].tobytes()
            + np.array(
                [inst.groups.gpu_memory_mib[g], inst.groups.gpu_type[g], inst.groups.mig[g]]
            ).tobytes()
        )
        if key not in cache:
            cache[key] = _group_patterns(inst, int(g), bounds[g], limit)
        found = cache[key]
        if found is None:
            continue
        whole, gpu_configs, configs = found
        complete[g] = True
        pool = pool.with_patterns(np.full(len(whole), g), whole, gpu_configs, configs)
    return pool.with_complete(complete)


def pinned_pattern(inst: PackingInstance, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one pattern of a draining node: what runs there now, laid out on its GPUs."""
    from allocator.model.nodepack import NodePacker

    packer = NodePacker(inst, g)
    shape_of = inst.shapes.of_workload
    wanted = np.bincount(shape_of, weights=inst.pinned[:, g], minlength=len(inst.shapes))
    order = np.argsort(-inst.shapes.demand[:, 0], kind="stable")  # whole GPUs first
    for s in order[wanted[order] > 0]:
        if packer.add(int(s), int(wanted[s])) < wanted[s]:
            node = inst.domain.fleet.ids[inst.groups.members(g)[0]]
            raise InputError.single(
                inst.domain.name,
                f"node {node!r} is draining, so it keeps what runs there, but the replicas "
                "current_placement puts on it do not fit on it",
                entry=f'current_placement (node "{node}")',
            )
    return packer.pattern()


def _group_patterns(
    inst: PackingInstance, g: int, ub: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(whole counts, GPU-configuration counts, configurations) of every maximal pattern.

    Shapes of a dedicated tenant share no node with others: each tenant's shapes, and the
    rest, are enumerated apart. Shapes that must or must not share a node with another
    are left to column generation (None).
    """
    shapes = inst.shapes
    on_group = ub > 0
    for a, b in (*shapes.apart, *shapes.together):
        if on_group[a] and on_group[b]:
            return None
    tenants: np.ndarray | list[str] = (
        np.unique(shapes.tenant[on_group].astype(str)) if on_group.any() else []
    )
    if len(tenants) > 1:
        parts = []
        for tenant in tenants:
            part = _group_patterns(inst, g, np.where(shapes.tenant == tenant, ub, 0), limit)
            if part is None:
                return None
            parts.append(part)
        return _stack_parts(parts, len(shapes))
    n_shapes = len(shapes)
    capacity = inst.groups.capacity[g]
    whole_ids = np.flatnonzero((shapes.kind == WHOLE) & (ub > 0))
    configs = []
    for kind in (FRACTION, MIG):
        ids = np.flatnonzero((shapes.kind == kind) & (ub > 0))
        if len(ids) == 0:
            continue
        per_gpu, per_gpu_capacity = gpu_demand(inst, g, kind)
        found = all_multisets(per_gpu[ids], per_gpu_capacity, ub[ids], CONFIG_LIMIT)
        if found is None:
            return None
        full = np.zeros((len(found), n_shapes), dtype=np.int64)
        full[:, ids] = found
        configs.append(full)
    configs_arr = np.concatenate(configs) if configs else np.zeros((0, n_shapes), dtype=np.int64)
    # Items: whole shapes, then configurations (each takes one GPU plus its replicas' CPU/RAM).
    config_demand = configs_arr @ shapes.demand
    config_demand[:, 0] = 1
    # A shape that shares GPUs may sit on several GPUs of the node: its bound on one node
    # (wanted replicas, a most per node) is one more capacity the configurations use up.
    shared_ids = np.flatnonzero((shapes.kind != WHOLE) & (ub > 0))
    item_demand = np.concatenate(
        [
            np.concatenate(
                [
                    shapes.demand[whole_ids],
                    np.zeros((len(whole_ids), len(shared_ids)), dtype=np.int64),
                ],
                axis=1,
            ),
            np.concatenate([config_demand, configs_arr[:, shared_ids]], axis=1),
        ]
    )
    item_ub = np.concatenate([ub[whole_ids], np.full(len(configs_arr), capacity[0])])
    free = np.concatenate(
        [shapes.counted[whole_ids], (configs_arr[:, shapes.counted] > 0).any(axis=1)]
    )
    found = maximal_patterns(
        np.concatenate([capacity, ub[shared_ids]]), item_demand, item_ub, limit, free
    )
    if found is None:
        return None
    whole = np.zeros((len(found), n_shapes), dtype=np.int64)
    whole[:, whole_ids] = found[:, : len(whole_ids)]
    return whole, found[:, len(whole_ids) :], configs_arr


def _stack_parts(parts: list, n_shapes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (whole, configuration counts, configurations) from several, tables merged."""
    wholes = [p[0] for p in parts]
    tables = [p[2] for p in parts]
    offsets = np.cumsum([0] + [len(t) for t in tables])
    counts = np.zeros((sum(len(w) for w in wholes), int(offsets[-1])), dtype=np.int64)
    row = 0
    for (whole, gpu_configs, _), start in zip(parts, offsets[:-1], strict=True):
        counts[row : row + len(whole), start : start + gpu_configs.shape[1]] = gpu_configs
        row += len(whole)
    configs = np.concatenate(tables) if offsets[-1] else np.zeros((0, n_shapes), dtype=np.int64)
    return np.concatenate(wholes), counts, configs


def all_multisets(
    demand: np.ndarray, capacity: np.ndarray, ub: np.ndarray, limit: int
) -> np.ndarray | None:
    """Every non-empty multiset (count of i <= ub[i]) fitting `capacity`; None beyond `limit`."""
    sets = np.zeros((1, len(demand)), dtype=np.int64)
    remaining = capacity[None, :].astype(np.int64)
    for i in range(len(demand)):
        k_max = np.minimum(_fit_count(remaining, demand[i]), ub[i])
        repeats = k_max + 1
        total = int(repeats.sum())
        if total > limit + 1:
            return None
        rows = np.repeat(np.arange(len(sets)), repeats)
        ks = np.arange(total) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        sets = sets[rows]
        sets[:, i] = ks
        remaining = remaining[rows] - ks[:, None] * demand[i][None, :]
    return sets[sets.any(axis=1)]


def maximal_patterns(
    capacity: np.ndarray,
    demand: np.ndarray,
    ub: np.ndarray,
    limit: int,
    free: np.ndarray | None = None,
) -> np.ndarray | None:
    """Every maximal non-empty multiset of items (count of s <= ub[s]) fitting `capacity`;
    items flagged `free` may take any count, not only the largest that fits (a rule
    counts their replicas per node, so a node with fewer of them is another pattern).

    Items are expanded one at a time over a frontier of partial patterns, free items
    first, then large items; the last item is always filled as far as it goes, since
    anything less leaves room for it. Returns None when there are more than `limit`.
    """
    n_items = len(demand)
    free = np.zeros(n_items, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    active = np.flatnonzero(ub > 0)
    if len(active) == 0:
        return np.zeros((0, n_items), dtype=np.int64)
    size = (demand[active] / np.maximum(capacity, 1)).max(axis=1)
    active = active[np.lexsort((-size, ~free[active]))]
    patterns = np.zeros((1, n_items), dtype=np.int64)
    remaining = capacity[None, :].astype(np.int64)
    for position, s in enumerate(active):
        k_max = np.minimum(_fit_count(remaining, demand[s]), ub[s])
        if position == len(active) - 1 and not free[s]:
            rows = np.arange(len(patterns))
            ks = k_max
        else:
            repeats = k_max + 1
            total = int(repeats.sum())
            if total > _PARTIAL_LIMIT:
                return None
            rows = np.repeat(np.arange(len(patterns)), repeats)
            ks = np.arange(total) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        patterns = patterns[rows]
        patterns[:, s] = ks
        remaining = remaining[rows] - ks[:, None] * demand[s][None, :]
    keep = np.concatenate(
        [
            _is_maximal(
                patterns[i : i + _CHUNK],
                remaining[i : i + _CHUNK],
                demand[active],
                np.where(free[active], 0, ub[active]),  # a free item never leaves room
                active,
            )
            for i in range(0, len(patterns), _CHUNK)
        ]
    )
    keep &= patterns.any(axis=1)
    if keep.sum() > limit:
        return None
    return patterns[keep]


def _fit_count(remaining: np.ndarray, demand: np.ndarray) -> np.ndarray:
    used = demand > 0
    if not used.any():
        return np.full(len(remaining), np.iinfo(np.int32).max, dtype=np.int64)
    return (remaining[:, used] // demand[used]).min(axis=1)


def _is_maximal(
    patterns: np.ndarray,
    remaining: np.ndarray,
    demand: np.ndarray,
    ub: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    fits = (demand[None, :, :] <= remaining[:, None, :]).all(axis=2)
    room_left = patterns[:, active] < ub[None, :]
    return ~np.asarray((fits & room_left).any(axis=1))
