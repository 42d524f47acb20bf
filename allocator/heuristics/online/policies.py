"""Online GPU-sharing schedulers, replayed as the FGD simulator replays them.

Re-implements the score plugins of kubernetes-scheduler-simulator (Weng et al., "Beware
of Fragmentation", USENIX ATC '23) with numpy: tasks arrive one at a time; the nodes
that can host a task are those with enough free CPU and memory, an allowed GPU model and
enough GPUs with a large enough free share; each policy scores them with the plugin's
integer score; the highest score wins, ties going to the lowest node rank (the
simulator's Kubernetes fork picks the smallest node name, and node names carry a seeded
random prefix); the policy's GPU selector then picks the GPUs. A task that fits nowhere
is skipped. Every step is vectorized over nodes and GPUs.

Source files cited below are paths in that repository.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocator.interop.openb.trace import (
    MILLI,
    ArrivalSequence,
    OpenbNodes,
    OpenbTasks,
    arrival_prefix,
)

MAX_SPEC_CPU = 128_000  # pkg/type/open-gpu-share/utils/const.go MaxSpecCpu
MAX_SPEC_GPU = 8_000  # ... MaxSpecGpu
MAX_SCORE = 100  # framework.MaxNodeScore

POLICIES = (
    "random",
    "dot-product",
    "gpu-clustering",
    "gpu-packing",
    "best-fit",
    "fgd",
    "first-fit",
)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class TaskTable:
    """Per-task arrays of a trace, with the codes the policies index by."""

    cpu: np.ndarray  # int64
    memory: np.ndarray  # int64
    num_gpu: np.ndarray  # int64
    gpu_milli: np.ndarray  # int64, per GPU
    allowed: np.ndarray  # bool[task, model code]
    shape: np.ndarray  # int64: tasks of one shape (cpu, gpu_milli, num_gpu) score alike
    tag: np.ndarray  # int64 GPU-affinity tag: 0 none, 1 shared GPU, 1 + k for k whole GPUs

    @classmethod
    def build(cls, tasks: OpenbTasks, models: np.ndarray) -> TaskTable:
        shape_key = np.stack([tasks.cpu_milli, tasks.gpu_milli, tasks.num_gpu], axis=1)
        _, shape = np.unique(shape_key, axis=0, return_inverse=True)
        shared = (tasks.num_gpu == 1) & (tasks.gpu_milli < MILLI)
        tag = np.where(tasks.num_gpu == 0, 0, np.where(shared, 1, 1 + tasks.num_gpu))
        return cls(
            tasks.cpu_milli,
            tasks.memory_mib,
            tasks.num_gpu,
            tasks.gpu_milli,
            tasks.model_mask(models),
            shape.reshape(-1).astype(np.int64),
            tag.astype(np.int64),
        )


class ClusterState:
    """Free CPU, memory and milli-GPU per physical GPU of every node.

    ``gpu_free`` is (nodes, max GPUs per node); slots a node does not have hold -1, so
    they never fit a task and never count as free.
    """

    def __init__(self, nodes: OpenbNodes, models: np.ndarray, num_tags: int = 10):
        width = max(int(nodes.gpu_count.max(initial=0)), 1)
        self.cpu_free = nodes.cpu_milli.astype(np.int64).copy()
        self.memory_free = nodes.memory_mib.astype(np.int64).copy()
        self.gpu_count = nodes.gpu_count.astype(np.int64)
        self.has_gpu = np.arange(width)[None, :] < self.gpu_count[:, None]
        self.gpu_free = np.where(self.has_gpu, MILLI, -1).astype(np.int64)
        self.gpu_free_total = self.gpu_count * MILLI
        self.model = np.searchsorted(models, nodes.gpu_model)
        self.version = np.zeros(len(nodes), dtype=np.int64)  # bumped on every placement
        self.tag_count = np.zeros((len(nodes), num_tags), dtype=np.int64)  # tasks per tag

    def __len__(self) -> int:
        return len(self.cpu_free)

    def feasible(self, tasks: TaskTable, t: int) -> np.ndarray:
        """Indices of nodes that can host task t (NodeResourcesFit + Open-Gpu-Share filter)."""
        ok = (self.cpu_free >= tasks.cpu[t]) & (self.memory_free >= tasks.memory[t])
        if tasks.num_gpu[t] > 0:
            ok &= tasks.allowed[t][self.model]
            ok &= (self.gpu_free >= tasks.gpu_milli[t]).sum(axis=1) >= tasks.num_gpu[t]
        return np.flatnonzero(ok)

    def place(self, tasks: TaskTable, t: int, node: int, gpus: np.ndarray) -> None:
        self.cpu_free[node] -= tasks.cpu[t]
        self.memory_free[node] -= tasks.memory[t]
        self.gpu_free[node, gpus] -= tasks.gpu_milli[t]
        self.gpu_free_total[node] -= tasks.gpu_milli[t] * len(gpus)
        self.tag_count[node, tasks.tag[t]] += 1
        self.version[node] += 1


def whole_gpus(state: ClusterState, node: int, count: int) -> np.ndarray:
    """The first ``count`` fully free GPUs (pkg/type/resource.go AllocateExclusiveGpuId)."""
    return np.flatnonzero(state.gpu_free[node] == MILLI)[:count]


def tightest_gpu(state: ClusterState, node: int, milli: int) -> np.ndarray:
    """The GPU with the least free share that still fits, lowest index first
    (plugin/open_gpu_share.go allocateGpuIdBasedOnBestFit)."""
    free = state.gpu_free[node]
    fits = np.flatnonzero(free >= milli)
    return fits[[int(np.argmin(free[fits]))]]


def is_shared(tasks: TaskTable, t: int) -> bool:
    return bool(tasks.num_gpu[t] == 1 and tasks.gpu_milli[t] < MILLI)


# ------------------------------------------------------------------------ policies


class Policy:
    """Scores feasible nodes (higher wins) and picks GPUs on the chosen node."""

    name = "policy"

    def scores(
        self, state: ClusterState, tasks: TaskTable, t: int, nodes: np.ndarray
    ) -> np.ndarray:
        """int64 score of task t on each of ``nodes``."""
        raise NotImplementedError

    def gpus(self, state: ClusterState, tasks: TaskTable, t: int, node: int) -> np.ndarray:
        """GPU selection "best", the experiments' default (scripts/generate_config_and_run.py)."""
        if tasks.num_gpu[t] == 0:
            return np.empty(0, dtype=np.int64)
        if is_shared(tasks, t):
            return tightest_gpu(state, node, int(tasks.gpu_milli[t]))
        return whole_gpus(state, node, int(tasks.num_gpu[t]))

    def placed(self, state: ClusterState, node: int) -> None:
        """Called after a placement changed ``node``."""


