"""Alibaba's openb GPU trace (node list + task list) as an allocator inventory.

The trace's online schedulers see tasks one at a time; a batch planner sees the whole
queue. This importer hands it that queue: every task in the file, or the tasks that
arrived, in the FGD simulator's seeded order (``allocator.interop.openb.build_arrivals``), until
their summed GPU request reached a share of the cluster's GPU capacity.

- Nodes of identical shape (CPU, memory, GPU count and model) become one node group.
- GPU models become GPU types: V100M16, V100M32, P100, T4 and A10 map onto the catalog's
  ``V100``, ``V100-32GB``, ``P100``, ``T4`` and ``A10``; the undisclosed G1/G2/G3 and any
  other model get a ``gpu_types`` entry of their own. The trace has no GPU memory figures
  and no task asks for GPU memory, so the memory of those entries
  (``UNDISCLOSED_GPU_MEMORY_GIB``) never decides a placement.
- Tasks of identical shape become one workload with ``replicas: {min: 0, max: count}``:
  a share of one GPU (``gpu_milli`` < 1000 with one GPU) is a ``gpu_fraction``, whole GPUs
  are ``gpus``, ``gpu_spec`` is ``gpu_types``, CPU-only tasks ask for no GPU.
- A workload's priority is one task's GPU request in milli-GPU (1 for CPU-only tasks), so
  the planner's ``unplaced_priority`` level counts unallocated milli-GPU: maximizing what
  is placed maximizes allocated GPU.
- Nodes cost 0 unless a price per GPU-hour is given for their GPU type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from allocator.interop.openb.trace import (
    MILLI,
    OpenbNodes,
    OpenbTasks,
    OpenbTrace,
    arrival_prefix,
    build_arrivals,
    read_nodes,
    read_tasks,
)
from allocator.interop.prices import PriceList, load_prices, unpriced_warning
from allocator.interop.result import ImportResult, ImportWarning, number, validated
from allocator.inventory.catalog import BUILTIN_GPU_TYPES
from allocator.io.errors import InputError

__all__ = [
    "CPU_TASK_PRIORITY",
    "OPENB_TO_CATALOG",
    "UNDISCLOSED_GPU_MEMORY_GIB",
    "ArrivedTasks",
    "OpenbImport",
    "arrived_tasks",
    "gpu_type_name",
    "import_openb",
    "openb_inventory",
]

OPENB_TO_CATALOG = {
    "V100M16": "V100",
    "V100M32": "V100-32GB",
    "P100": "P100",
    "T4": "T4",
    "A10": "A10",
}
# G1/G2/G3 are undisclosed; 16 GiB, the smallest memory in the trace's known models, is a
# stated placeholder. openb tasks ask for no GPU memory, so it never decides a placement.
UNDISCLOSED_GPU_MEMORY_GIB = 16.0
CPU_TASK_PRIORITY = 1
MIB_PER_GIB = 1024


@dataclass(frozen=True)
class ArrivedTasks:
    """Which tasks the inventory holds: all of the file, or a seeded arrival prefix.

    ``count`` counts arrivals (a task the simulator sampled twice counts twice);
    ``gpu_request_milli`` is their summed GPU request, ``cpu_only`` how many ask for no
    GPU, ``capacity_milli`` the GPU capacity of the nodes the prefix was measured against.
    """

    seed: int | None
    fraction: float | None
    count: int
    trace_tasks: int
    gpu_request_milli: int
    cpu_only: int
    capacity_milli: int


@dataclass
class OpenbImport(ImportResult):
    """The inventory, and what it was made of."""

    arrived: ArrivedTasks | None = None


def gpu_type_name(model: str) -> str:
    """The inventory's GPU type for an openb model: a catalog name where one exists."""
    return OPENB_TO_CATALOG.get(model, model)


def import_openb(
    nodes_path: str | Path,
    pods_path: str | Path,
    *,
    seed: int | None = None,
    arrived: float | None = None,
    all_nodes: bool = False,
    prices_path: str | Path | None = None,
    name: str = "openb",
) -> OpenbImport:
    """Read an openb node list and task list and build a validated inventory.

    With ``seed``, the tasks are those that arrived in the simulator's order for that seed
    until their GPU request reached ``arrived`` (default 1.0) of the GPU capacity.
    Without ``all_nodes`` only GPU nodes are kept, as in the published experiments.
    """
    nodes = read_nodes(nodes_path)
    tasks = read_tasks(pods_path)
    trace = OpenbTrace(nodes if all_nodes else nodes.with_gpus(), tasks)
    return openb_inventory(
        trace,
        seed=seed,
        arrived=arrived,
        prices=load_prices(prices_path),
        name=name,
        source=f"{Path(nodes_path).name}, {Path(pods_path).name}",
    )


