"""`allocator reassign`: rebalance a running fleet described by a reassignment file;
`allocator import roadef` writes one from the ROADEF/EURO 2012 files and `allocator
export roadef` turns its plan into the challenge's solution file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from allocator.interop.roadef import read_assignment, read_model, write_solution
from allocator.interop.roadef.convert import solution_from_plan, to_reassignment
from allocator.io.atomic import writable, write_json_atomic
from allocator.io.errors import InputError, InputProblem
from allocator.io.source import read_document
from allocator.reassign.document import plan_document, to_document, write_document
from allocator.reassign.load import load_reassignment
from allocator.reassign.strategy import InfeasibleStart, solve
from cli.common import FormatOption, ResultFormat, err, handles_errors, out, print_json
from cli.live import live_progress
from cli.roadef import AssignmentFile, ModelFile

TimeLimit = Annotated[
    float, typer.Option("--time-limit", "-t", min=0.1, help="seconds for the search")
]
Seed = Annotated[
    int, typer.Option(help="seed of the search's random choices (it stops on the clock)")
]
Solver = Annotated[
    str,
    typer.Option(
        "--solver", "-s", help="MIP backend for exact solves and neighbourhoods: highs, cbc, cpsat"
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress and no summary")]


@handles_errors
def reassign_command(
    file: Annotated[Path, typer.Argument(help="reassignment file (YAML or JSON)")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="plan to write (JSON; default <name>.plan.json)"),
    ] = None,
    time_limit: TimeLimit = 60.0,
    seed: Seed = 0,
    solver: Solver = "highs",
    fmt: FormatOption = ResultFormat.table,
    quiet: Quiet = False,
) -> None:
    """Move replicas so that the fleet costs least: load above soft capacities, balance,
    and the cost of the moves themselves (docs/reassignment.md).

    Exits 0 with a plan that keeps every hard rule, 2 on a malformed file or a current
    placement that already breaks a hard rule.
    """
    target = output or file.with_name(f"{file.stem}.plan.json")
    writable(target)
    model = load_reassignment(file)
    try:
        with live_progress(f"reassign {file.name}", time_limit, enabled=not quiet):
            outcome = solve(model, time_limit, seed, solver)
    except InfeasibleStart as exc:
        raise InputError(
            [InputProblem(str(file), f"the current placement: {p}") for p in exc.problems]
        ) from None
    write_json_atomic(target, plan_document(model, outcome))
    c, start = outcome.costs, outcome.start
    rows = [
        ("load above soft capacity", start.load, c.load),
        ("balance", start.balance, c.balance),
        ("replica moves", start.replica_moves, c.replica_moves),
        ("most-moved workload", start.workload_moves, c.workload_moves),
        ("node-pair moves", start.node_moves, c.node_moves),
        ("total", start.total, c.total),
    ]
    moved = int((outcome.assignment != model.current).sum())
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(target),
                "costs": {name: {"now": now, "planned": planned} for name, now, planned in rows},
                "moved": moved,
                "replicas": model.num_replicas,
                "optimal": outcome.optimal,
                "bound": outcome.bound,
                "method": outcome.method,
                "wall_s": outcome.wall_s,
            }
        )
        return
    if quiet:
        return
    out.print(f"{'cost':<25} {'now':>15} {'planned':>15}", markup=False, highlight=False)
    for name, before, after in rows:
        out.print(f"{name:<25} {before:>15} {after:>15}", markup=False, highlight=False)
    proof = "optimal" if outcome.optimal else f"lower bound {outcome.bound}"
    out.print(
        f"{target}: {moved} of {model.num_replicas} replicas moved; {proof}; "
        f"{outcome.method}, {outcome.wall_s:.1f} s",
        markup=False,
        highlight=False,
    )


@handles_errors
def import_roadef_command(
    model: ModelFile,
    assignment: AssignmentFile,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="reassignment file to write (YAML or .json)")
    ],
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """A ROADEF/EURO 2012 instance and its initial assignment as a reassignment file."""
    instance = read_model(model)
    initial = read_assignment(assignment, instance)
    reassignment = to_reassignment(instance, initial)
    header = (
        f"Written by: allocator import roadef {model} {assignment}\n"
        "Names are the challenge's indices: dimension r<k>, node m<k>, workload (service) "
        "s<k>, replica (process) p<k>."
    )
    write_document(output, to_document(reassignment), header)
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(output),
                "nodes": instance.num_machines,
                "workloads": instance.num_services,
                "replicas": instance.num_processes,
                "dimensions": instance.num_resources,
            }
        )
        return
    err.print(
        f"reassignment written to {output}: {instance.num_machines} nodes, "
        f"{instance.num_services} workloads, {instance.num_processes} replicas, "
        f"{instance.num_resources} dimensions",
        markup=False,
        highlight=False,
    )


@handles_errors
def export_roadef_command(
    model: Annotated[
        Path, typer.Argument(help="the instance file (model_*.txt) the plan was made for")
    ],
    plan: Annotated[
        Path, typer.Argument(help="plan of `allocator reassign` on the imported instance")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="solution file to write")],
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """A reassignment plan as a solution file in the challenge's format."""
    instance = read_model(model)
    doc = read_document(plan)
    data = doc.data if isinstance(doc.data, dict) else {}
    if data.get("kind") != "reassignment-plan" or not isinstance(data.get("assignment"), dict):
        raise InputError.single(
            str(plan), "not a reassignment plan: expected 'kind: reassignment-plan'", line=1
        )
    try:
        solution = solution_from_plan(data["assignment"], instance.num_processes)
    except ValueError as exc:
        raise InputError.single(str(plan), f"assignment: {exc}") from None
    if solution.size and solution.max() >= instance.num_machines:
        raise InputError.single(
            str(plan), f"assignment: machine m{solution.max()} is not in {model}"
        )
    write_solution(output, solution)
    if fmt == ResultFormat.json:
        print_json({"output": str(output), "processes": int(solution.size)})
        return
    err.print(f"solution written to {output}", markup=False, highlight=False)
