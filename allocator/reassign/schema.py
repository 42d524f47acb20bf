"""Reassignment file format, version 1 (YAML or JSON): a running fleet described by any
resource dimensions, where every replica runs now, and what moving it costs.

Amounts and costs are whole numbers in units the file chooses (e.g. millicores, MiB,
cents), so that sums and the objective are exact.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from allocator.inventory.schema import Id, Name, _Strict


class DimensionSpec(_Strict):
    """A resource dimension that nodes offer and replicas use."""

    name: Id = Field(description="dimension name, used as a key in capacities and needs")
    transient: bool = Field(
        False,
        description="a moved replica keeps using it on the node it left (e.g. disk while"
        " its data is copied), so both nodes must have room",
    )
    load_cost: int = Field(
        0, ge=0, le=2**53, description="cost per unit used above a node's soft capacity"
    )


class ReassignNodeSpec(_Strict):
    """A node: its capacity per dimension and where it sits."""

    id: Id = Field(description="node id")
    capacity: dict[Name, int] = Field(description="hard capacity of every dimension")
    soft_capacity: dict[Name, int] = Field(
        default_factory=dict,
        description="use above it costs the dimension's load_cost per unit (default: capacity)",
    )
    spread_domain: Name = Field(
        "-", description="failure domain counted by min_domains, e.g. a zone"
    )
    dependency_domain: Name = Field(
        "-", description="domain dependencies are kept within, e.g. a network neighbourhood"
    )
    move_group: Name | None = Field(
        None, description="group whose move costs apply (default: the node id)"
    )


class ReplicaSpec(_Strict):
    """A replica that runs now."""

    id: Id = Field(description="replica id")
    node: Id = Field(description="node it runs on now")
    need: dict[Name, int] = Field(default_factory=dict, description="use per dimension (default 0)")
    move_cost: int = Field(0, ge=0, le=2**53, description="cost of moving it at all")


class ReassignWorkloadSpec(_Strict):
    """A workload: its replicas run on distinct nodes."""

    id: Id = Field(description="workload id")
    min_domains: int = Field(0, ge=0, description="fewest spread domains hosting a replica")
    depends_on: list[Id] = Field(
        default_factory=list,
        description="workloads that must have a replica in the dependency domain of each of"
        " this workload's replicas",
    )
    replicas: list[ReplicaSpec] = Field(min_length=1, description="its replicas")


class BalanceSpec(_Strict):
    """Keep free room of two dimensions in proportion on every node."""

    dimensions: list[Name] = Field(min_length=2, max_length=2, description="[first, second]")
    target: int = Field(
        ge=0, le=2**31, description="cost max(0, target*free(first) - free(second))"
    )
    weight: int = Field(ge=0, le=2**53, description="cost per unit of imbalance")


class MoveCostsSpec(_Strict):
    """What moving costs beyond each replica's own move_cost."""

    most_moved_workload: int = Field(
        0,
        ge=0,
        le=2**53,
        description="cost per replica moved of the workload that moves the most replicas",
    )
    between_groups: dict[Name, dict[Name, int]] = Field(
        default_factory=dict,
        description="from move group -> to move group -> cost per replica moved (unlisted: 0)",
    )


class ReassignmentFile(_Strict):
    """A fleet to rebalance: dimensions, nodes, workloads with their replicas, costs."""

    version: Literal[1] = Field(description="format version (1)")
    kind: Literal["reassignment"] = Field(description="'reassignment'")
    dimensions: list[DimensionSpec] = Field(min_length=1, description="resource dimensions")
    nodes: list[ReassignNodeSpec] = Field(min_length=1, description="nodes")
    workloads: list[ReassignWorkloadSpec] = Field(default_factory=list, description="workloads")
    balance: list[BalanceSpec] = Field(default_factory=list, description="balance terms")
    move_costs: MoveCostsSpec = Field(default_factory=MoveCostsSpec, description="move costs")
