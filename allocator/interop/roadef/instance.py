"""ROADEF/EURO 2012 machine reassignment: model, assignment and solution files.

A model file (``model_*.txt``) becomes a :class:`RoadefInstance` of numpy arrays indexed
by resource, machine, service, process and balance objective, all 0-based as in the
files; an assignment or solution file becomes an int64 array of one machine index per
process. The parser enforces the official checker's rules (every number in [0, 2^31-1],
booleans in {0, 1}, the checker's size limits, ids in range, every token consumed) and
names the field, token, line and column of the first thing it rejects. It is stricter in
two corners: a neighborhood or location id equal to M, which passes the checker's parser
but crashes its spread and dependency checks, and a "+" sign before a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from allocator.interop.roadef.tokens import INT_MAX, TokenReader, Tokens
from allocator.io.atomic import write_text_atomic

# The checker's limits (solution_checker.cc), which the published data needs; they are
# looser than the problem statement's for services and dependencies.
MAX_RESOURCES = 20
MAX_MACHINES = 5_000
MAX_SERVICES = 50_000
MAX_DEPENDENCIES = 5_000  # per service
MAX_PROCESSES = 50_000
MAX_BALANCES = 10


@dataclass(frozen=True, eq=False)
class RoadefInstance:
    """One model file as arrays; R resources, M machines, S services, P processes, B balances.

    Every integer array is int64 (capacity sums and costs exceed 2^32). Neighborhood and
    location ids are in [0, M): the checker uses them as indexes into M-sized vectors.
    """

    # resources
    transient: np.ndarray  # (R,) bool: a moved process holds it on both machines
    load_cost_weight: np.ndarray  # (R,) weight of the load cost of each resource
    # machines
    neighborhood: np.ndarray  # (M,) neighborhood id
    location: np.ndarray  # (M,) location id
    capacity: np.ndarray  # (M, R) hard capacity
    safety_capacity: np.ndarray  # (M, R) load above it costs
    machine_move_cost: np.ndarray  # (M, M) [from, to]; the checker charges it for every process
    # services
    spread_min: np.ndarray  # (S,) least number of distinct locations
    dependency_start: np.ndarray  # (S+1,) service s depends on dependencies[start[s]:start[s+1]]
    dependencies: np.ndarray  # (D,) service ids, in file order
    # processes
    service: np.ndarray  # (P,) service of each process
    requirement: np.ndarray  # (P, R) resource need
    process_move_cost: np.ndarray  # (P,) cost of moving the process
    # balance objectives: sum over machines of max(0, target*A(m,r1) - A(m,r2))
    balance_resource1: np.ndarray  # (B,)
    balance_resource2: np.ndarray  # (B,)
    balance_target: np.ndarray  # (B,)
    balance_weight: np.ndarray  # (B,)
    # global weights
    process_move_weight: int
    service_move_weight: int
    machine_move_weight: int

    def __post_init__(self) -> None:
        r, m, s, p, b = (
            len(self.transient),
            len(self.neighborhood),
            len(self.spread_min),
            len(self.service),
            len(self.balance_target),
        )
        shapes = {
            "load_cost_weight": (r,),
            "location": (m,),
            "capacity": (m, r),
            "safety_capacity": (m, r),
            "machine_move_cost": (m, m),
            "dependency_start": (s + 1,),
            "requirement": (p, r),
            "process_move_cost": (p,),
            "balance_resource1": (b,),
            "balance_resource2": (b,),
            "balance_weight": (b,),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.dependency_start[-1] != len(self.dependencies):
            raise ValueError("dependency_start[-1] must equal the number of dependencies")

    @property
    def num_resources(self) -> int:
        return len(self.transient)

    @property
    def num_machines(self) -> int:
        return len(self.neighborhood)

    @property
    def num_services(self) -> int:
        return len(self.spread_min)

    @property
    def num_processes(self) -> int:
        return len(self.service)

    @property
    def num_balances(self) -> int:
        return len(self.balance_target)

    def dependencies_of(self, service: int) -> np.ndarray:
        """Services that ``service`` depends on."""
        return self.dependencies[
            self.dependency_start[service] : self.dependency_start[service + 1]
        ]

    @cached_property
    def dependency_pairs(self) -> np.ndarray:
        """(D, 2) rows ``[dependent, dependency]``: the first needs the second nearby."""
        counts = np.diff(self.dependency_start)
        dependent = np.repeat(np.arange(self.num_services, dtype=np.int64), counts)
        return np.column_stack([dependent, self.dependencies])


def read_model(path: str | Path) -> RoadefInstance:
    """Parse a ``model_*.txt`` file; raises InputError naming the first bad field."""
    return model_from_tokens(Tokens.read(path, "a ROADEF 2012 model file"))


def parse_model(data: str | bytes, name: str = "<model>") -> RoadefInstance:
    """Parse model text; ``name`` is the file name that error messages use."""
    return model_from_tokens(Tokens(name, data.encode() if isinstance(data, str) else data))


def model_from_tokens(tokens: Tokens) -> RoadefInstance:
    """The model's fields in file order (see docs/roadef.md)."""
    read = TokenReader(tokens)

    n_res = read.one(MAX_RESOURCES, "number of resources")
    resources = read.rows(n_res, [1, INT_MAX], _resource_field)

    n_mach = read.one(MAX_MACHINES, "number of machines")
    ids = max(n_mach - 1, 0)
    machines = read.rows(
        n_mach, [ids, ids] + [INT_MAX] * (2 * n_res + n_mach), _machine_field(n_res)
    )

    n_serv = read.one(MAX_SERVICES, "number of services")
    spread_min, starts, deps = _read_services(read, n_serv, n_mach)

    n_proc = read.one(MAX_PROCESSES, "number of processes")
    processes = read.rows(
        n_proc, [max(n_serv - 1, 0)] + [INT_MAX] * (n_res + 1), _process_field(n_res)
    )
    if n_proc and not n_serv:
        at = read.pos - processes.size
        raise tokens.error(at, f"token {at + 1}: process 0: service: the model has no services")

    n_bal = read.one(MAX_BALANCES, "number of balance objectives")
    res_id = max(n_res - 1, 0)
    balances = read.rows(n_bal, [res_id, res_id, INT_MAX, INT_MAX], _balance_field)
    if n_bal and not n_res:
        at = read.pos - balances.size
        raise tokens.error(
            at, f"token {at + 1}: balance objective 0: first resource: the model has no resources"
        )

    weights = read.rows(1, [INT_MAX] * 3, _weight_field)[0]
    read.finish("the three move-cost weights that end the model")

    capacity_at = 2
    safety_at = capacity_at + n_res
    move_at = safety_at + n_res
    return RoadefInstance(
        transient=resources[:, 0].astype(bool),
        load_cost_weight=resources[:, 1].copy(),
        neighborhood=machines[:, 0].copy(),
        location=machines[:, 1].copy(),
        capacity=np.ascontiguousarray(machines[:, capacity_at:safety_at]),
        safety_capacity=np.ascontiguousarray(machines[:, safety_at:move_at]),
        machine_move_cost=np.ascontiguousarray(machines[:, move_at:]),
        spread_min=spread_min,
        dependency_start=starts,
        dependencies=deps,
        service=processes[:, 0].copy(),
        requirement=np.ascontiguousarray(processes[:, 1 : 1 + n_res]),
        process_move_cost=processes[:, 1 + n_res].copy(),
        balance_resource1=balances[:, 0].copy(),
        balance_resource2=balances[:, 1].copy(),
        balance_target=balances[:, 2].copy(),
        balance_weight=balances[:, 3].copy(),
        process_move_weight=int(weights[0]),
        service_move_weight=int(weights[1]),
        machine_move_weight=int(weights[2]),
    )