class FirstFit(Policy):
    """Every node scores 100 (plugin/first_fit_score.go), so the lowest rank wins."""

    name = "first-fit"

    def scores(self, state, tasks, t, nodes):
        return np.full(len(nodes), MAX_SCORE, dtype=np.int64)


class BestFit(Policy):
    """Least free CPU and GPU left after placing, half weight each (best_fit_score.go).

    The plugin's min-max normalization maps these integer scores (range <= 100)
    one-to-one and in order, so it cannot change the winner and is left out.
    """

    name = "best-fit"

    def scores(self, state, tasks, t, nodes):
        cpu_left = state.cpu_free[nodes].astype(float) - float(tasks.cpu[t])
        gpu_left = state.gpu_free_total[nodes].astype(float) - float(
            tasks.num_gpu[t] * tasks.gpu_milli[t]
        )
        waste = cpu_left / MAX_SPEC_CPU * 0.5
        waste = waste + gpu_left / MAX_SPEC_GPU * 0.5
        return ((1.0 - waste) * MAX_SCORE).astype(np.int64)


class DotProduct(Policy):
    """Tetris-style alignment with ``dimExtMethod: merge, normMethod: max`` as run in the
    paper (experiments/run_scripts/generate_run_scripts.py): 1 - <free, request> / 2 over
    [CPU, total GPU] normalized by the largest node (dot_product_score.go)."""

    name = "dot-product"

    def scores(self, state, tasks, t, nodes):
        free_cpu = state.cpu_free[nodes] / MAX_SPEC_CPU
        free_gpu = state.gpu_free_total[nodes] / MAX_SPEC_GPU
        req_cpu = tasks.cpu[t] / MAX_SPEC_CPU
        req_gpu = float(tasks.num_gpu[t] * tasks.gpu_milli[t]) / MAX_SPEC_GPU
        dot = free_cpu * req_cpu + free_gpu * req_gpu
        return (float(MAX_SCORE) * (1 - dot / 2.0)).astype(np.int64)


