"""Read a reassignment file into a `Reassignment`, or say exactly what is wrong with it.

Schema errors come from pydantic (translated like the inventory's); the cross-references
(dimension names in capacities and needs, replica nodes, dependencies, move groups) and
duplicate ids are checked here, every problem at once, each with its entry and field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from allocator.io.errors import InputError, InputProblem
from allocator.io.source import SourceDocument, read_document
from allocator.io.validation import problem_at, suggest, translate
from allocator.reassign.model import Reassignment
from allocator.reassign.schema import ReassignmentFile


def load_reassignment(path: str | Path) -> Reassignment:
    return reassignment_from_document(read_document(path))


def reassignment_from_document(doc: SourceDocument) -> Reassignment:
    if not isinstance(doc.data, dict) or doc.data.get("kind") != "reassignment":
        raise InputError.single(
            doc.path,
            "not a reassignment file: expected a mapping with 'version: 1' and "
            "'kind: reassignment' (see docs/reassignment.md)",
            line=1,
        )
    try:
        spec = ReassignmentFile.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(translate(doc, ReassignmentFile, exc)) from None
    problems = _cross_reference_problems(doc, spec)
    if problems:
        raise InputError(problems)
    return _to_model(spec)


def _cross_reference_problems(doc: SourceDocument, spec: ReassignmentFile) -> list[InputProblem]:
    out: list[InputProblem] = []

    def problem(loc: tuple, message: str) -> None:
        out.append(problem_at(doc, loc, message))

    dims = [d.name for d in spec.dimensions]
    nodes = [n.id for n in spec.nodes]
    workloads = [w.id for w in spec.workloads]
    replicas = [
        (("workloads", k, "replicas", j), r.id)
        for k, w in enumerate(spec.workloads)
        for j, r in enumerate(w.replicas)
    ]
    _duplicates(problem, "dimension", [(("dimensions", k, "name"), d) for k, d in enumerate(dims)])
    _duplicates(problem, "node", [(("nodes", k, "id"), n) for k, n in enumerate(nodes)])
    _duplicates(problem, "workload", [(("workloads", k, "id"), w) for k, w in enumerate(workloads)])
    _duplicates(problem, "replica", [((*loc, "id"), r) for loc, r in replicas])

    groups = sorted({n.move_group or n.id for n in spec.nodes})

    def known(loc: tuple, what: str, name: str, names: list[str]) -> None:
        if name not in names:
            problem(loc, f"unknown {what} {name!r}{suggest(name, names)}")

    def amounts(loc: tuple, values: dict[str, int]) -> None:
        for name, amount in values.items():
            known((*loc, name), "dimension", name, dims)
            if not 0 <= amount <= 2**53:
                problem((*loc, name), f"an amount is a whole number in [0, 2^53], got {amount}")

    for k, node in enumerate(spec.nodes):
        for name in dims:
            if name not in node.capacity:
                problem(("nodes", k, "capacity"), f"no capacity given for dimension {name!r}")
        amounts(("nodes", k, "capacity"), node.capacity)
        amounts(("nodes", k, "soft_capacity"), node.soft_capacity)
    for loc, _ in replicas:
        replica = spec.workloads[loc[1]].replicas[loc[3]]
        amounts((*loc, "need"), replica.need)
        known((*loc, "node"), "node", replica.node, nodes)
    for k, workload in enumerate(spec.workloads):
        for j, other in enumerate(workload.depends_on):
            known(("workloads", k, "depends_on", j), "workload", other, workloads)
    for k, term in enumerate(spec.balance):
        for j, name in enumerate(term.dimensions):
            known(("balance", k, "dimensions", j), "dimension", name, dims)
    for source, row in spec.move_costs.between_groups.items():
        loc = ("move_costs", "between_groups", source)
        known(loc, "move group", source, groups)
        for target, cost in row.items():
            known((*loc, target), "move group", target, groups)
            if cost < 0:
                problem((*loc, target), f"a move cost is a whole number >= 0, got {cost}")
    return out


def _duplicates(problem, what: str, entries: Iterable[tuple[tuple, str]]) -> None:
    seen: set[str] = set()
    for loc, name in entries:
        if name in seen:
            problem(loc, f"duplicate {what} id {name!r}")
        seen.add(name)


def _to_model(spec: ReassignmentFile) -> Reassignment:
    dims = [d.name for d in spec.dimensions]
    dim = {name: k for k, name in enumerate(dims)}
    node = {n.id: k for k, n in enumerate(spec.nodes)}
    workload = {w.id: k for k, w in enumerate(spec.workloads)}
    replicas = [(k, r) for k, w in enumerate(spec.workloads) for r in w.replicas]

    def table(rows: list[dict[str, int]], default: np.ndarray | None = None) -> np.ndarray:
        out = (
            np.zeros((len(rows), len(dims)), dtype=np.int64) if default is None else default.copy()
        )
        for i, row in enumerate(rows):
            for name, amount in row.items():
                out[i, dim[name]] = amount
        return out

    capacity = table([n.capacity for n in spec.nodes])
    groups, group_of = np.unique([n.move_group or n.id for n in spec.nodes], return_inverse=True)
    group_index = {g: k for k, g in enumerate(groups.tolist())}
    between = np.zeros((len(groups), len(groups)), dtype=np.int64)
    for source, row in spec.move_costs.between_groups.items():
        for target, cost in row.items():
            between[group_index[source], group_index[target]] = cost
    node_move_cost = between[np.ix_(group_of, group_of)]
    np.fill_diagonal(node_move_cost, 0)
    dependencies = [
        (k, workload[other]) for k, w in enumerate(spec.workloads) for other in w.depends_on
    ]
    return Reassignment(
        resources=tuple(dims),
        transient=np.array([d.transient for d in spec.dimensions], dtype=bool),
        load_weight=np.array([d.load_cost for d in spec.dimensions], dtype=np.int64),
        capacity=capacity,
        soft_capacity=table([n.soft_capacity for n in spec.nodes], default=capacity),
        spread_domain=np.unique([n.spread_domain for n in spec.nodes], return_inverse=True)[1],
        dependency_domain=np.unique([n.dependency_domain for n in spec.nodes], return_inverse=True)[
            1
        ],
        node_move_cost=node_move_cost,
        min_domains=np.array([w.min_domains for w in spec.workloads], dtype=np.int64),
        dependencies=np.array(dependencies, dtype=np.int64).reshape(-1, 2),
        workload=np.array([k for k, _ in replicas], dtype=np.int64),
        need=table([r.need for _, r in replicas]),
        current=np.array([node[r.node] for _, r in replicas], dtype=np.int64),
        replica_move_cost=np.array([r.move_cost for _, r in replicas], dtype=np.int64),
        workload_move_weight=spec.move_costs.most_moved_workload,
        balance_first=np.array([dim[b.dimensions[0]] for b in spec.balance], dtype=np.int64),
        balance_second=np.array([dim[b.dimensions[1]] for b in spec.balance], dtype=np.int64),
        balance_target=np.array([b.target for b in spec.balance], dtype=np.int64),
        balance_weight=np.array([b.weight for b in spec.balance], dtype=np.int64),
        node_names=tuple(n.id for n in spec.nodes),
        workload_names=tuple(w.id for w in spec.workloads),
        replica_names=tuple(r.id for _, r in replicas),
    )
