"""The plan file: a stable, versioned JSON record of where every replica goes and why.

Written atomically (temporary file, then rename) so a failed run never leaves half a
plan. Read back with the same located error messages as inventories.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from allocator.domain.replicas import Replicas
from allocator.domain.tables import Domain
from allocator.inventory.schema import row_id
from allocator.io.errors import InputError, InputProblem
from allocator.io.source import SourceDocument, document_from_text, read_document
from allocator.io.validation import translate

PLAN_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Placement(_Record):
    workload: str
    replica: int = Field(ge=0)
    node: str
    variant: str | None = Field(None, description="the variant it runs, if not the default")
    gpus: list[int] = Field(
        default_factory=list,
        description="indices of the node's GPUs the replica uses (one for a shared GPU)",
    )


class Unplaced(_Record):
    workload: str
    replica: int = Field(ge=0)
    required: bool = Field(description="one of the workload's `min` replicas")
    reason: str


class Throughput(_Record):
    """A workload's throughput target and what the plan reaches."""

    workload: str
    unit: str
    target: float
    achieved: float
    after_worst_loss: float | None = Field(
        None, description="what is left after losing the worst node (rack...) it must survive"
    )
    met: bool
    replicas_by_gpu_type: dict[str, int]
    replicas_by_variant: dict[str, int]
    reason: str | None = Field(None, description="why the target is not met")


class Exposure(_Record):
    """Required replicas a single loss would take below the workload's min."""

    workload: str
    scope: str
    domain: str
    remaining: int
    min: int


class Move(_Record):
    """A change against the current placement: from None is a start, to None a stop."""

    workload: str
    from_node: str | None
    to_node: str | None


class LevelReport(_Record):
    name: str
    value: float
    bound: float | None
    gap: float | None
    status: str
    how: str


class SolverReport(_Record):
    name: str
    status: str
    objective: float
    bound: float | None
    gap: float | None
    time_limit_s: float | None
    build_s: float
    column_generation_s: float = 0.0
    solve_s: float
    total_s: float
    levels: list[LevelReport]
    model: dict[str, int | bool] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    interrupted: bool = Field(
        False, description="stopped on request (Ctrl-C, SIGTERM): the best plan found by then"
    )


class InventoryRef(_Record):
    name: str
    path: str | None = None
    sha256: str | None = None


class Objective(_Record):
    mode: Literal["lexicographic", "weighted"]
    hard_shortfall: float
    unplaced_priority: float
    cost_per_hour: float = Field(description="nodes + storage + energy x its weight + moves, $/h")
    node_cost_per_hour: float = 0.0
    storage_cost_per_hour: float = 0.0
    energy_cost_per_hour: float = 0.0
    migration_cost_per_hour: float = Field(
        default=0.0, description="move cost of replicas that leave their current node"
    )
    moved_replicas: int = 0
    unplaced_by_class: dict[str, float] = Field(
        default_factory=dict, description="unplaced priority per priority class"
    )


class Preemption(_Record):
    """Replicas of a lower priority class that ran and are stopped by the plan."""

    workload: str
    priority_class: str
    stopped: int


class StorageUse(_Record):
    """Where a workload's dataset lives."""

    workload: str
    system: str
    size_tb: float


class LinkLoad(_Record):
    """Bandwidth reserved on one direction of a network link."""

    link: str
    gbps: float
    capacity_gbps: float | None


class PowerUse(_Record):
    """IT power drawn in a row or site, with its cap."""

    scope: Literal["site", "row"]
    id: str
    kw: float
    cap_kw: float | None


