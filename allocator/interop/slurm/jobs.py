"""`squeue --json` jobs as records: per-node needs, nodes held now, constraints.

The JSON layout moves between Slurm releases: counts are plain numbers in older ones
and `{"set": true, "infinite": false, "number": 4}` in newer ones, `job_state` is a
string or a list. Both are read. Per-node needs come from `tres_per_node` when given,
else from the job's TRES totals (`tres_alloc_str` of a running job, `tres_req_str` of a
pending one) divided over its nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from allocator.interop.reading import Problems, Where, describe, items_of
from allocator.interop.slurm.hostlist import HostlistError, expand_hostlist
from allocator.interop.slurm.tres import (
    NULL,
    SlurmFormatError,
    memory_mib,
    parse_tres,
    per_node_gres_gpus,
    tres_gpus,
)
from allocator.io.source import read_document

EXCLUSIVE_MODES = ("true", "user", "mcs", "topo")
RUNNING_STATES = ("RUNNING", "CONFIGURING")
PENDING_STATES = ("PENDING", "REQUEUED")


@dataclass(frozen=True)
class SlurmJob:
    """What allocator reads from one job of `squeue --json`."""

    job_id: str
    name: str
    state: str
    partition: str | None
    user: str | None
    nodes: tuple[str, ...]  # nodes it runs on now (empty when pending)
    node_count: int
    cpus_per_node: int
    memory_mib_per_node: int
    gpus_per_node: int
    gpu_type: str | None  # as Slurm names it, e.g. "a100"
    priority: int | None
    required_nodes: str | None
    excluded_nodes: str | None
    constraints: str | None
    array_tasks: str | None
    exclusive: str | None  # "true" (whole nodes), "user", "mcs" or "topo"; None: shares
    where: Where

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


def read_jobs(path: str | Path, problems: Problems) -> list[SlurmJob]:
    """The pending and running jobs (finished ones are left out)."""
    doc = read_document(path)
    top = Where(doc, (), "")
    data = doc.data
    jobs_value = data.get("jobs") if isinstance(data, dict) else None
    if jobs_value is None:
        problems.add(
            top,
            f"expected the output of 'squeue --json' (with a 'jobs' list), got "
            f"{describe(data) if not isinstance(data, dict) else 'no jobs key'}",
        )
        return []
    out = []
    for item, where in items_of(jobs_value, top.at("jobs"), problems):
        job_id = _number(item.get("job_id"))
        subject = f"jobs/{job_id}" if job_id is not None else f"jobs[{where.loc[-1]}]"
        where = Where(doc, where.loc, subject)
        if job_id is None:
            problems.add(
                where.at("job_id"), f"expected a job id, got {describe(item.get('job_id'))}"
            )
            continue
        state = _state(item.get("job_state"))
        if state not in RUNNING_STATES + PENDING_STATES:
            continue
        job = _job(item, str(job_id), state, where, problems)
        if job is not None:
            out.append(job)
    return out


def _job(item: dict, job_id: str, state: str, where: Where, problems: Problems) -> SlurmJob | None:
    known = len(problems.found)
    nodes: tuple[str, ...] = ()
    node_text = item.get("nodes")
    if state in RUNNING_STATES:
        if not isinstance(node_text, str) or node_text.strip() in NULL:
            problems.add(where.at("nodes"), "missing; a running job lists the nodes it runs on")
        else:
            try:
                nodes = tuple(expand_hostlist(node_text))
            except HostlistError as exc:
                problems.add(where.at("nodes"), str(exc))
    count = _number(item.get("node_count", item.get("num_nodes")))
    node_count = len(nodes) or count or 1
    tres_key = (
        "tres_alloc_str"
        if state in RUNNING_STATES and item.get("tres_alloc_str")
        else ("tres_req_str")
    )
    try:
        tres = parse_tres(item.get(tres_key))
    except SlurmFormatError as exc:
        problems.add(where.at(tres_key), str(exc))
        tres = {}
    cpus = _per_node_cpus(item, tres, node_count, where.at(tres_key), problems)
    memory = _per_node_memory(item, tres, node_count, cpus, where.at(tres_key), problems)
    gpus, gpu_type = _per_node_gpus(item, tres, node_count, where, tres_key, problems)
    if len(problems.found) > known or cpus is None or memory is None:
        return None
    return SlurmJob(
        job_id=job_id,
        name=str(item.get("name") or ""),
        state=state,
        partition=_text(item.get("partition")),
        user=_text(item.get("user_name")),
        nodes=nodes,
        node_count=node_count,
        cpus_per_node=cpus,
        memory_mib_per_node=memory,
        gpus_per_node=gpus,
        gpu_type=gpu_type,
        priority=_number(item.get("priority")),
        required_nodes=_text(item.get("required_nodes")),
        excluded_nodes=_text(item.get("excluded_nodes")),
        constraints=_text(item.get("features")),
        array_tasks=_text(item.get("array_task_string")),
        exclusive=_exclusive(item),
        where=where,
    )


def _per_node_cpus(
    item: dict, tres: dict[str, str], nodes: int, where: Where, problems: Problems
) -> int | None:
    total = tres.get("cpu")
    if total is not None:
        if not total.isdigit():
            problems.add(where, f"expected a whole number of CPUs in cpu=, got {total!r}")
            return None
        return math.ceil(int(total) / nodes)
    cpus = _number(item.get("cpus"))
    if cpus:
        return math.ceil(cpus / nodes)
    problems.add(where, "no CPU count: neither cpu= in the TRES nor a cpus field")
    return None


def _per_node_memory(
    item: dict, tres: dict[str, str], nodes: int, cpus: int | None, where: Where, problems: Problems
) -> int | None:
    total = tres.get("mem")
    if total is not None:
        try:
            return math.ceil(memory_mib(total) / nodes)
        except SlurmFormatError as exc:
            problems.add(where, str(exc))
            return None
    per_node = _number(item.get("memory_per_node"))
    if per_node:
        return per_node
    per_cpu = _number(item.get("memory_per_cpu"))
    if per_cpu and cpus:
        return per_cpu * cpus
    problems.add(where, "no memory request: neither mem= in the TRES nor memory_per_node/_cpu")
    return None


def _per_node_gpus(
    item: dict, tres: dict[str, str], nodes: int, where: Where, tres_key: str, problems: Problems
) -> tuple[int, str | None]:
    try:
        per_node = per_node_gres_gpus(_text(item.get("tres_per_node")))
    except SlurmFormatError as exc:
        problems.add(where.at("tres_per_node"), str(exc))
        return 0, None
    try:
        total, total_type = (
            tres_gpus(tres)
            if any(k.startswith("gres/gpu") for k in tres)
            else (
                0,
                None,
            )
        )
    except SlurmFormatError as exc:
        problems.add(where.at(tres_key), str(exc))
        return 0, None
    if per_node is not None:
        return per_node[0], per_node[1] or total_type
    if total % nodes:
        problems.add(
            where.at(tres_key),
            f"{total} GPUs do not split evenly over {nodes} nodes; give tres_per_node",
        )
    return math.ceil(total / nodes), total_type


def _number(value: object) -> int | None:
    """A count as squeue writes it: 4, "4", or {"set": true, "number": 4}."""
    if isinstance(value, dict):
        if value.get("set") is False or value.get("infinite") is True:
            return None
        value = value.get("number")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _state(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").upper()


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip() not in NULL:
        return value.strip()
    return None


def _exclusive(item: dict) -> str | None:
    """`exclusive`: true, or a list such as ["true"] / ["user"] in newer releases."""
    value = item.get("exclusive")
    values = value if isinstance(value, list) else [value]
    found = [str(v).lower() for v in values if str(v).lower() in EXCLUSIVE_MODES]
    return found[0] if found else None
