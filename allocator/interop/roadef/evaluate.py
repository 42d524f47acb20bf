"""The exact ROADEF/EURO 2012 objective and hard constraints of a reassignment.

Costs and feasibility are computed as the official checker computes them
(``solution_checker.cc``), in integers only: per-machine sums in int64 (they stay below
2^47), weighted totals in Python ints, and balance terms in Python ints whenever int64
could overflow. Everything is vectorized over processes, so one evaluation of a
50,000-process, 5,000-machine instance takes a few tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from allocator.interop.roadef.instance import RoadefInstance

CAPACITY = "capacity"
TRANSIENT = "transient"
CONFLICT = "conflict"
SPREAD = "spread"
DEPENDENCY = "dependency"
KINDS = (CAPACITY, TRANSIENT, CONFLICT, SPREAD, DEPENDENCY)  # the checker's order

_SAFE = 2**62  # bound under which int64 arithmetic cannot overflow


@dataclass(frozen=True)
class Violation:
    """One broken hard constraint; ``kind`` is one of KINDS, the rest locates it."""

    kind: str
    message: str
    machine: int | None = None
    resource: int | None = None
    service: int | None = None
    process: int | None = None
    amount: int | None = None  # by how much: excess load, or missing locations

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Evaluation:
    """Every cost term, unweighted and weighted, the total, and the violations.

    ``load``, ``balance`` and ``*_moves`` are the challenge's unweighted terms
    (``loadCost(r)``, ``balanceCost(b)``, process, service and machine move costs); the
    ``*_cost`` fields are the same terms weighted, and ``total`` is their sum.
    """

    load: tuple[int, ...]  # per resource: sum over machines of max(0, U - SC)
    balance: tuple[int, ...]  # per balance objective: sum of max(0, t*A(r1) - A(r2))
    process_moves: int  # sum of the move costs of moved processes
    service_moves: int  # most moved processes in one service
    machine_moves: int  # sum over processes of MMC(initial machine, new machine)
    load_cost: int
    balance_cost: int
    process_move_cost: int
    service_move_cost: int
    machine_move_cost: int
    moved: int  # number of processes not on their initial machine
    violations: list[Violation] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            self.load_cost
            + self.balance_cost
            + self.process_move_cost
            + self.service_move_cost
            + self.machine_move_cost
        )

    @property
    def feasible(self) -> bool:
        return not self.violations


def check_assignment(instance: RoadefInstance, assignment: np.ndarray, what: str) -> np.ndarray:
    """An int64 array of P machine indices, or ValueError (files are checked when read)."""
    array = np.asarray(assignment)
    if array.shape != (instance.num_processes,):
        raise ValueError(f"{what} has shape {array.shape}, expected ({instance.num_processes},)")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must hold integers, not {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if len(array) and (array.min() < 0 or array.max() >= instance.num_machines):
        raise ValueError(f"{what} holds a machine index outside [0, {instance.num_machines})")
    return array


def usage(instance: RoadefInstance, assignment: np.ndarray) -> np.ndarray:
    """(M, R) int64: what the processes on each machine need, U(m, r)."""
    used = np.zeros((instance.num_machines, instance.num_resources), dtype=np.int64)
    np.add.at(used, assignment, instance.requirement)
    return used


def evaluate(
    instance: RoadefInstance, initial: np.ndarray, solution: np.ndarray | None = None
) -> Evaluation:
    """Costs and hard-constraint violations of ``solution`` (default: ``initial`` itself)."""
    initial = check_assignment(instance, initial, "the initial assignment")
    solution = initial if solution is None else check_assignment(instance, solution, "solution")
    inst = instance
    used = usage(inst, solution)
    moved = solution != initial

    violations = _capacity(inst, used, initial, moved)
    violations += _conflict(inst, solution)
    violations += _spread(inst, solution)
    violations += _dependency(inst, solution)

    load = np.maximum(used - inst.safety_capacity, 0).sum(axis=0)
    remaining = inst.capacity - used
    balance = [
        _balance(remaining[:, r1], remaining[:, r2], int(t))
        for r1, r2, t in zip(
            inst.balance_resource1, inst.balance_resource2, inst.balance_target, strict=True
        )
    ]
    process_moves = int(inst.process_move_cost[moved].sum())
    per_service = np.bincount(inst.service[moved], minlength=1)
    service_moves = int(per_service.max()) if moved.any() else 0
    machine_moves = int(inst.machine_move_cost[initial, solution].sum())
    return Evaluation(
        load=tuple(int(x) for x in load),
        balance=tuple(balance),
        process_moves=process_moves,
        service_moves=service_moves,
        machine_moves=machine_moves,
        load_cost=_dot(inst.load_cost_weight, load),
        balance_cost=_dot(inst.balance_weight, balance),
        process_move_cost=inst.process_move_weight * process_moves,
        service_move_cost=inst.service_move_weight * service_moves,
        machine_move_cost=inst.machine_move_weight * machine_moves,
        moved=int(moved.sum()),
        violations=violations,
    )


def _dot(weights: np.ndarray, terms) -> int:
    return sum(int(w) * int(x) for w, x in zip(weights, terms, strict=True))


def _balance(first: np.ndarray, second: np.ndarray, target: int) -> int:
    """Sum over machines of max(0, target*first - second), exact for any magnitudes."""
    if len(first) == 0:
        return 0
    bound = target * int(np.abs(first).max()) + int(np.abs(second).max())
    if bound * len(first) < _SAFE:
        return int(np.maximum(target * first - second, 0).sum())
    return sum(max(0, target * a - b) for a, b in zip(first.tolist(), second.tolist(), strict=True))


def _capacity(
    inst: RoadefInstance, used: np.ndarray, initial: np.ndarray, moved: np.ndarray
) -> list[Violation]:
    """Capacity, then transient capacity, as the checker's remaining capacities see them.

    A moved process still holds its transient resources on the machine it leaves. Where a
    machine is over capacity on a transient resource, only the capacity breach is listed.
    """
    out: list[Violation] = []
    over = used - inst.capacity
    for m, r in np.argwhere(over > 0):
        out.append(
            Violation(
                CAPACITY,
                f"machine {m} resource {r}: usage {used[m, r]} exceeds capacity "
                f"{inst.capacity[m, r]} by {over[m, r]}",
                machine=int(m),
                resource=int(r),
                amount=int(over[m, r]),
            )
        )
    if not inst.transient.any() or not moved.any():
        return out
    held = np.zeros_like(used)
    np.add.at(held, initial[moved], inst.requirement[moved])
    held[:, ~inst.transient] = 0
    transient_over = used + held - inst.capacity
    for m, r in np.argwhere((transient_over > 0) & (over <= 0)):
        out.append(
            Violation(
                TRANSIENT,
                f"machine {m} resource {r} (transient): usage {used[m, r]} plus {held[m, r]} "
                f"still held by processes moved away is {used[m, r] + held[m, r]}, exceeding "
                f"capacity {inst.capacity[m, r]} by {transient_over[m, r]}",
                machine=int(m),
                resource=int(r),
                amount=int(transient_over[m, r]),
            )
        )
    return out


def _conflict(inst: RoadefInstance, solution: np.ndarray) -> list[Violation]:
    """Processes of one service on one machine, one violation per (service, machine)."""
    key = inst.service * inst.num_machines + solution
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return []
    out: list[Violation] = []
    first = np.flatnonzero(np.concatenate([[True], ~same]))
    sizes = np.diff(np.append(first, len(ordered)))
    for start, size in zip(first[sizes > 1], sizes[sizes > 1], strict=True):
        procs = np.sort(order[start : start + size])
        s, m = int(inst.service[procs[0]]), int(solution[procs[0]])
        names = ", ".join(str(p) for p in procs)
        out.append(
            Violation(
                CONFLICT,
                f"service {s}: processes {names} run on the same machine {m}",
                machine=m,
                service=s,
                process=int(procs[1]),
                amount=int(size) - 1,
            )
        )
    return out


def _spread(inst: RoadefInstance, solution: np.ndarray) -> list[Violation]:
    """Services whose processes occupy fewer distinct locations than spreadMin."""
    pairs = np.unique(inst.service * inst.num_machines + inst.location[solution])
    spread = np.bincount(pairs // max(inst.num_machines, 1), minlength=inst.num_services)
    short = inst.spread_min - spread
    return [
        Violation(
            SPREAD,
            f"service {s} runs in {spread[s]} distinct location{'' if spread[s] == 1 else 's'}, "
            f"fewer than its spreadMin {inst.spread_min[s]} (short by {short[s]})",
            service=int(s),
            amount=int(short[s]),
        )
        for s in np.flatnonzero(short > 0)
    ]


def _dependency(inst: RoadefInstance, solution: np.ndarray) -> list[Violation]:
    """Processes of a dependent service in a neighborhood where its dependency has none.

    Checked on distinct (service, neighborhood) pairs, so the work follows the number of
    pairs times dependencies, not processes times dependencies. Listed in the checker's
    order: dependent service, its dependencies in file order, then process.
    """
    if len(inst.dependencies) == 0:
        return []
    width = max(inst.num_machines, 1)
    hood = inst.neighborhood[solution]
    present, inverse = np.unique(inst.service * width + hood, return_inverse=True)
    service, neighborhood = present // width, present % width
    counts = np.diff(inst.dependency_start)[service]
    pair = np.repeat(np.arange(len(present)), counts)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
    needed = inst.dependencies[inst.dependency_start[service[pair]] + offset]
    wanted = needed * width + neighborhood[pair]
    found = np.minimum(np.searchsorted(present, wanted), len(present) - 1)
    missing = np.flatnonzero(present[found] != wanted)
    if not len(missing):
        return []
    by_pair = np.argsort(inverse, kind="stable")
    pair_start = np.searchsorted(inverse[by_pair], np.arange(len(present) + 1))
    found_at: list[tuple[int, int, int, int, int]] = []
    for k in missing:
        j = int(pair[k])
        for p in by_pair[pair_start[j] : pair_start[j + 1]]:
            found_at.append((int(service[j]), int(offset[k]), int(p), int(needed[k]), int(hood[p])))
    found_at.sort()
    return [
        Violation(
            DEPENDENCY,
            f"process {p} of service {s} runs in neighborhood {n} (machine {solution[p]}), "
            f"where no process of service {d} runs; service {s} depends on service {d}",
            machine=int(solution[p]),
            service=s,
            process=p,
        )
        for s, _, p, d, n in found_at
    ]
