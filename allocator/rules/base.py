"""What every rule family shares: the checker's record of a breach, the hooks a family
fills in, and indexing helpers over its table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.heuristics.counts import PlaceCounts
    from allocator.inventory.schema import Inventory
    from allocator.model.context import ModelContext, PatternContext, PlacedColumns

# (location in the file as a path of keys, message) -> records one load-time problem
Report = Callable[[tuple, str], None]
UNLIMITED = 2**31  # a per-node cap that caps nothing


@dataclass(frozen=True)
class Violation:
    """One way a plan breaks the inventory's rules, as the checker words it."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


@dataclass(frozen=True)
class Placed:
    """A plan's replicas as the checker reads them: demand row and node of each (and the
    replica's number within its workload, for messages)."""

    row: np.ndarray
    node: np.ndarray
    replica: np.ndarray | None = None

    def family(self, domain: Domain) -> np.ndarray:
        return domain.demand.family[self.row]


@dataclass(frozen=True, eq=False)
class ShapeRules:
    """What a family asks of single nodes, said of demand rows; rows with `own_shape` get a
    shape of their own, so that node patterns can obey the rest."""

    own_shape: np.ndarray  # bool per row
    per_node_max: np.ndarray  # most replicas of the row on one node (UNLIMITED: none)
    apart: np.ndarray  # (pairs x 2) rows that never share a node
    together: np.ndarray  # (pairs x 2) row a runs only on nodes that run row b
    tenant: np.ndarray  # dedicated tenant of each row, "" for none
    # Rows whose replicas go one to each node whose pattern holds them before any node
    # gets a second (a rule counts the nodes that run the row).
    fill_each_node: np.ndarray

    @classmethod
    def none(cls, n_rows: int) -> ShapeRules:
        pairs = np.zeros((0, 2), dtype=np.int64)
        return cls(
            np.zeros(n_rows, dtype=bool),
            np.full(n_rows, UNLIMITED, dtype=np.int64),
            pairs,
            pairs,
            np.full(n_rows, "", dtype=object),
            np.zeros(n_rows, dtype=bool),
        )

    def merged(self, other: ShapeRules) -> ShapeRules:
        tenant = np.where(other.tenant != "", other.tenant, self.tenant).astype(object)
        return ShapeRules(
            self.own_shape | other.own_shape,
            np.minimum(self.per_node_max, other.per_node_max),
            np.concatenate([self.apart, other.apart]),
            np.concatenate([self.together, other.together]),
            tenant,
            self.fill_each_node | other.fill_each_node,
        )


@dataclass(frozen=True)
class RuleFamily:
    """The hooks of one family of workload rules. A family fills in those it needs:

    problems     load-time checks of the file (references, scopes that exist)
    shapes       what it asks of single nodes, which node patterns then obey
    model_rows   rows over `assign` (replicas per workload and node group), built once
    pattern_rows rows over the node patterns of a pool (rules about single nodes)
    columns      the values of the columns its rows add, for a placement's solution (a
                 warm start), from its `pattern` and `assign` values; a family whose
                 rows add no columns of their own has nothing to set
    room         greedy: most replicas of workload f each node may still take
    spreads      greedy: the scope to spread workload f over, one replica at a time
    repair       greedy: replicas (of those kept) to drop because they break the rule
    check        the independent checker's own arithmetic over a plan's replicas
    describe     the workload's rules of this family, in words, for diagnosis
    """

    name: str
    problems: Callable[[Inventory, Report], None] | None = None
    shapes: Callable[[Domain], ShapeRules] | None = None
    model_rows: Callable[[ModelContext], None] | None = None
    pattern_rows: Callable[[PatternContext], None] | None = None
    columns: Callable[[PlacedColumns], None] | None = None
    room: Callable[[PlaceCounts, int, np.ndarray], np.ndarray | None] | None = None
    spreads: Callable[[Domain, int], int | None] | None = None
    repair: Callable[[Domain, Placed], np.ndarray] | None = None
    check: Callable[[Domain, Placed], list[Violation]] | None = None
    describe: Callable[[Domain, int], list[str]] | None = None


def scope_problem(inv: Inventory, loc: tuple, scope: str | None, report: Report) -> None:
    """A rule names a scope no node has a value for (no racks given, no topology...)."""
    if scope is None or scope == "node":
        return
    found = {
        "rack": any(n.rack for n in inv.nodes),
        "fabric": any(n.fabric for n in inv.nodes),
        "zone": any(n.zone for n in inv.nodes),
        "region": any(n.region for n in inv.nodes),
        "site": inv.topology is not None,
    }
    where_from = {
        "rack": "nodes[].rack",
        "fabric": "nodes[].fabric",
        "zone": "nodes[].zone",
        "region": "nodes[].region",
        "site": "topology.sites",
    }
    if not found[scope]:
        report(loc, f"no node has a {scope} (give {where_from[scope]}, or use another scope)")