def openb_inventory(
    trace: OpenbTrace,
    *,
    seed: int | None = None,
    arrived: float | None = None,
    ratio: float = 1.3,
    prices: PriceList | None = None,
    name: str = "openb",
    source: str = "openb trace",
) -> OpenbImport:
    """The inventory of a loaded trace (its nodes as given: filter them beforehand)."""
    if arrived is not None and seed is None:
        raise InputError.single(
            source, "an arrival share needs a seed: the simulator's order depends on it"
        )
    if arrived is not None and not 0 < arrived <= ratio:
        raise InputError.single(
            source, f"arrived share {arrived} is outside (0, {ratio}]: tasks are sampled up to it"
        )
    if not len(trace.nodes):
        raise InputError.single(source, "no nodes left: the node list has no GPU nodes")
    prices = prices or PriceList()
    picked = arrived_tasks(trace, seed, 1.0 if arrived is None else arrived, ratio)
    tasks = trace.tasks
    request = tasks.gpu_request_milli[picked]
    summary = ArrivedTasks(
        seed=seed,
        fraction=None if seed is None else (1.0 if arrived is None else arrived),
        count=len(picked),
        trace_tasks=len(tasks),
        gpu_request_milli=int(request.sum()),
        cpu_only=int((tasks.num_gpu[picked] == 0).sum()),
        capacity_milli=trace.nodes.gpu_capacity_milli,
    )
    warnings: list[ImportWarning] = []
    workloads = _workload_entries(tasks, picked, warnings)
    models = sorted(
        {str(m) for m in trace.nodes.gpu_model if m}
        | {t for w in workloads for t in w.get("gpu_types", [])}
    )
    document: dict = {
        "version": 1,
        "name": name,
        "description": _description(source, summary),
    }
    new_types = {
        gpu_type_name(m): {"memory_gib": UNDISCLOSED_GPU_MEMORY_GIB, "vendor": "nvidia"}
        for m in models
        if gpu_type_name(m) not in BUILTIN_GPU_TYPES
    }
    if new_types:
        document["gpu_types"] = new_types
    document["nodes"] = _node_entries(trace.nodes, prices, warnings)
    document["workloads"] = workloads
    inventory = validated(document, f"{source} (imported)")
    return OpenbImport(inventory, document, warnings, summary)


def arrived_tasks(trace: OpenbTrace, seed: int | None, fraction: float, ratio: float) -> np.ndarray:
    """Task indices (repeats allowed) that arrived by ``fraction`` of GPU capacity.

    Without a seed: every task of the file once, in file order.
    """
    if seed is None:
        return np.arange(len(trace.tasks))
    sequence = build_arrivals(trace.tasks, trace.nodes, seed, ratio=ratio)
    request = trace.tasks.gpu_request_milli[sequence.task]
    count = arrival_prefix(request, trace.nodes.gpu_capacity_milli, fraction)
    return sequence.task[:count]


def _description(source: str, summary: ArrivedTasks) -> str:
    text = f"imported from the openb trace ({source}): {summary.count} tasks"
    if summary.seed is not None:
        text += (
            f" arrived by {summary.fraction:.0%} of GPU capacity in the simulator's order"
            f" for seed {summary.seed} (of {summary.trace_tasks} in the file)"
        )
    return text + f"; priority = GPU request in milli-GPU, {CPU_TASK_PRIORITY} for CPU-only tasks"


