"""Kubernetes cluster state (`kubectl get nodes/pods -o json`) as an allocator inventory.

Nodes become fleet nodes, pods grouped by owner become workloads, and bound pods become
the current placement. What the inventory cannot express yet (taints, cordons, node
selectors, affinity, tolerations, MIG devices) is listed in the result's warnings.
The reverse direction, a plan as pinned pod manifests, is in `kube_export`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from allocator.interop.kube_export import KubernetesExport, export_kubernetes
from allocator.interop.kube_nodes import KubeNode, read_node
from allocator.interop.kube_objects import read_objects
from allocator.interop.kube_pods import KubePod, read_pods
from allocator.interop.kube_priorities import (
    DEFAULT_PRIORITY,
    PriorityClasses,
    read_priority_classes,
    workload_priority,
)
from allocator.interop.kube_warnings import constraint_warnings, node_warnings, request_warnings
from allocator.interop.kube_workloads import KubeWorkload, group_workloads, selected_gpu_types
from allocator.interop.prices import PriceList, load_prices, unpriced_warning
from allocator.interop.reading import Problems, report_duplicates
from allocator.interop.result import ImportResult, ImportWarning, number, validated

__all__ = [
    "DEFAULT_PRIORITY",
    "KubernetesExport",
    "KubernetesImport",
    "export_kubernetes",
    "import_kubernetes",
    "read_pods",
]


@dataclass
class KubernetesImport(ImportResult):
    """The inventory plus the typed records it was made from."""

    nodes: list[KubeNode] = field(default_factory=list)
    workloads: list[KubeWorkload] = field(default_factory=list)


def import_kubernetes(
    nodes_path: str | Path,
    pods_path: str | Path,
    priority_classes_path: str | Path | None = None,
    prices_path: str | Path | None = None,
    rack_label: str | None = None,
    name: str = "kubernetes",
) -> KubernetesImport:
    """Read kubectl output and build a validated inventory; bad input raises InputError."""
    problems = Problems()
    node_objects = read_objects(nodes_path, "Node", "nodes", problems, namespaced=False)
    nodes = [n for o in node_objects if (n := read_node(o, rack_label, problems)) is not None]
    pods = read_pods(pods_path, problems, {o.name for o in node_objects})
    classes = read_priority_classes(priority_classes_path, problems)
    prices = load_prices(prices_path)
    report_duplicates([n.name for n in nodes], "nodes", str(nodes_path), problems)
    problems.raise_if_any()

    warnings: list[ImportWarning] = []
    workloads = group_workloads(pods)
    document = {
        "version": 1,
        "name": name,
        "description": f"imported from Kubernetes: {Path(nodes_path).name}, {Path(pods_path).name}",
    }
    gpu_types = _new_gpu_types(nodes, warnings)
    if gpu_types:
        document["gpu_types"] = gpu_types
    document["nodes"] = _node_entries(nodes, pods, prices, warnings)
    product_types = {n.gpu.product: n.gpu.type_name for n in nodes if n.gpu}
    document["workloads"] = [
        _workload_entry(w, classes, product_types, warnings) for w in workloads
    ]
    placement = {w.id: w.placed_on for w in workloads if w.placed_on}
    if placement:
        document["current_placement"] = placement
    inventory = validated(document, f"{name} (imported)")
    return KubernetesImport(inventory, document, warnings, nodes, workloads)


def _new_gpu_types(nodes: list[KubeNode], warnings: list[ImportWarning]) -> dict[str, dict]:
    """GPU products not in the catalog, with the memory their labels give."""
    memory: dict[str, set[int]] = {}
    for node in nodes:
        if node.gpu and not node.gpu.in_catalog and node.gpu.memory_mib:
            memory.setdefault(node.gpu.type_name, set()).add(node.gpu.memory_mib)
    out = {}
    for type_name, sizes in sorted(memory.items()):
        if len(sizes) > 1:
            warnings.append(
                ImportWarning(
                    f"gpu_types[{type_name}]",
                    "memory_gib",
                    f"nodes report different memory for this product ({sorted(sizes)} MiB); "
                    "the smallest is used",
                )
            )
        out[type_name] = {"memory_gib": number(min(sizes) / 1024), "vendor": "nvidia"}
    return out


def _node_entries(
    nodes: list[KubeNode], pods: list[KubePod], prices: PriceList, warnings: list[ImportWarning]
) -> list[dict]:
    overhead: dict[str, list[int]] = {}
    for pod in pods:
        if pod.node_bound and pod.node_name:
            used = overhead.setdefault(pod.node_name, [0, 0, 0])
            used[0] += pod.requests.cpu_m
            used[1] += pod.requests.memory_mib
            used[2] += pod.requests.gpus
    unpriced = []
    entries = []
    for node in nodes:
        cpu_m, memory_mib, gpus = node.cpu_m, node.memory_mib, node.gpus
        used = overhead.get(node.name)
        if used:
            cpu_m, memory_mib, gpus = cpu_m - used[0], memory_mib - used[1], gpus - used[2]
        node_warnings(node, warnings)
        gpu_type = node.gpu.type_name if node.gpu and gpus > 0 else None
        priced = prices.node_cost(node.name, node.instance_type, gpu_type, gpus)
        if priced is None:
            unpriced.append(node.name)
        entry: dict = {"id": node.name}
        if gpu_type:
            entry.update(gpu_type=gpu_type, gpus=gpus)
        entry.update(
            cpus=number(max(cpu_m, 1) / 1000),
            ram_gib=number(max(memory_mib, 1) / 1024),
            cost_per_hour=priced[0] if priced else 0,
        )
        for key in ("region", "zone"):
            if getattr(node, key):
                entry[key] = getattr(node, key)
        if node.rack:
            entry["rack"] = node.rack
        if node.labels:
            entry["labels"] = dict(node.labels)
        entries.append(entry)
    if unpriced:
        warnings.append(unpriced_warning(unpriced, prices))
    return entries


def _workload_entry(
    workload: KubeWorkload,
    classes: PriorityClasses | None,
    product_types: dict[str, str],
    warnings: list[ImportWarning],
) -> dict:
    first = workload.pods[0]
    subject = f"workload {workload.id} (pods/{first.key})"
    requests = workload.requests
    priority = workload_priority(workload, classes, subject, warnings)
    gpu_types = selected_gpu_types(workload, product_types) if requests.gpus else None
    for pod, scheduling in workload.schedulings:
        constraint_warnings(workload, pod, scheduling, gpu_types, warnings)
    request_warnings(workload, subject, warnings)
    resources: dict = {}
    if requests.gpus:
        resources["gpus"] = requests.gpus
    resources["cpus"] = number(max(requests.cpu_m, 1) / 1000)
    resources["ram_gib"] = number(max(requests.memory_mib, 1) / 1024)
    entry: dict = {
        "id": workload.id,
        "kind": workload.kind,
        "priority": priority,
        "replicas": len(workload.pods),
        "resources": resources,
    }
    if gpu_types:
        entry["gpu_types"] = gpu_types
    entry["labels"] = workload.labels
    return entry
