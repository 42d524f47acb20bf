"""Small inventory builders shared by the tests."""

from __future__ import annotations


def node(
    id: str,
    gpu_type: str | None = "H100",
    gpus: int = 8,
    cpus: float = 64,
    ram_gib: float = 512,
    cost: float = 10.0,
    **extra,
) -> dict:
    entry = {
        "id": id,
        "gpus": gpus,
        "cpus": cpus,
        "ram_gib": ram_gib,
        "cost_per_hour": cost,
        **extra,
    }
    if gpu_type is not None and gpus > 0:
        entry["gpu_type"] = gpu_type
    return entry


def workload(
    id: str,
    replicas: int | dict = 1,
    gpus: int = 1,
    cpus: float = 4,
    ram_gib: float = 16,
    priority: int = 1,
    **extra,
) -> dict:
    return {
        "id": id,
        "priority": priority,
        "replicas": replicas,
        "resources": {"gpus": gpus, "cpus": cpus, "ram_gib": ram_gib},
        **extra,
    }


def inventory(nodes: list[dict], workloads: list[dict], **extra) -> dict:
    return {"version": 1, "nodes": nodes, "workloads": workloads, **extra}
