"""ROADEF/EURO 2012: file formats, the exact evaluator and `roadef eval`."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from allocator.interop.roadef import (
    KINDS,
    RoadefInstance,
    evaluate,
    format_solution,
    parse_assignment,
    parse_model,
    read_assignment,
    read_model,
    write_solution,
)
from allocator.io.errors import InputError
from cli.roadef import app

FIXTURES = ROOT / "tests" / "data" / "roadef"
SHIPPED = ROOT.parent / "shared" / "data" / "roadef2012"
EXAMPLE = FIXTURES / "model_example.txt"


def example() -> tuple[RoadefInstance, np.ndarray]:
    inst = read_model(EXAMPLE)
    return inst, read_assignment(FIXTURES / "assignment_example.txt", inst)


def model_text(
    resources: list[tuple[int, int]],
    machines: list[tuple[int, int, list[int], list[int], list[int]]],
    services: list[tuple[int, list[int]]],
    processes: list[tuple[int, list[int], int]],
    balances: Sequence[tuple[int, int, int, int]] = (),
    weights: tuple[int, int, int] = (1, 10, 100),
) -> str:
    """A model file from Python lists, laid out like the published ones."""
    lines = [str(len(resources))]
    lines += [f"{t} {w}" for t, w in resources]
    lines.append(str(len(machines)))
    lines += [
        " ".join(map(str, [n, loc, *cap, *safe, *mmc])) for n, loc, cap, safe, mmc in machines
    ]
    lines.append(str(len(services)))
    lines += [" ".join(map(str, [spread, len(deps), *deps])) for spread, deps in services]
    lines.append(str(len(processes)))
    lines += [" ".join(map(str, [s, *req, pmc])) for s, req, pmc in processes]
    lines.append(str(len(balances)))
    for r1, r2, target, weight in balances:
        lines += [f"{r1} {r2} {target}", str(weight)]
    lines.append(" ".join(map(str, weights)))
    return "\n".join(lines) + "\n"


def instance(text: str) -> RoadefInstance:
    return parse_model(text, "model.txt")


def no_moves(n: int) -> list[list[int]]:
    """Machine move costs: 0 to stay, 1 to go anywhere else."""
    return [[0 if a == b else 1 for b in range(n)] for a in range(n)]


# --- the example of the problem definition ---------------------------------------------


def test_example_parses_into_documented_arrays():
    inst, initial = example()
    assert (inst.num_resources, inst.num_machines, inst.num_services) == (2, 4, 2)
    assert (inst.num_processes, inst.num_balances) == (3, 1)
    assert inst.transient.tolist() == [True, False]
    assert inst.load_cost_weight.tolist() == [100, 10]
    assert inst.neighborhood.tolist() == [0, 0, 1, 1]
    assert inst.location.tolist() == [0, 0, 1, 2]
    assert inst.capacity.tolist() == [[30, 400], [10, 240], [15, 100], [10, 100]]
    assert inst.safety_capacity.tolist() == [[16, 80], [8, 160], [12, 80], [8, 80]]
    assert inst.machine_move_cost[0].tolist() == [0, 1, 4, 5]
    assert inst.spread_min.tolist() == [2, 1]
    assert inst.dependencies_of(0).tolist() == [] and inst.dependencies_of(1).tolist() == [0]
    assert inst.dependency_pairs.tolist() == [[1, 0]]
    assert inst.service.tolist() == [0, 0, 1]
    assert inst.requirement.tolist() == [[12, 10], [10, 20], [6, 200]]
    assert inst.process_move_cost.tolist() == [1000, 100, 1]
    assert (inst.balance_resource1[0], inst.balance_resource2[0]) == (0, 1)
    assert (inst.balance_target[0], inst.balance_weight[0]) == (20, 10)
    assert (inst.process_move_weight, inst.service_move_weight) == (1, 10)
    assert inst.machine_move_weight == 100
    assert initial.tolist() == [0, 3, 0]
    for array in (inst.capacity, inst.requirement, inst.machine_move_cost, initial):
        assert array.dtype == np.int64


def test_example_objectives_of_the_problem_definition():
    inst, initial = example()
    start = evaluate(inst, initial)
    assert start.feasible and start.total == 4200
    assert (start.load_cost, start.balance_cost) == (1700, 2500)
    assert start.load == (4, 130) and start.balance == (250,)

    moved = evaluate(inst, initial, read_assignment(FIXTURES / "solution_example_move.txt", inst))
    assert moved.feasible and moved.total == 3510
    assert (moved.load_cost, moved.balance_cost) == (1500, 1700)
    assert (moved.process_move_cost, moved.service_move_cost, moved.machine_move_cost) == (
        100,
        10,
        200,
    )

    best = read_assignment(FIXTURES / "solution_example_optimal.txt", inst)
    optimum = evaluate(inst, initial, best)
    assert optimum.feasible and optimum.total == 2411
    assert (optimum.process_moves, optimum.service_moves, optimum.machine_moves) == (101, 1, 3)
    assert optimum.moved == 2


def test_example_optimum_is_the_best_feasible_assignment():
    inst, initial = example()
    totals = {
        a: evaluate(inst, initial, np.array(a)) for a in itertools.product(range(4), repeat=3)
    }
    feasible = {a: e.total for a, e in totals.items() if e.feasible}
    assert min(feasible.values()) == 2411
    assert [a for a, t in feasible.items() if t == 2411] == [(0, 2, 1)]


def test_solution_round_trip(tmp_path):
    inst, initial = example()
    path = tmp_path / "solution.txt"
    write_solution(path, np.array([0, 2, 1]))
    assert path.read_text() == "0 2 1\n"
    assert read_assignment(path, inst).tolist() == [0, 2, 1]
    assert format_solution(initial) == "0 3 0\n"


# --- the shipped challenge instances ------------------------------------------------------

SHIPPED_OBJECTIVES = {"a1_1": 49_528_750, "a1_2": 1_061_649_570}


@pytest.mark.parametrize("name", sorted(SHIPPED_OBJECTIVES))
def test_shipped_instance_initial_objective(name, tmp_path):
    model = SHIPPED / f"model_{name}.txt"
    if not model.exists():
        pytest.skip(f"{SHIPPED} is not available")
    inst = read_model(model)
    initial = read_assignment(SHIPPED / f"assignment_{name}.txt", inst)
    result = evaluate(inst, initial)
    assert result.feasible, result.violations
    assert result.total == SHIPPED_OBJECTIVES[name]
    assert result.process_move_cost == result.service_move_cost == result.machine_move_cost == 0
    assert len(model.read_text().split()) == (
        1 + 2 * inst.num_resources
        + 1 + inst.num_machines * (2 + 2 * inst.num_resources + inst.num_machines)
        + 1 + 2 * inst.num_services + len(inst.dependencies)
        + 1 + inst.num_processes * (2 + inst.num_resources)
        + 1 + 4 * inst.num_balances + 3
    )  # fmt: skip
    write_solution(tmp_path / "same.txt", initial)
    result = CliRunner().invoke(
        app,
        ["eval", str(model), str(SHIPPED / f"assignment_{name}.txt"), str(tmp_path / "same.txt")],
    )
    assert result.exit_code == 0, result.output
    assert f"total cost        = {SHIPPED_OBJECTIVES[name]}\n" in result.output


def test_shipped_a1_1_one_move_costs_every_term():
    model = SHIPPED / "model_a1_1.txt"
    if not model.exists():
        pytest.skip(f"{SHIPPED} is not available")
    inst = read_model(model)
    initial = read_assignment(SHIPPED / "assignment_a1_1.txt", inst)
    moved = initial.copy()
    moved[0] = (initial[0] + 1) % inst.num_machines
    result = evaluate(inst, initial, moved)
    assert result.process_moves == int(inst.process_move_cost[0])
    assert result.service_moves == 1
    assert result.machine_moves == int(inst.machine_move_cost[initial[0], moved[0]])
    reference = reference_evaluation(inst, initial, moved)
    assert (result.total, result.feasible) == (reference[0], reference[1])


# --- one tiny instance per hard constraint -------------------------------------------------

BIG = [1000]


def two_processes(transient: int = 0, capacity: int = 10) -> str:
    """Two machines, one resource, processes 0 and 1 in services 0 and 1."""
    return model_text(
        resources=[(transient, 10)],
        machines=[(0, 0, [capacity], [capacity], [0, 1]), (0, 1, [capacity], [capacity], [1, 0])],
        services=[(0, []), (0, [])],
        processes=[(0, [6], 1), (1, [3], 1)],
    )


def test_capacity_violation():
    inst = instance(two_processes(capacity=8))
    result = evaluate(inst, np.array([0, 1]), np.array([0, 0]))
    (violation,) = result.violations
    assert str(violation) == "capacity: machine 0 resource 0: usage 9 exceeds capacity 8 by 1"
    assert (violation.kind, violation.machine, violation.resource, violation.amount) == (
        "capacity",
        0,
        0,
        1,
    )
    assert not result.feasible


def test_transient_violation_only_when_the_resource_is_transient():
    swap = np.array([1, 0])
    plain = evaluate(instance(two_processes(transient=0, capacity=8)), np.array([0, 1]), swap)
    assert plain.feasible
    result = evaluate(instance(two_processes(transient=1, capacity=8)), np.array([0, 1]), swap)
    assert [str(v) for v in result.violations] == [
        "transient: machine 0 resource 0 (transient): usage 3 plus 6 still held by processes "
        "moved away is 9, exceeding capacity 8 by 1",
        "transient: machine 1 resource 0 (transient): usage 6 plus 3 still held by processes "
        "moved away is 9, exceeding capacity 8 by 1",
    ]
    assert plain.total == result.total  # transient usage is a constraint, not a cost


def test_conflict_violation():
    inst = instance(
        model_text(
            resources=[(0, 10)],
            machines=[(0, 0, BIG, BIG, [0, 1]), (0, 1, BIG, BIG, [1, 0])],
            services=[(0, [])],
            processes=[(0, [1], 1), (0, [1], 1)],
        )
    )
    result = evaluate(inst, np.array([0, 1]), np.array([1, 1]))
    (violation,) = result.violations
    assert str(violation) == "conflict: service 0: processes 0, 1 run on the same machine 1"
    assert (violation.service, violation.machine) == (0, 1)


def test_spread_violation():
    inst = instance(
        model_text(
            resources=[(0, 10)],
            machines=[
                (0, loc, BIG, BIG, row) for loc, row in zip([0, 0, 1], no_moves(3), strict=True)
            ],
            services=[(2, [])],
            processes=[(0, [1], 1), (0, [1], 1)],
        )
    )
    assert evaluate(inst, np.array([0, 2])).feasible
    result = evaluate(inst, np.array([0, 2]), np.array([0, 1]))
    (violation,) = result.violations
    assert str(violation) == (
        "spread: service 0 runs in 1 distinct location, fewer than its spreadMin 2 (short by 1)"
    )
    assert (violation.service, violation.amount) == (0, 1)


def test_dependency_violation():
    inst = instance(
        model_text(
            resources=[(0, 10)],
            machines=[(0, 0, BIG, BIG, [0, 1]), (1, 1, BIG, BIG, [1, 0])],
            services=[(0, [1]), (0, [])],
            processes=[(0, [1], 1), (1, [1], 1)],
        )
    )
    assert evaluate(inst, np.array([0, 0])).feasible
    result = evaluate(inst, np.array([0, 0]), np.array([0, 1]))
    (violation,) = result.violations
    assert str(violation) == (
        "dependency: process 0 of service 0 runs in neighborhood 0 (machine 0), where no "
        "process of service 1 runs; service 0 depends on service 1"
    )
    assert (violation.process, violation.service, violation.machine) == (0, 0, 0)
    # not symmetric: service 1 may leave service 0's neighborhood alone
    assert evaluate(inst, np.array([0, 0]), np.array([1, 0])).violations[0].process == 0


def test_violations_come_in_the_checkers_order():
    inst = instance(
        model_text(
            resources=[(1, 10)],
            machines=[(n, n, [10], [10], row) for n, row in enumerate(no_moves(3))],
            services=[(2, [1]), (1, [])],
            processes=[(0, [6], 1), (0, [6], 1), (1, [5], 1)],
        )
    )
    result = evaluate(inst, np.array([0, 1, 2]), np.array([1, 1, 0]))
    kinds = [v.kind for v in result.violations]
    assert kinds == sorted(kinds, key=KINDS.index)
    assert set(kinds) == {"capacity", "transient", "conflict", "spread", "dependency"}


def test_balance_cost_is_exact_beyond_int64():
    top = 2**31 - 1
    inst = instance(
        model_text(
            resources=[(0, 10), (0, 10)],
            machines=[(0, 0, [top, 0], [top, 0], [0])],
            services=[],
            processes=[],
            balances=[(0, 1, top, top)],
            weights=(top, top, top),
        )
    )
    result = evaluate(inst, np.zeros(0, dtype=np.int64))
    assert result.balance == (top * top,)
    assert result.total == top * top * top


# --- malformed input ------------------------------------------------------------------------

GOOD = EXAMPLE.read_text()

BAD_MODELS = {
    "truncated": (
        GOOD.rsplit(" ", 1)[0],
        "model.txt:18:5: file ends early after 72 tokens: expected machine move cost weight "
        "(a whole number in [0, 2147483647]) next",
    ),
    "empty": (
        "",
        "model.txt:1:1: file is empty: expected number of resources (a whole number in [0, 20]) "
        "first",
    ),
    "negative": (
        GOOD.replace("0 0 10 240", "0 0 -10 240"),
        "model.txt:6:5: token 19: machine 1: capacity of resource 0: expected a whole number "
        "in [0, 2147483647], got '-10'",
    ),
    "not an integer": (
        GOOD.replace("0 12 10 1000", "0 12 1.5 1000"),
        "model.txt:13:6: token 56: process 0: requirement of resource 1: expected a whole "
        "number in [0, 2147483647], got '1.5'",
    ),
    "above 2^31-1": (
        GOOD.replace("1 6 200 1", "1 6 2147483648 1"),
        "model.txt:15:5: token 64: process 2: requirement of resource 1: expected a whole "
        "number in [0, 2147483647], got '2147483648'",
    ),
    "boolean": (
        GOOD.replace("1 100\n", "2 100\n", 1),
        "model.txt:2:1: token 2: resource 0: transient flag: expected 0 or 1, got '2'",
    ),
    "unknown service": (
        GOOD.replace("1 6 200 1", "2 6 200 1"),
        "model.txt:15:1: token 62: process 2: service: expected 0 or 1, got '2'",
    ),
    "unknown dependency": (
        GOOD.replace("1 1 0\n", "1 1 2\n"),
        "model.txt:11:5: token 52: service 1: dependency 0: expected 0 or 1, got '2'",
    ),
    "neighborhood out of range": (
        GOOD.replace("1 2 10 100", "4 2 10 100"),
        "model.txt:8:1: token 37: machine 3: neighborhood: expected a whole number in [0, 3], "
        "got '4'",
    ),
    "too many resources": (
        "21\n",
        "model.txt:1:1: token 1: number of resources: expected a whole number in [0, 20], got '21'",
    ),
    "processes without services": (
        "1 0 1\n1\n0 0 5 5 0\n0\n1\n0 1 1\n0\n1 1 1\n",
        "model.txt:6:1: token 12: process 0: service: the model has no services",
    ),
    "spreadMin above the number of machines": (
        "0\n1\n0 0 0\n1\n2 0\n0\n0\n1 1 1\n",
        "model.txt:5:1: token 7: service 0: spreadMin: expected 0 or 1, got '2'",
    ),
    "extra tokens": (
        GOOD + "7 8\n",
        "model.txt:19:1: token 74: unexpected '7' after the three move-cost weights that end "
        "the model; the file has 2 tokens too many",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_bad_model(case, tmp_path):
    text, expected = BAD_MODELS[case]
    with pytest.raises(InputError) as caught:
        parse_model(text, "model.txt")
    assert str(caught.value) == expected
    model = tmp_path / "model.txt"
    model.write_text(text)
    result = CliRunner().invoke(app, ["eval", str(model), str(FIXTURES / "assignment_example.txt")])
    assert result.exit_code == 2, result.output
    assert f"error: {tmp_path / expected}" in result.output.replace("\n", "")
    assert "Traceback" not in result.output


BAD_ASSIGNMENTS = {
    "machine out of range": (
        "0 4 0",
        "a.txt:1:3: token 2: process 1: machine: expected a whole number in [0, 3], got '4'",
    ),
    "negative machine": (
        "0 -1 0",
        "a.txt:1:3: token 2: process 1: machine: expected a whole number in [0, 3], got '-1'",
    ),
    "too few": (
        "0 3",
        "a.txt:1:4: file ends early after 2 tokens: expected process 2: machine "
        "(a whole number in [0, 3]) next",
    ),
    "too many": (
        "0 3 0 1",
        "a.txt:1:7: token 4: unexpected '1' after the 3 machine indices, one per process of "
        "the model; the file has 1 token too many",
    ),
    "not a number": (
        "0 x 0",
        "a.txt:1:3: token 2: process 1: machine: expected a whole number in [0, 3], got 'x'",
    ),
    "line breaks carry no meaning": ("0\n3\n\n\t0 \n", None),
}


@pytest.mark.parametrize("case", sorted(BAD_ASSIGNMENTS))
def test_bad_assignment(case, tmp_path):
    text, expected = BAD_ASSIGNMENTS[case]
    inst, _ = example()
    if expected is None:
        assert parse_assignment(text, inst, "a.txt").tolist() == [0, 3, 0]
        return
    with pytest.raises(InputError) as caught:
        parse_assignment(text, inst, "a.txt")
    assert str(caught.value) == expected
    path = tmp_path / "a.txt"
    path.write_text(text)
    for args in ([str(path)], [str(FIXTURES / "assignment_example.txt"), str(path)]):
        result = CliRunner().invoke(app, ["eval", str(EXAMPLE), *args])
        assert result.exit_code == 2, result.output
        assert f"error: {tmp_path / expected}" in result.output.replace("\n", "")


def test_missing_file_is_bad_input(tmp_path):
    result = CliRunner().invoke(
        app, ["eval", str(tmp_path / "nope.txt"), str(FIXTURES / "assignment_example.txt")]
    )
    assert result.exit_code == 2
    assert "nope.txt: file not found; expected a ROADEF 2012 model file" in result.output


def test_instance_arrays_are_checked_for_consistency():
    inst, initial = example()
    with pytest.raises(ValueError, match="capacity has shape"):
        RoadefInstance(**{**vars(inst), "capacity": inst.capacity[:, :1]})
    with pytest.raises(ValueError, match="machine index outside"):
        evaluate(inst, initial, np.array([0, 4, 0]))


# --- the command line -----------------------------------------------------------------------


def test_cli_prints_every_term_and_exits_0_when_feasible():
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(EXAMPLE),
            str(FIXTURES / "assignment_example.txt"),
            str(FIXTURES / "solution_example_move.txt"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:6] == [
        "load cost         = 1500  (resource 0: 2 x 100, resource 1: 130 x 10)",
        "balance cost      = 1700  (balance 0: 170 x 10)",
        "process move cost = 100  (100 x 1)",
        "service move cost = 10  (1 x 10)",
        "machine move cost = 200  (2 x 100)",
        "total cost        = 3510",
    ]
    assert "feasible, 1 of 3 processes moved" in result.output


def test_cli_without_solution_evaluates_the_initial_assignment():
    result = CliRunner().invoke(
        app, ["eval", str(EXAMPLE), str(FIXTURES / "assignment_example.txt")]
    )
    assert result.exit_code == 0, result.output
    assert "total cost        = 4200\n" in result.output
    assert "process move cost = 0  (0 x 1)" in result.output


def test_cli_lists_every_violation_and_exits_5(tmp_path):
    solution = tmp_path / "bad.txt"
    solution.write_text("0 0 0\n")
    result = CliRunner().invoke(
        app, ["eval", str(EXAMPLE), str(FIXTURES / "assignment_example.txt"), str(solution)]
    )
    assert result.exit_code == 5, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {solution}: conflict: service 0: processes 0, 1 run on the same machine 0",
        f"error: {solution}: spread: service 0 runs in 1 distinct location, fewer than its "
        "spreadMin 2 (short by 1)",
    ]
    assert f"{solution}: infeasible: 2 hard-constraint violations" in result.output
    assert "total cost" in result.output


def test_cli_help_lists_eval():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "eval" in result.output


# --- agreement with a literal transcription of the official checker ------------------------


def reference_evaluation(
    inst: RoadefInstance, initial: np.ndarray, new: np.ndarray
) -> tuple[int, bool]:
    """Total cost and feasibility, loop by loop as solution_checker.cc computes them."""
    R, M = inst.num_resources, inst.num_machines
    remaining = [[int(inst.capacity[m, r]) for r in range(R)] for m in range(M)]
    transient = [row[:] for row in remaining]
    for p in range(inst.num_processes):
        for r in range(R):
            need = int(inst.requirement[p, r])
            remaining[initial[p]][r] -= need
            transient[initial[p]][r] -= need
    for p in range(inst.num_processes):
        if initial[p] != new[p]:
            for r in range(R):
                need = int(inst.requirement[p, r])
                remaining[initial[p]][r] += need
                if not inst.transient[r]:
                    transient[initial[p]][r] += need
                remaining[new[p]][r] -= need
                transient[new[p]][r] -= need
    feasible = all(min(row) >= 0 for row in transient if R)
    members = [
        [p for p in range(inst.num_processes) if inst.service[p] == s]
        for s in range(inst.num_services)
    ]
    for procs in members:
        feasible &= len({new[p] for p in procs}) == len(procs)
    for s, procs in enumerate(members):
        feasible &= len({inst.location[new[p]] for p in procs}) >= inst.spread_min[s]
    for s, procs in enumerate(members):
        for d in inst.dependencies_of(s):
            hoods = {inst.neighborhood[new[q]] for q in members[d]}
            feasible &= all(inst.neighborhood[new[p]] in hoods for p in procs)
    load = sum(
        int(inst.load_cost_weight[r])
        * max(0, int(inst.capacity[m, r] - inst.safety_capacity[m, r]) - remaining[m][r])
        for m in range(M)
        for r in range(R)
    )
    balance = sum(
        int(w) * max(0, int(t) * remaining[m][r1] - remaining[m][r2])
        for r1, r2, t, w in zip(
            inst.balance_resource1,
            inst.balance_resource2,
            inst.balance_target,
            inst.balance_weight,
            strict=True,
        )
        for m in range(M)
    )
    moved = [p for p in range(inst.num_processes) if initial[p] != new[p]]
    process = inst.process_move_weight * sum(int(inst.process_move_cost[p]) for p in moved)
    service = inst.service_move_weight * max(
        [sum(1 for p in moved if inst.service[p] == s) for s in range(inst.num_services)] or [0]
    )
    machine = inst.machine_move_weight * sum(
        int(inst.machine_move_cost[initial[p], new[p]]) for p in range(inst.num_processes)
    )
    return load + balance + process + service + machine, bool(feasible)


def random_instance(rng: np.random.Generator) -> tuple[RoadefInstance, np.ndarray, np.ndarray]:
    n_res, n_mach = int(rng.integers(1, 4)), int(rng.integers(1, 7))
    n_serv = int(rng.integers(1, 5))
    n_proc = int(rng.integers(0, 12))
    machines = [
        (
            int(rng.integers(0, n_mach)),
            int(rng.integers(0, n_mach)),
            cap := rng.integers(0, 40, n_res).tolist(),
            [int(rng.integers(0, c + 1)) for c in cap],
            rng.integers(0, 3, n_mach).tolist(),
        )
        for _ in range(n_mach)
    ]
    services = [
        (
            int(rng.integers(0, min(n_mach, 2) + 1)),
            rng.integers(0, n_serv, rng.integers(0, 3)).tolist(),
        )
        for _ in range(n_serv)
    ]
    processes = [
        (int(rng.integers(0, n_serv)), rng.integers(0, 15, n_res).tolist(), int(rng.integers(0, 5)))
        for _ in range(n_proc)
    ]
    balances = [
        (int(rng.integers(0, n_res)), int(rng.integers(0, n_res)), int(rng.integers(0, 4)), 3)
        for _ in range(int(rng.integers(0, 3)))
    ]
    text = model_text(
        [(int(rng.integers(0, 2)), int(rng.integers(0, 20))) for _ in range(n_res)],
        machines,
        services,
        processes,
        balances,
        (int(rng.integers(0, 5)), int(rng.integers(0, 20)), int(rng.integers(0, 200))),
    )
    inst = instance(text)
    initial = rng.integers(0, n_mach, n_proc)
    new = np.where(rng.random(n_proc) < 0.4, rng.integers(0, n_mach, n_proc), initial)
    return inst, initial, new


def test_agrees_with_the_checker_transcription_on_random_instances():
    rng = np.random.default_rng(2012)
    outcomes = set()
    for _ in range(400):
        inst, initial, new = random_instance(rng)
        result = evaluate(inst, initial, new)
        total, feasible = reference_evaluation(inst, initial, new)
        assert (result.total, result.feasible) == (total, feasible)
        outcomes.add(feasible)
        outcomes.update(v.kind for v in result.violations)
    assert outcomes >= {True, False, *KINDS}


# --- size -----------------------------------------------------------------------------------


def synthetic(processes: int = 50_000, machines: int = 5_000, resources: int = 12, seed: int = 0):
    """A B-sized instance built directly as arrays (no file), for timing."""
    rng = np.random.default_rng(seed)
    services = processes // 10
    capacity = rng.integers(10**6, 10**7, (machines, resources))
    start = np.zeros(services + 1, dtype=np.int64)
    start[1:] = np.cumsum(rng.integers(0, 3, services))
    deps = rng.integers(0, services, start[-1])
    inst = RoadefInstance(
        transient=rng.random(resources) < 0.3,
        load_cost_weight=np.full(resources, 10, dtype=np.int64),
        neighborhood=rng.integers(0, 5, machines),
        location=rng.integers(0, 25, machines),
        capacity=capacity,
        safety_capacity=capacity * 8 // 10,
        machine_move_cost=np.zeros((machines, machines), dtype=np.int64),
        spread_min=rng.integers(0, 3, services),
        dependency_start=start,
        dependencies=deps,
        service=rng.integers(0, services, processes),
        requirement=rng.integers(0, 10**4, (processes, resources)),
        process_move_cost=np.ones(processes, dtype=np.int64),
        balance_resource1=np.array([0, 1]),
        balance_resource2=np.array([1, 2]),
        balance_target=np.array([2, 3]),
        balance_weight=np.array([10, 10]),
        process_move_weight=1,
        service_move_weight=10,
        machine_move_weight=100,
    )
    initial = rng.integers(0, machines, processes)
    new = np.where(rng.random(processes) < 0.1, rng.integers(0, machines, processes), initial)
    return inst, initial, new


def test_b_sized_instance_evaluates_well_under_a_second():
    inst, initial, new = synthetic()
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        result = evaluate(inst, initial, new)
        best = min(best, time.perf_counter() - began)
    assert result.moved > 4000
    assert best < 1.0, f"evaluation took {best:.3f} s"


def test_example_files_are_what_the_fixture_note_says():
    note = (FIXTURES / "README.md").read_text()
    for name in ("model_example.txt", "assignment_example.txt", "solution_example_optimal.txt"):
        assert name in note
        assert (FIXTURES / name).exists()
    assert Path(FIXTURES / "assignment_example.txt").read_text().split() == ["0", "3", "0"]
