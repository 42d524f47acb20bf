"""Slurm cluster state (`scontrol show node -o`, `squeue --json`) as an allocator inventory.

A node record becomes a fleet node (GPU type from the typed GRES or the node features,
else the instance type or a `--gpu-map` entry; partitions and features as labels, its
state as up, draining or down). A pending or running job becomes a workload with one
replica per node it asks for, with the rules its partition, features, node count and
`--exclusive` map to (see `rules`), and its priority in squeue's order; a running job's
nodes are its current placement. The reverse direction, a plan as node lists and
`scontrol update` lines, is in `export`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from allocator.interop.gpu_map import GpuMap, load_gpu_map
from allocator.interop.gpu_names import catalog_match
from allocator.interop.prices import PriceList, load_prices, unpriced_warning
from allocator.interop.reading import Problems, report_duplicates
from allocator.interop.result import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    ImportResult,
    ImportWarning,
    number,
    order_keeping_priorities,
    safe_id,
    validated,
)
from allocator.interop.slurm.export import JOB_ID_LABEL, JobNodeList, SlurmExport, export_slurm
from allocator.interop.slurm.gpus import guess_warnings
from allocator.interop.slurm.hostlist import compress_hostlist
from allocator.interop.slurm.jobs import SlurmJob, read_jobs
from allocator.interop.slurm.nodes import SlurmNode, read_nodes
from allocator.interop.slurm.rules import JobRules, job_rules, node_labels

__all__ = ["JobNodeList", "SlurmExport", "SlurmImport", "export_slurm", "import_slurm"]

PARTITION_LABEL = "slurm/partition"
PARTITIONS_LABEL = "slurm/partitions"
FEATURES_LABEL = "slurm/features"


@dataclass
class SlurmImport(ImportResult):
    """The inventory plus the node and job records it was made from."""

    nodes: list[SlurmNode] = field(default_factory=list)
    jobs: list[SlurmJob] = field(default_factory=list)


def import_slurm(
    nodes_path: str | Path,
    jobs_path: str | Path,
    prices_path: str | Path | None = None,
    name: str = "slurm",
    *,
    gpu_map_path: str | Path | None = None,
) -> SlurmImport:
    """Read scontrol and squeue output and build a validated inventory."""
    gpu_map = load_gpu_map(gpu_map_path)
    nodes = read_nodes(nodes_path, gpu_map)
    problems = Problems()
    report_duplicates([n.name for n in nodes], "nodes", str(nodes_path), problems)
    jobs = read_jobs(jobs_path, problems)
    known = {n.name for n in nodes}
    for job in jobs:
        missing = [n for n in job.nodes if n not in known]
        if missing:
            problems.add(
                job.where.at("nodes"),
                f"the job runs on {compress_hostlist(missing)}, not in the nodes input",
            )
    gpu_types_by_gres = _gres_type_map(nodes)
    job_types = {
        job.job_id: _job_gpu_types(job, gpu_types_by_gres, gpu_map, problems) for job in jobs
    }
    problems.raise_if_any()
    prices = load_prices(prices_path)

    warnings: list[ImportWarning] = []
    document: dict = {
        "version": 1,
        "name": name,
        "description": f"imported from Slurm: {Path(nodes_path).name}, {Path(jobs_path).name}",
    }
    new_types = _new_gpu_types(nodes)
    if new_types:
        document["gpu_types"] = new_types
    rules = {job.job_id: job_rules(job, known) for job in jobs}
    pinned = {r.pinned_node for r in rules.values() if r.pinned_node}
    document["nodes"] = _node_entries(nodes, prices, pinned, warnings)
    warnings.extend(guess_warnings(nodes))
    priorities = _priorities(jobs, warnings)
    workloads, placement = [], {}
    for job in jobs:
        entry = _job_entry(
            job, job_types[job.job_id], rules[job.job_id], priorities[job.job_id], warnings
        )
        workloads.append(entry)
        if job.nodes:
            placement[entry["id"]] = sorted(job.nodes)
    document["workloads"] = workloads
    tenants = {w["tenant"]: {"dedicated": True} for w in workloads if "tenant" in w}
    if tenants:
        document["tenants"] = tenants
    if placement:
        document["current_placement"] = placement
    inventory = validated(document, f"{nodes_path} + {jobs_path} (imported)")
    return SlurmImport(inventory, document, warnings, nodes, jobs)


def _new_gpu_types(nodes: list[SlurmNode]) -> dict[str, dict]:
    """GPU types not in the catalog: MIG slices, and the types a --gpu-map file adds."""
    out: dict[str, dict] = {}
    for node in nodes:
        if node.gpu and node.gpu.new_memory_gib:
            spec: dict = {"memory_gib": number(node.gpu.new_memory_gib)}
            if node.gpu.source == "mig":
                spec["vendor"] = "nvidia"
            out[node.gpu.type_name] = spec
    return dict(sorted(out.items()))


def _priorities(jobs: list[SlurmJob], warnings: list[ImportWarning]) -> dict[str, int]:
    """Each job's priority, in squeue's order with no two different ones tied (a job
    without a priority counts as the lowest, 1)."""
    values = {job.job_id: job.priority if job.priority is not None else 1 for job in jobs}
    mapped = order_keeping_priorities(values.values())
    if any(mapped[v] != v for v in mapped):
        low, high = min(mapped), max(mapped)
        warnings.append(
            ImportWarning(
                "jobs",
                "priority",
                f"squeue's priorities run from {low} to {high}, beyond allocator's "
                f"{MIN_PRIORITY}..{MAX_PRIORITY:,}: each job is planned with the rank of its "
                f"priority among the {len(mapped)} distinct ones (1 for the lowest, "
                f"{len(mapped)} for the highest), which keeps their order but not their ratios",
            )
        )
    return {job_id: mapped[value] for job_id, value in values.items()}


def _gres_type_map(nodes: list[SlurmNode]) -> dict[str, set[str]]:
    """Slurm GRES type name (lower case) -> allocator GPU types of the nodes that have it."""
    out: dict[str, set[str]] = {}
    for node in nodes:
        for gres in node.gres:
            if gres.name == "gpu" and gres.type and node.gpu_type:
                out.setdefault(gres.type.lower(), set()).add(node.gpu_type)
    return out


def _job_gpu_types(
    job: SlurmJob, by_gres: dict[str, set[str]], gpu_map: GpuMap, problems: Problems
) -> list[str] | None:
    """The GPU types of the nodes whose GRES has the job's type, else its --gpu-map entry,
    else the catalog type it names."""
    if not job.gpus_per_node or not job.gpu_type:
        return None
    on_nodes = by_gres.get(job.gpu_type.lower())
    if on_nodes:
        return sorted(on_nodes)
    entry = gpu_map.get(job.gpu_type)
    if entry is not None:
        return [entry.gpu_type]
    found = catalog_match(job.gpu_type)
    if found is None:
        problems.add(
            job.where.at("tres_per_node"),
            f"GPU type {job.gpu_type!r} is the GRES type of no node and matches no GPU in "
            "allocator's catalog; map it in a --gpu-map file",
        )
        return None
    return [found]


def _node_entries(
    nodes: list[SlurmNode], prices: PriceList, pinned: set[str], warnings: list[ImportWarning]
) -> list[dict]:
    entries, unpriced = [], []
    for node in nodes:
        subject = f"nodes/{node.name}"
        entry: dict = {"id": node.name}
        if node.gpus and node.gpu_type:
            entry.update(gpu_type=node.gpu_type, gpus=node.gpus)
        priced = prices.node_cost(node.name, node.instance_type, node.gpu_type, node.gpus)
        if priced is None:
            unpriced.append(node.name)
        entry.update(
            cpus=node.cpus,
            ram_gib=number(node.memory_mib / 1024),
            cost_per_hour=priced[0] if priced else 0,
        )
        labels = {}
        if node.partitions:
            labels[PARTITIONS_LABEL] = ",".join(node.partitions)
        if node.features:
            labels[FEATURES_LABEL] = ",".join(node.features)
        labels.update(node_labels(node, pinned))
        if labels:
            entry["labels"] = labels
        if node.inventory_state != "up":
            entry["state"] = node.inventory_state
        entries.append(entry)
        if node.inventory_state == "up" and not node.schedulable:
            reason = f" (Reason={node.reason})" if node.reason else ""
            warnings.append(
                ImportWarning(
                    subject,
                    "State",
                    f"{node.state}{reason}: not carried over (only down, drained and draining "
                    "states have an inventory state); planned as up, so the plan may place "
                    "jobs on it",
                )
            )
        for gres in node.gres:
            if gres.name != "gpu":
                warnings.append(
                    ImportWarning(subject, "Gres", f"{gres}: not planned (only whole GPUs are)")
                )
        if node.gpu and node.gpu.source == "mig":
            warnings.append(
                ImportWarning(
                    subject,
                    "Gres",
                    f"GPU type {node.gpu_type!r} is a MIG instance: each of the {node.gpus} "
                    f"devices is planned as one GPU of {node.new_gpu_memory_gib:g} GiB",
                )
            )
    if unpriced:
        warnings.append(unpriced_warning(unpriced, prices))
    return entries


def workload_id(job: SlurmJob) -> str:
    """`<job name>-<job id>`, made a valid inventory id."""
    return safe_id(f"{job.name}-{job.job_id}", f"job-{job.job_id}")


def _job_entry(
    job: SlurmJob,
    gpu_types: list[str] | None,
    rules: JobRules,
    priority: int,
    warnings: list[ImportWarning],
) -> dict:
    subject = f"jobs/{job.job_id}"
    resources: dict = {}
    if job.gpus_per_node:
        resources["gpus"] = job.gpus_per_node
    resources["cpus"] = max(job.cpus_per_node, 1)
    resources["ram_gib"] = number(max(job.memory_mib_per_node, 1) / 1024)
    entry: dict = {
        "id": workload_id(job),
        "kind": "batch",
        "priority": priority,
        "replicas": job.node_count,
        "resources": resources,
    }
    if gpu_types:
        entry["gpu_types"] = gpu_types
    entry.update(rules.fields)
    labels = {JOB_ID_LABEL: job.job_id, "slurm/state": job.state}
    if job.partition:
        labels[PARTITION_LABEL] = job.partition
    if job.user:
        labels["slurm/user"] = job.user
    entry["labels"] = labels
    warnings.extend(ImportWarning(subject, f, m) for f, m in rules.warnings)
    return entry