class GpuPacking(Policy):
    """Prefer already shared GPUs, then free GPUs on used nodes, then idle nodes
    (gpu_packing_score.go). CPU tasks score 0 everywhere."""

    name = "gpu-packing"

    def scores(self, state, tasks, t, nodes):
        if tasks.num_gpu[t] == 0:
            return np.zeros(len(nodes), dtype=np.int64)
        free = state.gpu_free[nodes]
        fully_free = (free == MILLI).sum(axis=1)
        count = state.gpu_count[nodes]
        idle_node = np.maximum(MAX_SCORE // 3 - fully_free, fully_free)  # case 3
        if is_shared(tasks, t):
            milli = tasks.gpu_milli[t]
            tightest = np.where(free >= milli, free, MILLI + 1).min(axis=1)
            shared = np.maximum(MAX_SCORE - (tightest * 100 // MILLI) // 10, MAX_SCORE // 2)
            used = np.where(tightest == MILLI, max(MAX_SCORE // 2 - 1, MAX_SCORE // 3), shared)
        else:  # whole GPUs fit only fully free ones: case 2 with all of them
            used = np.full(len(nodes), max(MAX_SCORE // 2 - int(tasks.num_gpu[t]), MAX_SCORE // 3))
        return np.where(fully_free == count, idle_node, used).astype(np.int64)


class GpuClustering(Policy):
    """Put tasks with the same GPU demand (shared, 1, 2, 4, 8 GPUs) together, fuller
    nodes first (gpu_clustering_score.go). CPU tasks score 0 everywhere."""

    name = "gpu-clustering"

    def scores(self, state, tasks, t, nodes):
        if tasks.num_gpu[t] == 0:
            return np.zeros(len(nodes), dtype=np.int64)
        fullness = MAX_SCORE // 4 * (MAX_SPEC_GPU - state.gpu_free_total[nodes]) // MAX_SPEC_GPU
        tags = state.tag_count[nodes, 1:] > 0
        kinds = tags.sum(axis=1)
        same = tags[:, tasks.tag[t] - 1]
        bonus = np.where(same, np.where(kinds == 1, 75, 50), np.where(kinds == 0, 25, 0))
        return (fullness + bonus).astype(np.int64)


class RandomPolicy(Policy):
    """A uniformly random feasible node and, for a shared GPU, a random fitting GPU
    (random_score.go, open_gpu_share.go allocateGpuIdBasedOnRandomFit)."""

    name = "random"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def scores(self, state, tasks, t, nodes):
        scores = np.zeros(len(nodes), dtype=np.int64)
        scores[self.rng.integers(len(nodes))] = MAX_SCORE
        return scores

    def gpus(self, state, tasks, t, node):
        if is_shared(tasks, t):
            fits = np.flatnonzero(state.gpu_free[node] >= tasks.gpu_milli[t])
            return fits[[int(self.rng.integers(len(fits)))]]
        return super().gpus(state, tasks, t, node)


# ---------------------------------------------------------------------------- FGD


@dataclass(frozen=True)
class TypicalTasks:
    """The task shapes FGD expects, with their frequencies (pkg/utils/frag.go
    GetTypicalPods, as configured by scripts/generate_config_and_run.py: CPU tasks
    included, the most frequent shapes up to 95% of tasks, step 1, no GPU weighting)."""

    cpu: np.ndarray  # int64
    gpu_milli: np.ndarray  # int64, 0 for CPU tasks
    num_gpu: np.ndarray  # int64
    spec: np.ndarray  # str
    freq: np.ndarray  # float64, sums to 1

    @classmethod
    def from_tasks(cls, tasks: OpenbTasks, popularity: float = 95.0) -> TypicalTasks:
        counts: dict[tuple[int, int, int, str], int] = {}
        for key in zip(
            tasks.cpu_milli.tolist(),
            tasks.gpu_milli.tolist(),
            tasks.num_gpu.tolist(),
            tasks.gpu_spec.tolist(),
            strict=True,
        ):
            counts[key] = counts.get(key, 0) + 1
        # Most frequent first; equal counts in decreasing (cpu, milli, num, spec) order.
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        total = float(len(tasks))
        expected = popularity * total / 100.0
        cum, kept = 0.0, 0
        while cum < expected and kept < len(ranked):
            cum += ranked[kept][1]
            kept += 1
        if kept >= len(ranked):
            freq = [count / total for _, count in ranked]
        else:
            freq = [(count / total) / (cum / total) for _, count in ranked[:kept]]
        keys = [key for key, _ in ranked[:kept]]
        return cls(
            np.array([k[0] for k in keys], dtype=np.int64),
            np.array([k[1] for k in keys], dtype=np.int64),
            np.array([k[2] for k in keys], dtype=np.int64),
            np.array([k[3] for k in keys]),
            np.array(freq, dtype=np.float64),
        )

    def access(self, models: np.ndarray) -> np.ndarray:
        """bool[typical task, model code] (pkg/utils/utils.go IsNodeAccessibleToPodByType)."""
        return np.array(
            [[not s or bool(m and m in s.split("|")) for m in models] for s in self.spec],
            dtype=bool,
        ).reshape(len(self.spec), len(models))


# Fragment categories (pkg/utils/frag.go). The score sums all but Q3 in this order; a
# Q3 shape's stranded share counts as Q2.
Q1_LACK_BOTH, Q2_LACK_GPU, Q3_SATISFIED, Q4_LACK_CPU, XL_SATISFIED, XR_LACK_CPU, NO_ACCESS = range(
    7
)
_SUMMED = np.array([Q1_LACK_BOTH, Q2_LACK_GPU, Q4_LACK_CPU, XL_SATISFIED, XR_LACK_CPU, NO_ACCESS])
_CHUNK = 4096
_DEDUPLICATE_FROM = 64  # states; below this, finding duplicates costs more than it saves


def expected_fragmentation(
    typical: TypicalTasks,
    access: np.ndarray,
    cpu_free: np.ndarray,
    gpu_free: np.ndarray,
    model: np.ndarray,
) -> np.ndarray:
    """FGD's fragmentation of each node state, in milli-GPU (frag.go NodeGpuShareFragAmount).

    For each typical task shape: if the node cannot host it at all (too little CPU, no
    allowed model, too few GPUs with enough free share; memory is not considered) all
    its idle GPU counts, otherwise the idle share of the GPUs with less free share than
    the shape asks per GPU; CPU-only shapes count all idle GPU. The amounts are weighted
    by frequency and summed per category in the Go code's order, so equal node states
    give bit-equal values and a placement that changes nothing scores exactly 50.
    """
    if len(cpu_free) >= _DEDUPLICATE_FROM:  # many candidate states are alike
        key = np.column_stack([model, cpu_free, np.sort(gpu_free, axis=1)])
        unique, inverse = np.unique(key, axis=0, return_inverse=True)
        frag = _fragmentation(typical, access, unique[:, 1], unique[:, 2:], unique[:, 0])
        return frag[inverse.reshape(-1)]
    return _fragmentation(typical, access, cpu_free, gpu_free, model)


def _fragmentation(
    typical: TypicalTasks,
    access: np.ndarray,
    cpu_free: np.ndarray,
    gpu_free: np.ndarray,
    model: np.ndarray,
) -> np.ndarray:
    out = np.empty(len(cpu_free), dtype=np.float64)
    for start in range(0, len(cpu_free), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = _fragmentation_chunk(
            typical, access, cpu_free[part], gpu_free[part], model[part]
        )
    return out


def _fragmentation_chunk(
    typical: TypicalTasks,
    access: np.ndarray,
    cpu_free: np.ndarray,
    gpu_free: np.ndarray,
    model: np.ndarray,
) -> np.ndarray:
    has = gpu_free >= 0
    idle = np.where(has, gpu_free, 0).sum(axis=1).astype(np.float64)  # (B,)
    need = typical.gpu_milli[:, None, None]
    cpu_ok = cpu_free[None, :] >= typical.cpu[:, None]  # (K, B)
    hosts = (gpu_free[None] >= need).sum(axis=2) >= typical.num_gpu[:, None]
    stranded = np.where((gpu_free[None] < need) & has[None], gpu_free[None], 0).sum(axis=2)
    category = np.where(
        hosts,
        np.where(cpu_ok, Q3_SATISFIED, Q4_LACK_CPU),
        np.where(cpu_ok, Q2_LACK_GPU, Q1_LACK_BOTH),
    )
    category = np.where(access[:, model], category, NO_ACCESS)
    cpu_shape = (typical.gpu_milli == 0)[:, None]
    category = np.where(cpu_shape, np.where(cpu_ok, XL_SATISFIED, XR_LACK_CPU), category)
    freq = typical.freq[:, None]
    satisfied = category == Q3_SATISFIED
    amount = np.where(satisfied, freq * stranded, freq * idle[None, :])  # (K, B)
    category = np.where(satisfied, Q2_LACK_GPU, category)
    # terms[k, c, b]: shape k's amount in category c; cumsum adds over k in order, as Go does
    terms = (category[:, None, :] == _SUMMED[None, :, None]) * amount[:, None, :]
    per_category = np.cumsum(terms, axis=0)[-1]  # (categories, B)
    total = per_category[0]
    for row in per_category[1:]:
        total = total + row
    return total


def fgd_score(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """int64(sigmoid((before - after) / 1000) * 100) (plugin/fgd_score.go)."""
    return (1.0 / (1.0 + np.exp(-((before - after) / 1000))) * MAX_SCORE).astype(np.int64)


class Fgd(Policy):
    """Fragmentation Gradient Descent (plugin/fgd_score.go): the node, and for a shared
    GPU the GPU, whose expected fragmentation grows least.

    A node's score for a task depends only on the node's state and the task's shape, so
    scores are cached per (shape, node) and recomputed only for nodes changed since.
    """

    name = "fgd"

    def __init__(
        self, typical: TypicalTasks, table: TaskTable, state: ClusterState, models: np.ndarray
    ):
        self.typical = typical
        self.access = self.typical.access(models)
        shapes = int(table.shape.max()) + 1
        self.cached_score = np.zeros((shapes, len(state)), dtype=np.int64)
        self.cached_gpu = np.zeros((shapes, len(state)), dtype=np.int64)
        self.cached_version = np.full((shapes, len(state)), -1, dtype=np.int64)
        self.frag = self._fragmentation(state.cpu_free, state.gpu_free, state.model)

    def _fragmentation(
        self, cpu_free: np.ndarray, gpu_free: np.ndarray, model: np.ndarray
    ) -> np.ndarray:
        return expected_fragmentation(self.typical, self.access, cpu_free, gpu_free, model)

    def scores(self, state, tasks, t, nodes):
        self._refresh(state, tasks, t, nodes)
        return self.cached_score[tasks.shape[t], nodes]

    def gpus(self, state, tasks, t, node):
        if not is_shared(tasks, t):
            return super().gpus(state, tasks, t, node)
        self._refresh(state, tasks, t, np.array([node]))
        return self.cached_gpu[tasks.shape[t], [node]]

    def placed(self, state, node):
        self.frag[node] = self._fragmentation(
            state.cpu_free[[node]], state.gpu_free[[node]], state.model[[node]]
        )[0]

    def _refresh(self, state: ClusterState, tasks: TaskTable, t: int, nodes: np.ndarray) -> None:
        shape = tasks.shape[t]
        stale = nodes[self.cached_version[shape, nodes] != state.version[nodes]]
        if len(stale) == 0:
            return
        cpu_after = state.cpu_free[stale] - tasks.cpu[t]
        if is_shared(tasks, t):
            # One candidate per GPU that fits: take the share from that GPU.
            owner, gpu = np.nonzero(state.gpu_free[stale] >= tasks.gpu_milli[t])
            gpu_after = state.gpu_free[stale[owner]].copy()
            gpu_after[np.arange(len(owner)), gpu] -= tasks.gpu_milli[t]
            after = self._fragmentation(cpu_after[owner], gpu_after, state.model[stale[owner]])
            score = fgd_score(self.frag[stale[owner]], after)
            best = np.full(len(stale), -1, dtype=np.int64)
            np.maximum.at(best, owner, score)
            first = np.flatnonzero(score == best[owner])
            winners, at = np.unique(owner[first], return_index=True)  # lowest GPU index
            self.cached_score[shape, stale] = best
            self.cached_gpu[shape, stale[winners]] = gpu[first[at]]
        else:
            gpu_after = state.gpu_free[stale].copy()
            if tasks.num_gpu[t] > 0:  # whole GPUs: the first free ones (resource.go Sub)
                free = gpu_after == MILLI
                take = free & (np.cumsum(free, axis=1) <= tasks.num_gpu[t])
                gpu_after[take] -= MILLI
            after = self._fragmentation(cpu_after, gpu_after, state.model[stale])
            self.cached_score[shape, stale] = fgd_score(self.frag[stale], after)
        self.cached_version[shape, stale] = state.version[stale]


# -------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class OnlineResult:
    """Where each arrival went, and the GPU allocation after each arrival."""

    policy: str
    node: np.ndarray  # int64 per arrival, -1 where the task fit nowhere
    gpus: np.ndarray  # int64 (arrivals, max GPUs per node): GPU indices, -1 padded
    arrived_milli: np.ndarray  # int64: GPU request arrived so far, placed or not
    allocated_milli: np.ndarray  # int64: milli-GPU allocated after each arrival
    capacity_milli: int
    wall_seconds: float

    @property
    def placed(self) -> np.ndarray:
        return self.node >= 0

    def prefix(self, fraction: float = 1.0) -> int:
        """Arrivals until the arrived GPU request first reaches ``fraction`` of capacity."""
        request = np.diff(self.arrived_milli, prepend=0)
        return arrival_prefix(request, self.capacity_milli, fraction)

    def allocation_ratio(self, fraction: float = 1.0) -> float:
        """Allocated share of all GPUs, in %, at the arrival that reaches ``fraction``."""
        return 100.0 * self.allocated_milli[self.prefix(fraction) - 1] / self.capacity_milli

    def reported_allocation_ratio(self, percent: int = 100) -> float:
        """The figure the paper reports: the mean allocation, in %, over the arrivals whose
        arrived request rounds to ``percent`` % of capacity, each rounded as the
        analysis rounds it (experiments/analysis/merge_alloc_discrete_0920.py)."""
        gpus = self.capacity_milli // MILLI
        # The simulator logs once before the first task too.
        arrive = np.round(np.append(0, self.arrived_milli) / gpus / 10)
        alloc = np.round(np.append(0, self.allocated_milli) / gpus / 10, 2)
        window = arrive == percent
        if not window.any():
            window = (arrive >= percent - 1) & (arrive <= percent + 1)
        if not window.any():
            return float("nan")
        return round(float(alloc[window].mean()), 2)


_SIMPLE: dict[str, Callable[[], Policy]] = {
    "first-fit": FirstFit,
    "best-fit": BestFit,
    "dot-product": DotProduct,
    "gpu-packing": GpuPacking,
    "gpu-clustering": GpuClustering,
}


def simulate(
    nodes: OpenbNodes,
    tasks: OpenbTasks,
    arrivals: ArrivalSequence,
    policy: str,
    *,
    typical_tasks: OpenbTasks | None = None,
) -> OnlineResult:
    """Place ``arrivals`` one by one on ``nodes`` with ``policy`` (one of POLICIES).

    FGD's expected task shapes come from ``typical_tasks``, by default ``tasks``: the
    simulator takes them from the trace's own tasks, before inflation.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
    started = time.perf_counter()
    models = np.unique(nodes.gpu_model)
    table = TaskTable.build(tasks, models)
    state = ClusterState(nodes, models, num_tags=int(table.tag.max(initial=0)) + 1)
    chooser: Policy
    if policy == "fgd":
        typical = TypicalTasks.from_tasks(tasks if typical_tasks is None else typical_tasks)
        chooser = Fgd(typical, table, state, models)
    elif policy == "random":
        chooser = RandomPolicy(arrivals.seed)
    else:
        chooser = _SIMPLE[policy]()
    rank = arrivals.node_rank
    count = len(arrivals)
    placed_on = np.full(count, -1, dtype=np.int64)
    placed_gpus = np.full((count, state.gpu_free.shape[1]), -1, dtype=np.int64)
    allocated = np.zeros(count, dtype=np.int64)
    total = 0
    for a, t in enumerate(arrivals.task.tolist()):
        feasible = state.feasible(table, t)
        if len(feasible):
            if len(feasible) == 1:  # the scheduler skips scoring then
                node = int(feasible[0])
            else:
                score = chooser.scores(state, table, t, feasible)
                best = feasible[score == score.max()]
                node = int(best[np.argmin(rank[best])])
            gpus = chooser.gpus(state, table, t, node)
            state.place(table, t, node, gpus)
            chooser.placed(state, node)
            placed_on[a] = node
            placed_gpus[a, : len(gpus)] = gpus
            total += int(table.gpu_milli[t]) * len(gpus)
        allocated[a] = total
    request = tasks.gpu_request_milli[arrivals.task]
    return OnlineResult(
        policy,
        placed_on,
        placed_gpus,
        np.cumsum(request),
        allocated,
        nodes.gpu_capacity_milli,
        time.perf_counter() - started,
    )