class PlanFile(_Record):
    """Version 1 of the plan format."""

    plan_version: Literal[1]
    generator: str = "allocator"
    inventory: InventoryRef
    solver: SolverReport
    objective: Objective
    placements: list[Placement]
    unplaced: list[Unplaced]
    moves: list[Move] = Field(default_factory=list)
    storage: list[StorageUse] = Field(default_factory=list)
    links: list[LinkLoad] = Field(default_factory=list)
    power: list[PowerUse] = Field(default_factory=list)
    preempted: list[Preemption] = Field(default_factory=list)
    throughput: list[Throughput] = Field(default_factory=list)
    exposed: list[Exposure] = Field(default_factory=list)
    request_sha256: str | None = Field(
        None,
        description="hash of the inventory, the current plan, the solver and its options "
        "that gave this plan: a batch rerun reuses a plan whose request is unchanged",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what was reconciled before planning (a current plan naming nodes or "
        "workloads the inventory no longer has)",
    )


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def placements_of(domain: Domain, replicas: Replicas) -> list[Placement]:
    """Name replicas 0..k-1 per workload (over its variants) in row and node order
    (`replicas` is in canonical order)."""
    replicas = replicas.sorted()
    family = domain.demand.family[replicas.workload]
    number = np.arange(len(replicas)) - np.searchsorted(family, family)
    ids, nodes = domain.demand.families.ids, domain.fleet.ids
    variant = domain.demand.variant
    return [
        Placement(
            workload=str(ids[f]),
            replica=int(k),
            node=str(nodes[n]),
            variant=variant[w] or None,
            gpus=replicas.gpus(r).tolist(),
        )
        for r, (w, f, n, k) in enumerate(
            zip(replicas.workload, family, replicas.node, number, strict=True)
        )
    ]


def replicas_of(domain: Domain, plan: PlanFile, source: str = "plan") -> Replicas:
    """The plan's placements as replicas of the domain (the inverse of `placements_of`),
    with the storage system of each dataset. A placement naming a workload or node the
    inventory lacks is an InputError located in `source` (the plan was made for another
    inventory)."""
    demand, fleet = domain.demand, domain.fleet
    problems = [
        InputProblem(
            source,
            f"{_unknown(p, demand.index)} is not in the inventory (was the plan made for "
            "another one?)",
            entry=f"placements[{k}]",
        )
        for k, p in enumerate(plan.placements)
        if row_key(p) not in demand.index or p.node not in fleet.index
    ]
    if problems:
        raise InputError(problems[:20])
    rows = [demand.index[row_key(p)] for p in plan.placements]
    nodes = [fleet.index[p.node] for p in plan.placements]
    placement = Replicas.build(
        rows, nodes, [p.gpus for p in plan.placements], len(fleet), len(demand)
    )
    choice = np.full(len(demand), -1, dtype=np.int64)
    if domain.storage is not None:
        for use in plan.storage:
            if use.workload in demand.index and use.system in domain.storage.index:
                choice[demand.index[use.workload]] = domain.storage.index[use.system]
    return replace(placement, dataset_on=choice)


def _unknown(p: Placement, rows: dict[str, int]) -> str:
    return f"workload {row_key(p)!r}" if row_key(p) not in rows else f"node {p.node!r}"


def row_key(p: Placement) -> str:
    """The demand row (and `current_placement` key) a placement belongs to."""
    return row_id(p.workload, p.variant)


def moves_against(current: dict[str, list[str]], placements: list[Placement]) -> list[Move]:
    """Pair replicas that leave a node with replicas that arrive, per workload."""
    if not current:
        return []
    planned: dict[str, Counter[str]] = {}
    for p in placements:
        planned.setdefault(row_key(p), Counter())[p.node] += 1
    moves = []
    for workload in sorted(set(current) | set(planned)):
        before = Counter(current.get(workload, []))
        after = planned.get(workload, Counter())
        leaving = sorted((before - after).elements())
        arriving = sorted((after - before).elements())
        for k in range(max(len(leaving), len(arriving))):
            moves.append(
                Move(
                    workload=workload,
                    from_node=leaving[k] if k < len(leaving) else None,
                    to_node=arriving[k] if k < len(arriving) else None,
                )
            )
    return moves


def load_plan(path: str | Path) -> PlanFile:
    return plan_from_document(read_document(path))


def plan_from_text(name: str, text: str) -> PlanFile:
    return plan_from_document(document_from_text(name, text))


def plan_from_document(doc: SourceDocument) -> PlanFile:
    data = doc.data
    if not isinstance(data, dict) or "plan_version" not in data:
        hint = (
            " (this looks like an inventory)" if isinstance(data, dict) and "nodes" in data else ""
        )
        raise InputError.single(
            doc.path,
            f"not an allocator plan: expected a JSON object with "
            f"'plan_version: {PLAN_VERSION}'{hint}",
            line=1,
        )
    try:
        return PlanFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(translate(doc, PlanFile, exc)) from None