def _node_entries(nodes: OpenbNodes, prices: PriceList, warnings: list[ImportWarning]) -> list:
    """One entry per distinct node shape, in the order the shapes first occur."""
    key = np.stack(
        [nodes.cpu_milli, nodes.memory_mib, nodes.gpu_count, _codes(nodes.gpu_model)], axis=1
    )
    _, first, of_node = np.unique(key, axis=0, return_index=True, return_inverse=True)
    counts = np.bincount(of_node.ravel(), minlength=len(first))
    entries, unpriced = [], []
    for group in np.argsort(first, kind="stable"):
        n = int(first[group])
        gpus, model = int(nodes.gpu_count[n]), str(nodes.gpu_model[n])
        cores = number(int(nodes.cpu_milli[n]) / MILLI)
        ram = number(int(nodes.memory_mib[n]) / MIB_PER_GIB)
        gpu_type = gpu_type_name(model) if gpus else None
        node_id = (
            f"openb-{model}-{gpus}gpu-{cores}cpu-{ram}gib"
            if gpus
            else f"openb-cpu-{cores}cpu-{ram}gib"
        )
        entry: dict = {"id": node_id, "count": int(counts[group])}
        if gpu_type is not None:
            entry.update(gpu_type=gpu_type, gpus=gpus)
        cost = 0.0
        if gpus:
            found = prices.node_cost(node_id, None, model, gpus) or prices.node_cost(
                node_id, None, gpu_type, gpus
            )
            if found is not None:
                cost = found[0]
            elif prices.prices:
                unpriced.append(node_id)
        entry.update(cpus=cores, ram_gib=ram, cost_per_hour=number(cost))
        entry["labels"] = {"openb/model": model or "none"}
        entries.append(entry)
    if unpriced:
        warnings.append(unpriced_warning(unpriced, prices))
    return entries


def _workload_entries(tasks: OpenbTasks, picked: np.ndarray, warnings: list[ImportWarning]):
    """One workload per distinct task shape among the picked tasks, largest GPU request first."""
    specs = np.array([_spec(str(s)) for s in tasks.gpu_spec])
    cpu_with_spec = picked[(tasks.num_gpu[picked] == 0) & (specs[picked] != "")]
    if len(cpu_with_spec):
        warnings.append(
            ImportWarning(
                ", ".join(f"tasks/{tasks.names[t]}" for t in np.unique(cpu_with_spec)[:5]),
                "gpu_spec",
                "a CPU-only task names GPU models: not carried over (it needs no GPU)",
            )
        )
    specs = np.where(tasks.num_gpu == 0, "", specs)
    key = np.stack(
        [
            -tasks.gpu_request_milli,
            tasks.num_gpu,
            tasks.gpu_milli,
            tasks.cpu_milli,
            tasks.memory_mib,
            _codes(specs),
        ],
        axis=1,
    )[picked]
    unique, first, of_task = np.unique(key, axis=0, return_index=True, return_inverse=True)
    counts = np.bincount(of_task.ravel(), minlength=len(unique))
    entries = []
    for shape, count in enumerate(counts):
        t = int(picked[first[shape]])
        entries.append(_workload(tasks, t, str(specs[t]), int(count)))
    return entries


def _workload(tasks: OpenbTasks, t: int, spec: str, count: int) -> dict:
    num_gpu, milli = int(tasks.num_gpu[t]), int(tasks.gpu_milli[t])
    cores = number(int(tasks.cpu_milli[t]) / MILLI)
    ram = number(int(tasks.memory_mib[t]) / MIB_PER_GIB)
    resources: dict = {}
    if num_gpu == 1 and milli < MILLI:
        resources["gpu_fraction"] = milli / MILLI
        what = f"gpu{milli / MILLI:.3f}"
    elif num_gpu:
        resources["gpus"] = num_gpu
        what = f"gpu{num_gpu}"
    else:
        what = "cpu"
    resources.update(cpus=cores, ram_gib=ram)
    types = [gpu_type_name(m) for m in spec.split("|")] if spec else []
    suffix = f"-on-{'+'.join(types)}" if types else ""
    entry: dict = {
        "id": f"{what}-cpu{cores}-ram{ram}gib{suffix}",
        "kind": "batch",
        "priority": num_gpu * milli if num_gpu else CPU_TASK_PRIORITY,
        "replicas": {"min": 0, "max": count},
        "resources": resources,
    }
    if types:
        entry["gpu_types"] = types
    return entry


def _spec(spec: str) -> str:
    """Allowed models once each, sorted: specs that differ only in order are one shape."""
    return "|".join(sorted({m for m in spec.split("|") if m}))


def _codes(values: np.ndarray) -> np.ndarray:
    """Strings as integer codes (for use in a numeric key)."""
    return np.unique(values, return_inverse=True)[1].ravel()
