"""Kubernetes cluster state (`kubectl get nodes/pods -o json`) as an allocator inventory.

Nodes become fleet nodes (with their taints, state, MIG capability and the GPU their
labels name, see `gpu_labels`), the pods the filters keep (see `filters`) grouped by
owner become workloads (with the rules their scheduling constraints map to, see
`rules`), priority classes become the objective's classes, and bound pods become the
current placement; pods that lose their work when moved stay where they run (see
`pinning`). What has no exact equivalent in the inventory (preferences, operators other
than `In`, a MIG layout) is listed in the result's warnings.
The reverse direction, a plan as pinned pod manifests, is in `export`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from allocator.interop.gpu_map import load_gpu_map
from allocator.interop.kubernetes.export import KubernetesExport, export_kubernetes
from allocator.interop.kubernetes.filters import PodFilter, filter_warnings, select_pods
from allocator.interop.kubernetes.import_warnings import node_warnings, request_warnings
from allocator.interop.kubernetes.nodes import (
    MIG_RESOURCE_PREFIX,
    PRODUCT_LABEL,
    KubeNode,
    read_node,
)
from allocator.interop.kubernetes.objects import read_objects
from allocator.interop.kubernetes.pinning import (
    PINNED_MOVE_COST,
    Pin,
    pin_for,
    pin_message,
    pin_node_labels,
)
from allocator.interop.kubernetes.pods import KubePod, check_planned, read_pods
from allocator.interop.kubernetes.priorities import (
    DEFAULT_PRIORITY,
    PriorityClasses,
    class_order,
    read_priority_classes,
    unclassed_warnings,
    workload_class,
    workload_priority,
)
from allocator.interop.kubernetes.rules import Cluster, workload_rules
from allocator.interop.kubernetes.workloads import KubeWorkload, group_workloads
from allocator.interop.prices import PriceList, load_prices, unpriced_warning
from allocator.interop.reading import Problems, report_duplicates
from allocator.interop.result import ImportResult, ImportWarning, number, validated
from allocator.inventory.catalog import BUILTIN_GPU_TYPES

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
    *,
    gpu_map_path: str | Path | None = None,
    namespaces: tuple[str, ...] = (),
    exclude_namespaces: tuple[str, ...] = (),
    move_jobs: bool = False,
) -> KubernetesImport:
    """Read kubectl output and build a validated inventory; bad input raises InputError.

    `namespaces` keeps only those namespaces, `exclude_namespaces` leaves more out (the
    control plane's are left out unless named); `move_jobs` lets the plan move pods that
    lose their work when moved, which otherwise stay where they run."""
    gpu_map = load_gpu_map(gpu_map_path)
    problems = Problems()
    node_objects = read_objects(nodes_path, "Node", "nodes", problems, namespaced=False)
    nodes = [
        n for o in node_objects if (n := read_node(o, rack_label, gpu_map, problems)) is not None
    ]
    pod_filter = PodFilter(tuple(namespaces), tuple(exclude_namespaces))
    selection = select_pods(read_pods(pods_path, problems), pod_filter)
    check_planned(selection.planned, {o.name for o in node_objects}, problems)
    classes = read_priority_classes(priority_classes_path, problems)
    prices = load_prices(prices_path)
    report_duplicates([n.name for n in nodes], "nodes", str(nodes_path), problems)
    problems.raise_if_any()

    warnings: list[ImportWarning] = filter_warnings(selection, pod_filter)
    workloads = group_workloads(selection.planned)
    by_name = {n.name: n for n in nodes}
    pins = {} if move_jobs else {w.id: p for w in workloads if (p := pin_for(w, by_name))}
    document = {
        "version": 1,
        "name": name,
        "description": f"imported from Kubernetes: {Path(nodes_path).name}, {Path(pods_path).name}",
    }
    gpu_types = _new_gpu_types(nodes, warnings)
    if gpu_types:
        document["gpu_types"] = gpu_types
    document["nodes"] = _node_entries(
        nodes, selection.left_out, prices, _selected_keys(workloads), pins, warnings
    )
    cluster = Cluster(
        nodes=tuple(nodes),
        workloads=tuple(workloads),
        node_pods=tuple(selection.left_out),
        product_types={
            n.labels[PRODUCT_LABEL]: n.gpu.type_name
            for n in nodes
            if n.gpu and n.labels.get(PRODUCT_LABEL)
        },
        rack_label=rack_label,
    )
    found_classes: dict[str, tuple[str, int] | None] = {}
    entries = []
    for workload in workloads:
        found_classes[workload.id] = workload_class(workload, classes, warnings)
        entries.append(
            _workload_entry(
                workload, classes, found_classes, cluster, pins.get(workload.id), warnings
            )
        )
    document["workloads"] = entries
    order = class_order(found_classes)
    if order:
        document["objective"] = {"priority_classes": order}
    unclassed_warnings(workloads, found_classes, warnings)
    placement = {w.id: w.placed_on for w in workloads if w.placed_on}
    if placement:
        document["current_placement"] = placement
    inventory = validated(document, f"{nodes_path} + {pods_path} (imported)")
    return KubernetesImport(inventory, document, warnings, nodes, workloads)


def _new_gpu_types(nodes: list[KubeNode], warnings: list[ImportWarning]) -> dict[str, dict]:
    """GPU products not in the catalog, with the memory their labels give."""
    memory: dict[str, set[float]] = {}
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


def _selected_keys(workloads: list[KubeWorkload]) -> set[str]:
    """Node labels some pod's node selector or node affinity names: the ones kept (a node
    carries dozens that no rule reads)."""
    keys: set[str] = set()
    for workload in workloads:
        for _, scheduling in workload.schedulings:
            keys.update(k for k, _ in scheduling.node_selector)
            affinity = scheduling.node_affinity
            if affinity is not None:
                terms = [*affinity.required, *(p.preference for p in affinity.preferred)]
                keys.update(r.key for t in terms for r in t.match_expressions)
    return keys


def _node_entries(
    nodes: list[KubeNode],
    left_out: list[KubePod],
    prices: PriceList,
    label_keys: set[str],
    pins: dict[str, Pin],
    warnings: list[ImportWarning],
) -> list[dict]:
    """Fleet nodes, less what the pods left out of the plan use on them."""
    overhead: dict[str, list[int]] = {}
    for pod in left_out:
        if pod.node_name:
            used = overhead.setdefault(pod.node_name, [0, 0, 0])
            used[0] += pod.requests.cpu_m
            used[1] += pod.requests.memory_mib
            used[2] += pod.requests.gpus
    pin_labels = pin_node_labels(pins)
    unpriced = []
    entries = []
    for node in nodes:
        cpu_m, memory_mib, gpus = node.cpu_m, node.memory_mib, node.gpus
        taken = overhead.get(node.name)
        if taken:
            cpu_m, memory_mib = cpu_m - taken[0], memory_mib - taken[1]
            gpus = max(gpus - taken[2], 0)
        gpus += node.mig_gpus
        node_warnings(node, warnings)
        gpu_type = node.gpu.type_name if node.gpu and gpus > 0 else None
        priced = prices.node_cost(node.name, node.instance_type, gpu_type, gpus)
        if priced is None:
            unpriced.append(node.name)
        entry: dict = {"id": node.name}
        if gpu_type:
            entry.update(gpu_type=gpu_type, gpus=gpus)
            if node.mig_gpus:
                entry["mig"] = True
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
        labels = {k: v for k, v in node.labels.items() if k in label_keys}
        labels.update(pin_labels.get(node.name, {}))
        if labels:
            entry["labels"] = dict(sorted(labels.items()))
        if node.hard_taints:
            entry["taints"] = [str(t) for t in node.hard_taints]
        if node.state != "up":
            entry["state"] = node.state
        entries.append(entry)
    if unpriced:
        warnings.append(unpriced_warning(unpriced, prices))
    return entries


def _workload_entry(
    workload: KubeWorkload,
    classes: PriorityClasses | None,
    found_classes: dict[str, tuple[str, int] | None],
    cluster: Cluster,
    pin: Pin | None,
    warnings: list[ImportWarning],
) -> dict:
    first = workload.pods[0]
    subject = f"workload {workload.id} (pods/{first.key})"
    requests = workload.requests
    priority = workload_priority(workload, classes, subject, warnings)
    rules = workload_rules(workload, cluster, warnings)
    mig_profile = _mig_profile(workload, rules.get("gpu_types"), subject, warnings)
    if pin is not None:
        rules = _pinned_rules(pin, rules, cluster)
        warnings.append(ImportWarning(subject, "spec.nodeName", pin_message(pin)))
    request_warnings(workload, subject, warnings)
    resources: dict = {}
    if requests.gpus:
        resources["gpus"] = requests.gpus
    if mig_profile:
        resources["mig_profile"] = mig_profile
    if not resources:
        rules.pop("gpu_types", None)  # no GPU asked for in the inventory: no type to pick
    resources["cpus"] = number(max(requests.cpu_m, 1) / 1000)
    resources["ram_gib"] = number(max(requests.memory_mib, 1) / 1024)
    entry: dict = {
        "id": workload.id,
        "kind": workload.kind,
        "priority": priority,
        "replicas": len(workload.pods),
        "resources": resources,
        **rules,
    }
    if pin is not None and not pin.selector:
        entry["move_cost"] = PINNED_MOVE_COST
    found = found_classes.get(workload.id)
    if found is not None:
        entry["priority_class"] = found[0]
    entry["labels"] = workload.labels
    _untolerated_warnings(workload, entry, cluster, warnings)
    return entry


def _pinned_rules(pin: Pin, rules: dict, cluster: Cluster) -> dict:
    """A node selector that holds the workload where it runs replaces the rules that chose
    its nodes (Kubernetes keeps a running pod where its rules no longer allow it, too),
    and it tolerates the taints of those nodes, as it does there now."""
    if not pin.selector:
        return rules
    taints = {str(t) for n in cluster.nodes if n.name in pin.nodes for t in n.hard_taints}
    tolerated = sorted(set(rules.get("tolerations", ())) | taints)
    chosen_by_node = ("gpu_types", "zones", "regions", "node_selector", "tolerations")
    return {
        "node_selector": dict(pin.selector),
        **({"tolerations": tolerated} if tolerated else {}),
        **{k: v for k, v in rules.items() if k not in chosen_by_node},
    }


def _mig_profile(
    workload: KubeWorkload,
    gpu_types: list[str] | None,
    subject: str,
    warnings: list[ImportWarning],
) -> str | None:
    """The MIG profile of a pod that asks for one MIG instance and nothing else GPU-wise;
    any other MIG request is planned by CPU, memory and whole GPUs, with a warning."""
    requests = workload.requests
    if not requests.mig:
        return None
    shown = ", ".join(f"{count} {MIG_RESOURCE_PREFIX}{name}" for name, count in requests.mig)
    ((profile, count), *more) = requests.mig
    allowed = [t for t in gpu_types or BUILTIN_GPU_TYPES if t in BUILTIN_GPU_TYPES]
    if more or count > 1:
        reason = "an inventory replica asks for one MIG instance at most"
    elif requests.gpus:
        reason = "an inventory replica asks for whole GPUs or a MIG instance, not both"
    elif not any(profile in BUILTIN_GPU_TYPES[t].mig_profiles for t in allowed):
        among = f" for {', '.join(gpu_types)}" if gpu_types else ""
        reason = f"the catalog has no MIG profile {profile}{among}"
    else:
        return profile
    dropped = ""
    if gpu_types and not requests.gpus:
        dropped = f"; its gpu_types ({', '.join(gpu_types)}) go with it"
    warnings.append(
        ImportWarning(
            subject,
            "spec.containers[*].resources",
            f"requests {shown}: not carried over ({reason}); planned by its CPU, memory and "
            f"whole GPUs only{dropped}",
        )
    )
    return None


def _untolerated_warnings(
    workload: KubeWorkload, entry: dict, cluster: Cluster, warnings: list[ImportWarning]
) -> None:
    """Kubernetes leaves a running pod on a node tainted NoSchedule after it started; the
    plan keeps replicas off nodes whose taints they do not tolerate, so it moves them."""
    tolerated = set(entry.get("tolerations", ()))
    nodes = {n.name: n for n in cluster.nodes}
    for pod in workload.pods:
        node = nodes.get(pod.node_name or "")
        if node is None or node.state != "up":
            continue
        missing = [str(t) for t in node.hard_taints if str(t) not in tolerated]
        if missing:
            warnings.append(
                ImportWarning(
                    f"workload {workload.id} (pods/{pod.key})",
                    "spec.nodeName",
                    f"runs on node {node.name} without tolerating its taint(s) "
                    f"{', '.join(missing)}: the plan moves it off",
                )
            )
