"""Filling one node of a group with replicas, GPU by GPU."""

from __future__ import annotations

import numpy as np

from allocator.model import pricing_kernel
from allocator.model.patterns import gpu_demand
from allocator.model.reduce import FRACTION, MIG, WHOLE, PackingInstance


class NodePacker:
    """One node of a group being filled, GPU by GPU: used to find patterns fast and to
    lay out a given node content on GPUs."""

    def __init__(self, inst: PackingInstance, g: int):
        self.inst, self.g = inst, g
        groups = inst.groups
        self.free = groups.capacity[g, 1:].astype(np.int64).copy()
        n_gpus = int(groups.gpus[g])
        self.mode = np.zeros(n_gpus, dtype=np.int8)  # 0 free, 1 whole, 2 fraction, 3 MIG
        self.left = np.zeros((n_gpus, 2), dtype=np.int64)
        self.content = np.zeros((n_gpus, len(inst.shapes)), dtype=np.int64)
        self.whole = np.zeros(len(inst.shapes), dtype=np.int64)
        shapes = inst.shapes
        self.ruled = bool(len(shapes.apart) or len(shapes.together) or (shapes.tenant != "").any())
        self._per_gpu = {kind: gpu_demand(inst, g, kind) for kind in (FRACTION, MIG)}

    def could_hold(self, shapes_: np.ndarray) -> np.ndarray:
        """Which of these shapes could still get one more replica on the node, judged by its
        resources left and its GPUs (free, or shared with room), not by the node rules."""
        shapes = self.inst.shapes
        ok = np.asarray((shapes.demand[shapes_, 1:] <= self.free).all(axis=1))
        free_gpus = int((self.mode == 0).sum())
        kind = shapes.kind[shapes_]
        whole = kind == WHOLE
        ok[whole] &= shapes.demand[shapes_[whole], 0] <= free_gpus
        for kind_id, mode in ((FRACTION, 2), (MIG, 3)):
            mine = kind == kind_id
            if not mine.any():
                continue
            per_gpu, capacity = self._per_gpu[kind_id]
            need = per_gpu[shapes_[mine]]
            room = (capacity[None, :] >= need).all(axis=1) & (free_gpus > 0)
            opened = self.left[self.mode == mode]
            if len(opened):
                room |= (opened[None, :, :] >= need[:, None, :]).all(axis=2).any(axis=1)
            ok[mine] &= room & need.any(axis=1)
        return ok

    def allows(self, s: int) -> bool:
        """Whether the node rules let shape s join what the node already has."""
        if not self.ruled:
            return True
        shapes = self.inst.shapes
        present = (self.whole + self.content.sum(axis=0)) > 0
        tenant = shapes.tenant[s]
        others = set(shapes.tenant[present])
        if present.any() and ((tenant and others != {tenant}) or (not tenant and others - {""})):
            return False
        for s1, s2 in shapes.apart:
            if (s == s1 and present[s2]) or (s == s2 and present[s1]):
                return False
        return all(present[needed] for needer, needed in shapes.together if needer == s)

    def add(self, s: int, limit: int) -> int:
        """Place up to `limit` replicas of shape s; returns how many fitted."""
        if not self.allows(s):
            return 0
        shapes = self.inst.shapes
        node_need = shapes.demand[s, 1:]
        if shapes.kind[s] == WHOLE:
            k = int(shapes.demand[s, 0])
            fit = limit
            if k:
                fit = min(fit, int((self.mode == 0).sum()) // k)
            used = node_need > 0
            if used.any():
                fit = min(fit, int((self.free[used] // node_need[used]).min()))
            fit = max(fit, 0)
            free = np.flatnonzero(self.mode == 0)[: fit * k]
            self.mode[free] = 1
            self.whole[s] += fit
            self.free -= fit * node_need
            return fit
        kind_mode = 2 if shapes.kind[s] == FRACTION else 3
        per_gpu, capacity = self._per_gpu[int(shapes.kind[s])]
        need = per_gpu[s]
        if not need.any() or (capacity < need).any():
            return 0
        used = node_need > 0
        fit = limit
        if used.any():
            fit = min(fit, int((self.free[used] // node_need[used]).min()))
        if fit <= 0:
            return 0
        # Fill GPUs already shared (fullest first), then open free ones.
        opened = np.flatnonzero(self.mode == kind_mode)
        opened = opened[np.argsort(self.left[opened, 0], kind="stable")]
        free = np.flatnonzero(self.mode == 0)
        per_opened = _per_gpu_fit(self.left[opened], need)
        per_free = _per_gpu_fit(capacity[None, :], need)[0]
        gpus = np.concatenate([opened, free])
        room = np.concatenate([per_opened, np.full(len(free), per_free)])
        take = np.clip(fit - (np.cumsum(room) - room), 0, room)
        chosen = take > 0
        gpus, take = gpus[chosen], take[chosen]
        newly = self.mode[gpus] == 0
        self.mode[gpus] = kind_mode
        self.left[gpus[newly]] = capacity
        self.left[gpus] -= take[:, None] * need[None, :]
        self.content[gpus, s] += take
        self.free -= int(take.sum()) * node_need
        return int(take.sum())

    def fill(self, order: np.ndarray, limit: np.ndarray) -> None:
        """Place up to limit[k] replicas of each shape order[k], in that order (a shape may
        appear more than once), each as far as it fits. Compiled where numba is installed
        and the node rules are not in play (the compiled loop does not check them)."""
        if pricing_kernel.AVAILABLE and not self.ruled:
            shapes = self.inst.shapes
            fraction_need, fraction_capacity = self._per_gpu[FRACTION]
            mig_need, mig_capacity = self._per_gpu[MIG]
            pricing_kernel.fill_in_order(
                np.ascontiguousarray(order, dtype=np.int64),
                np.ascontiguousarray(limit, dtype=np.int64),
                shapes.kind,
                shapes.demand,
                fraction_need,
                fraction_capacity,
                mig_need,
                mig_capacity,
                self.free,
                self.mode,
                self.left,
                self.content,
                self.whole,
            )
            return
        keep = np.ones(len(order), dtype=bool)
        for k in range(len(order)):
            if not keep[k]:
                continue
            keep[k:] &= self.could_hold(order[k:])  # skip what no longer fits
            if keep[k]:
                self.add(int(order[k]), int(limit[k]))

    def pattern(self):
        """(whole counts, GPU-configuration counts, configurations): the node's GPUs with
        the same content counted as one configuration (a node has a few GPUs, so a dict of
        their contents beats a sort of the rows)."""
        seen: dict[bytes, int] = {}
        rows = []
        for gpu in np.flatnonzero(self.content.any(axis=1)).tolist():
            key = self.content[gpu].tobytes()
            if key not in seen:
                seen[key] = 0
                rows.append(self.content[gpu])
            seen[key] += 1
        n_shapes = len(self.inst.shapes)
        configs = np.array(rows, dtype=np.int64) if rows else np.zeros((0, n_shapes), np.int64)
        multiplicity = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
        return self.whole[None, :], multiplicity[None, :], configs


def _per_gpu_fit(left: np.ndarray, need: np.ndarray) -> np.ndarray:
    """How many more replicas needing `need` fit in each GPU's `left`."""
    used = need > 0
    return (left[:, used] // need[used]).min(axis=1) if len(left) else np.zeros(0, dtype=np.int64)
