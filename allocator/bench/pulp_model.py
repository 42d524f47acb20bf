"""The placement as a PuLP user would write it: one binary per (replica, node) pair.

This is the model allocator's build is measured against. Variables and rows:

  x[r, n]      replica r runs on node n        binary, for every compatible pair
  on[n]        node n is in use                binary
  cap[k, n]    sum_r need[r, k] x[r, n] <= capacity[n, k] on[n]   for GPUs, CPU, RAM
  replica[r]   sum_n x[r, n] == 1 for a required replica, <= 1 for an optional one
  objective    minimize sum_n cost[n] on[n]    (the $/h of nodes in use)

It uses the objective of allocator's last level only, so it has fewer objective terms
than any lexicographic or weighted form would: the comparison favours PuLP. A share of a
GPU counts as that share of the node's GPUs (the plain model knows no per-GPU packing).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocator.domain.tables import Domain
from allocator.domain.units import MILLI

RESOURCES = ("gpus", "cpu", "ram")


@dataclass(frozen=True, eq=False)
class PlainInstance:
    """Every replica (up to each workload's max) and every node, as arrays."""

    workload: np.ndarray  # workload of each replica
    required: np.ndarray  # bool: one of the workload's `min` replicas
    need: np.ndarray  # (replicas x resources)
    capacity: np.ndarray  # (nodes x resources)
    cost: np.ndarray  # $/h per node

    @property
    def n_replicas(self) -> int:
        return len(self.workload)

    @property
    def n_nodes(self) -> int:
        return len(self.cost)


def plain_instance(domain: Domain) -> PlainInstance:
    demand, fleet = domain.demand, domain.fleet
    workload = np.repeat(np.arange(len(demand)), demand.max)
    first = np.concatenate([[0], np.cumsum(demand.max)[:-1]])
    number = np.arange(len(workload)) - np.repeat(first, demand.max)
    gpus = demand.gpus + demand.gpu_milli / MILLI
    need = np.stack([gpus, demand.cpu_m, demand.ram_mib], axis=1).astype(float)[workload]
    capacity = np.stack([fleet.gpus, fleet.cpu_m, fleet.ram_mib], axis=1).astype(float)
    return PlainInstance(workload, number < demand.min[workload], need, capacity, fleet.cost)


def compatible_pairs(domain: Domain, inst: PlainInstance) -> tuple[np.ndarray, np.ndarray]:
    """(replica, node) index arrays of every pair where the node could host the replica."""
    replica, node = np.nonzero(domain.compatible[inst.workload])
    return replica, node


@dataclass(frozen=True)
class PulpBuild:
    """The model built, and how long each step took (seconds)."""

    model: object  # pulp.LpProblem
    variables: int
    constraints: int
    stages: dict[str, float]

    @property
    def total_s(self) -> float:
        return sum(self.stages.values())


def build_pulp_model(
    domain: Domain, progress: Callable[[str, float], None] | None = None
) -> PulpBuild:
    """Build the plain model; ``progress(stage, seconds)`` is called after each step."""
    import pulp

    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = now - clock
        clock = now
        if progress is not None:
            progress(stage, stages[stage])

    inst = plain_instance(domain)
    replica, node = compatible_pairs(domain, inst)
    pairs = list(zip(replica.tolist(), node.tolist(), strict=True))
    nodes = range(inst.n_nodes)
    replicas = range(inst.n_replicas)
    need = inst.need.tolist()
    capacity = inst.capacity.tolist()
    cost = inst.cost.tolist()
    required = inst.required.tolist()
    by_node = np.argsort(node, kind="stable")
    on_node = np.split(replica[by_node], np.cumsum(np.bincount(node, minlength=inst.n_nodes))[:-1])
    replicas_on = [part.tolist() for part in on_node]
    of_replica = np.split(node, np.cumsum(np.bincount(replica, minlength=inst.n_replicas))[:-1])
    nodes_of = [part.tolist() for part in of_replica]
    done("index lists")

    prob = pulp.LpProblem("plain_placement", pulp.LpMinimize)
    with warnings.catch_warnings():  # PuLP 3.3 marks LpVariable.dicts for its 4.0 API
        warnings.simplefilter("ignore", DeprecationWarning)
        x = pulp.LpVariable.dicts("x", pairs, cat=pulp.LpBinary)
        on = pulp.LpVariable.dicts("on", nodes, cat=pulp.LpBinary)
    done("variables")

    prob += pulp.lpSum(cost[n] * on[n] for n in nodes)
    done("objective")

    for n in nodes:
        for k, resource in enumerate(RESOURCES):
            prob += (
                pulp.lpSum(need[r][k] * x[r, n] for r in replicas_on[n]) <= capacity[n][k] * on[n],
                f"cap_{resource}_{n}",
            )
    done("capacity rows")

    for r in replicas:
        placed = pulp.lpSum(x[r, n] for n in nodes_of[r])
        prob += (placed == 1) if required[r] else (placed <= 1), f"replica_{r}"
    done("replica rows")

    return PulpBuild(prob, len(pairs) + inst.n_nodes, prob.numConstraints(), stages)
