"""`allocator roadef`: the ROADEF/EURO 2012 machine reassignment files."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from allocator.interop.roadef import (
    Evaluation,
    RoadefInstance,
    evaluate,
    read_assignment,
    read_model,
    write_solution,
)
from allocator.interop.roadef.convert import to_reassignment
from allocator.io.atomic import writable
from allocator.io.errors import ExitCode, InputError, InputProblem
from allocator.reassign.strategy import solve as reassign
from cli.common import FormatOption, ResultFormat, error, handles_errors, out, print_json
from cli.live import live_progress

app = typer.Typer(
    name="roadef",
    help="Google ROADEF/EURO 2012 machine reassignment: solve, check and cost its files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


ModelFile = Annotated[Path, typer.Argument(help="instance file (model_*.txt)")]
AssignmentFile = Annotated[Path, typer.Argument(help="initial assignment (assignment_*.txt)")]


@app.callback()
def roadef() -> None:
    """Google ROADEF/EURO 2012 machine reassignment: solve, check and cost its files."""


@app.command("eval")
@handles_errors
def eval_(
    model: ModelFile,
    assignment: AssignmentFile,
    solution: Annotated[
        Path | None,
        typer.Argument(help="new assignment to evaluate; omitted: the initial one itself"),
    ] = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Cost of a solution, term by term, as the official checker computes it.

    Exits 0 if feasible, 5 listing every violation if not, 2 on a malformed file.
    """
    instance = read_model(model)
    initial = read_assignment(assignment, instance)
    new = initial if solution is None else read_assignment(solution, instance)
    result = evaluate(instance, initial, new)
    subject = solution if solution is not None else assignment
    if fmt == ResultFormat.json:
        print_json({"solution": str(subject), **evaluation_record(instance, result)})
        if result.violations:
            raise typer.Exit(int(ExitCode.PLAN_REJECTED))
        return
    for line in cost_lines(instance, result):
        out.print(line, markup=False, highlight=False)
    if result.violations:
        for violation in result.violations:
            error(f"{subject}: {violation}")
        count = len(result.violations)
        out.print(
            f"{subject}: infeasible: {count} hard-constraint violation{'s' * (count > 1)}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(int(ExitCode.PLAN_REJECTED))
    out.print(
        f"{subject}: feasible, {result.moved} of {instance.num_processes} processes moved",
        markup=False,
        highlight=False,
    )


FINISH_S = 0.5  # kept back for checking and writing the solution (50 ms at 50,000 processes)


def seconds_before_command() -> float:
    """How long the program ran before this command, so that a time limit is wall clock
    for the whole program as the challenge measured it: the process's age (interpreter
    start and imports) when the process was started for this command (its command line
    says `roadef solve`); 0 when the command runs inside a longer-lived program (a test
    runner, a notebook), whose age is not this command's."""
    words = sys.argv[1:]
    if "roadef" not in words or "solve" not in words:
        return 0.0
    return seconds_since_process_start()


def seconds_since_process_start() -> float:
    """How long this process has run; 0 where /proc cannot tell."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


@app.command("solve")
@handles_errors
def solve_(
    model: ModelFile,
    assignment: AssignmentFile,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the new assignment")
    ],
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            "-t",
            min=1.0,
            help="seconds of wall clock from the program's start, reading, checking and "
            "writing included (the challenge gave 300)",
        ),
    ] = 300.0,
    seed: Annotated[
        int, typer.Option(help="seed of the search's random choices (it stops on the clock)")
    ] = 0,
    solver: Annotated[
        str,
        typer.Option(
            "--solver",
            "-s",
            help="exact backend for instances small enough to solve whole: highs, cbc, cpsat",
        ),
    ] = "highs",
    fmt: FormatOption = ResultFormat.table,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no progress and no summary")
    ] = False,
) -> None:
    """Reassign the processes within the time limit and write the solution file.

    The instance becomes a generic reassignment (allocator.reassign): small ones are
    solved exactly by a MIP backend, larger ones by annealing then descent. The result is
    checked by the challenge evaluator before it is written. Exits 0, or 2 on a
    malformed file or an initial assignment that breaks a hard constraint.
    """
    started = time.perf_counter() - seconds_before_command()
    writable(output)
    instance = read_model(model)
    initial = read_assignment(assignment, instance)
    broken = evaluate(instance, initial).violations
    if broken:
        raise InputError(
            [InputProblem(str(assignment), f"the initial assignment: {v}") for v in broken]
        )
    with live_progress(f"roadef {model.name}", time_limit, enabled=not quiet):
        # counted from the program's start, so converting counts too
        fleet = to_reassignment(instance, initial)
        outcome = reassign(fleet, time_limit - FINISH_S, seed, solver, started=started)
    result = evaluate(instance, initial, outcome.assignment)
    if result.violations:  # the search checks itself; this would be a bug
        raise RuntimeError(f"the solution breaks a hard constraint: {result.violations[0]}")
    write_solution(output, outcome.assignment)
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(output),
                **evaluation_record(instance, result),
                "initial_cost": outcome.start.total,
                "lower_bound": outcome.bound,
                "optimal": outcome.optimal,
                "method": outcome.method,
                "wall_s": time.perf_counter() - started,
            }
        )
        return
    if quiet:
        return
    for line in cost_lines(instance, result):
        out.print(line, markup=False, highlight=False)
    gap = (result.total - outcome.bound) / max(result.total, 1)
    proof = "optimal" if outcome.optimal else f"{gap:.4%} above the lower bound"
    out.print(
        f"{output}: {result.moved} of {instance.num_processes} processes moved; cost "
        f"{result.total} ({outcome.start.total - result.total} less than the initial "
        f"{outcome.start.total}); lower bound {outcome.bound}, {proof}; {outcome.method}, "
        f"{time.perf_counter() - started:.1f} s",
        markup=False,
        highlight=False,
    )


def evaluation_record(instance: RoadefInstance, result: Evaluation) -> dict:
    """The cost terms and the verdict, as `--format json` gives them."""
    return {
        "feasible": not result.violations,
        "violations": [str(v) for v in result.violations],
        "load_cost": result.load_cost,
        "balance_cost": result.balance_cost,
        "process_move_cost": result.process_move_cost,
        "service_move_cost": result.service_move_cost,
        "machine_move_cost": result.machine_move_cost,
        "total_cost": result.total,
        "moved": result.moved,
        "processes": instance.num_processes,
    }


def cost_lines(instance: RoadefInstance, result: Evaluation) -> list[str]:
    """Each weighted term with its unweighted parts, then the total."""

    def parts(terms: tuple[int, ...], weights, label: str) -> str:
        shown = ", ".join(
            f"{label} {k}: {term} x {int(w)}"
            for k, (term, w) in enumerate(zip(terms, weights, strict=True))
        )
        return f"  ({shown})" if shown else ""

    rows = [
        (
            "load cost",
            result.load_cost,
            parts(result.load, instance.load_cost_weight, "resource"),
        ),
        (
            "balance cost",
            result.balance_cost,
            parts(result.balance, instance.balance_weight, "balance"),
        ),
        (
            "process move cost",
            result.process_move_cost,
            f"  ({result.process_moves} x {instance.process_move_weight})",
        ),
        (
            "service move cost",
            result.service_move_cost,
            f"  ({result.service_moves} x {instance.service_move_weight})",
        ),
        (
            "machine move cost",
            result.machine_move_cost,
            f"  ({result.machine_moves} x {instance.machine_move_weight})",
        ),
        ("total cost", result.total, ""),
    ]
    return [f"{name:<17} = {value}{detail}" for name, value, detail in rows]