def _read_services(
    read: TokenReader, n_serv: int, n_mach: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Services have a variable number of dependencies: (spreadMin, start, dependencies)."""
    found = _scan_services(read.tokens.values, read.pos, n_serv, n_mach)
    if found is None:
        return _read_services_checking(read, n_serv, n_mach)
    spread_min, starts, deps, read.pos = found
    return spread_min, starts, deps


def _scan_services(
    values: np.ndarray, pos: int, n_serv: int, n_mach: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Fast path: walk the records, then check them all at once; None if anything is off."""
    heads = np.empty(n_serv, dtype=np.int64)
    end = len(values)
    for s in range(n_serv):
        if pos + 1 >= end:
            return None
        heads[s] = pos
        count = int(values[pos + 1])
        if count > MAX_DEPENDENCIES:
            return None
        pos += 2 + count
    if pos > end:
        return None
    spread_min, counts = values[heads], values[heads + 1]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    first = np.repeat(heads + 2 - starts[:-1], counts)
    deps = values[first + np.arange(len(first), dtype=np.int64)]
    if (spread_min > n_mach).any() or (deps > n_serv - 1).any():
        return None
    return spread_min.copy(), starts, deps, pos


def _read_services_checking(
    read: TokenReader, n_serv: int, n_mach: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow path, field by field, so that the first bad one is named."""
    spread_min = np.zeros(n_serv, dtype=np.int64)
    starts = np.zeros(n_serv + 1, dtype=np.int64)
    chunks: list[np.ndarray] = []
    for s in range(n_serv):
        spread_min[s] = read.one(n_mach, f"service {s}: spreadMin")
        count = read.one(MAX_DEPENDENCIES, f"service {s}: number of dependencies")
        deps = read.rows(
            count, [n_serv - 1], lambda row, _col, s=s: f"service {s}: dependency {row}"
        )
        chunks.append(deps[:, 0])
        starts[s + 1] = starts[s] + count
    deps = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    return spread_min, starts, deps.astype(np.int64, copy=False)


def _resource_field(row: int, col: int) -> str:
    return f"resource {row}: " + ("transient flag", "load cost weight")[col]


def _machine_field(n_res: int):
    def describe(row: int, col: int) -> str:
        if col == 0:
            field = "neighborhood"
        elif col == 1:
            field = "location"
        elif col < 2 + n_res:
            field = f"capacity of resource {col - 2}"
        elif col < 2 + 2 * n_res:
            field = f"safety capacity of resource {col - 2 - n_res}"
        else:
            field = f"move cost to machine {col - 2 - 2 * n_res}"
        return f"machine {row}: {field}"

    return describe


def _process_field(n_res: int):
    def describe(row: int, col: int) -> str:
        if col == 0:
            field = "service"
        elif col <= n_res:
            field = f"requirement of resource {col - 1}"
        else:
            field = "process move cost"
        return f"process {row}: {field}"

    return describe


def _balance_field(row: int, col: int) -> str:
    field = ("first resource", "second resource", "target", "weight")[col]
    return f"balance objective {row}: {field}"


def _weight_field(_row: int, col: int) -> str:
    return ("process move", "service move", "machine move")[col] + " cost weight"


def read_assignment(path: str | Path, instance: RoadefInstance) -> np.ndarray:
    """Parse an assignment or solution file: exactly P machine indices in [0, M)."""
    return assignment_from_tokens(Tokens.read(path, "an assignment file"), instance)


def parse_assignment(
    data: str | bytes, instance: RoadefInstance, name: str = "<assignment>"
) -> np.ndarray:
    """Parse assignment text; ``name`` is the file name that error messages use."""
    raw = data.encode() if isinstance(data, str) else data
    return assignment_from_tokens(Tokens(name, raw), instance)


def assignment_from_tokens(tokens: Tokens, instance: RoadefInstance) -> np.ndarray:
    """One machine index per process, in process order, as int64."""
    n_proc, n_mach = instance.num_processes, instance.num_machines
    read = TokenReader(tokens)
    if n_proc and not n_mach:
        raise tokens.error(0, "token 1: process 0: machine: the model has no machines")
    rows = read.rows(n_proc, [max(n_mach - 1, 0)], lambda p, _c: f"process {p}: machine")
    read.finish(f"the {n_proc} machine indices, one per process of the model")
    return rows[:, 0].copy()


def format_solution(assignment: np.ndarray) -> str:
    """The challenge's solution format: one line of machine indices, space-separated."""
    return " ".join(map(str, np.asarray(assignment, dtype=np.int64).tolist())) + "\n"


def write_solution(path: str | Path, assignment: np.ndarray) -> None:
    """Write a solution file atomically: a program stopped at its time limit, or a reader
    such as the checker, never sees half a file."""
    write_text_atomic(path, format_solution(assignment))
