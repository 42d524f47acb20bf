"""`allocator solve`: plan an inventory, verify the plan, write it and report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from allocator.io.atomic import writable, write_json_atomic, write_text_atomic
from allocator.io.errors import ExitCode, InputError
from allocator.output.html import render_html
from allocator.output.report import (
    Report,
    build_report,
    render_markdown,
    render_terminal,
)
from allocator.solve.pipeline import SolveOutcome, solve_file
from allocator.solve.strategy import method_names
from cli.common import Format, err, error, handles_errors, out, warn
from cli.live import live_progress
from solvers.base import SolveOptions
from solvers.registry import names as exact_solver_names

if TYPE_CHECKING:
    from allocator.solve.partition import PartitionedOutcome

# The backends that search and prove; the placers place once.
EXACT = frozenset(exact_solver_names())


SOLVER_HELP = f"one of: {', '.join(method_names())} (`allocator solvers` says which work)"


def solver_name(value: str) -> str:
    if value not in method_names():
        raise typer.BadParameter(
            f"unknown solver {value!r}; expected one of: {', '.join(method_names())}"
        )
    return value


def report_text(path: Path, summary: Report, markdown: str) -> str:
    """The --report file's text: HTML for a .html or .htm name, Markdown otherwise."""
    if path.suffix.lower() in (".html", ".htm"):
        return render_html(summary)
    return markdown


def partition_options(by: str, engine: str, current: Path | None, shares: Path | None) -> None:
    """What planning in parts cannot be asked, refused before anything runs."""
    if by not in ("zone", "random"):
        raise InputError.single("--partition-by", f"unknown way {by!r}; expected zone or random")
    if engine not in ("local", "dask"):
        raise InputError.single("--engine", f"unknown engine {engine!r}; expected local or dask")
    for name, value in (("--current", current), ("--shares", shares)):
        if value is not None:
            raise InputError.single(
                name, "not with --partitions: the parts are planned from the inventory alone"
            )


@handles_errors
def solve(
    inventory: Annotated[Path, typer.Argument(help="inventory file (YAML or JSON)")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="plan file to write [default: <inventory name>.plan.json]"
        ),
    ] = None,
    solver: Annotated[
        str,
        typer.Option(
            "--solver",
            "-s",
            callback=solver_name,
            help=SOLVER_HELP,
        ),
    ] = "auto",
    time_limit: Annotated[
        float, typer.Option("--time-limit", "-t", min=0.01, help="seconds for the whole solve")
    ] = 60.0,
    gap: Annotated[float, typer.Option(min=0.0, help="relative optimality gap to stop at")] = 1e-6,
    threads: Annotated[int | None, typer.Option(min=1, help="solver threads")] = None,
    seed: Annotated[int, typer.Option(help="random seed (same input and seed, same plan)")] = 0,
    report: Annotated[
        Path | None,
        typer.Option(
            help="also write a report here: an HTML page with plots when the name ends in "
            ".html or .htm, Markdown otherwise"
        ),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option(
            help="a previous plan: what runs now (instead of the inventory's current_placement); "
            "nodes and workloads it names that are gone are reconciled with a warning"
        ),
    ] = None,
    shares: Annotated[
        Path | None,
        typer.Option(
            help="GPU shares to place within: the JSON `allocator share -o` writes (replaces "
            "the inventory's `shares` section)"
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="summary on stdout")] = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary on stdout")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="solver log on stderr")] = False,
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            "-k",
            min=1,
            help="plan the fleet in this many parts at once and merge them (docs/partition.md)",
        ),
    ] = 1,
    partition_by: Annotated[
        str, typer.Option(help="zone or random: how the fleet is split into parts")
    ] = "zone",
    engine: Annotated[
        str, typer.Option(help="local or dask: where the parts are planned")
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, help="parts planned at once [default: parts, up to cores]"
        ),
    ] = None,
) -> None:
    """Plan where every workload runs; write a verified plan and show its cost."""
    plan_path = output or Path(f"{inventory.stem}.plan.json")
    writable(plan_path, report)
    if partitions > 1:
        partition_options(partition_by, engine, current, shares)
    options = SolveOptions(
        time_limit=time_limit,
        rel_gap=gap,
        threads=threads,
        seed=seed,
        log=(lambda line: err.print(line, markup=False, highlight=False)) if verbose else None,
    )
    with live_progress(f"solve {inventory.name}", time_limit, enabled=not (quiet or verbose)):
        if partitions > 1:
            from allocator.solve.partition import solve_partitioned

            outcome: SolveOutcome | PartitionedOutcome = solve_partitioned(
                inventory, partitions, partition_by, solver, options, engine, workers
            )
        else:
            outcome = solve_file(inventory, solver, options, current_plan=current, shares=shares)
    for warning in outcome.plan.warnings:
        warn(warning)
    if outcome.violations:
        for violation in outcome.violations:
            error(f"plan rejected by the checker: {violation}")
        raise typer.Exit(int(ExitCode.INTERNAL))

    summary = build_report(outcome.domain, outcome.plan)
    markdown = render_markdown(summary)
    write_json_atomic(plan_path, outcome.plan.model_dump(mode="json"))
    if report is not None:
        write_text_atomic(report, report_text(report, summary, markdown))

    if not quiet:
        if fmt == Format.json:
            out.print_json(json.dumps(summary.to_dict()))
        elif fmt == Format.markdown:
            out.print(markdown, markup=False, highlight=False)
        else:
            render_terminal(summary, out)
    code = outcome.exit_code
    err.print(
        f"plan written to {plan_path}" + (f", report to {report}" if report else ""),
        highlight=False,
    )
    if code == ExitCode.UNPLACED:
        error(
            f"required replicas cannot all be placed (proven); priority-weighted shortfall "
            f"{outcome.hard_shortfall:g}; see 'unplaced' in the plan for reasons"
        )
    elif code == ExitCode.NO_PLAN and solver not in EXACT:
        error(
            f"the {solver} placer left required replicas unplaced (shortfall "
            f"{outcome.hard_shortfall:g}); it places once and does not search, so an exact "
            "solver (-s auto) may find a plan that places them"
        )
    elif code == ExitCode.NO_PLAN:
        error(
            f"no plan placing every required replica was found within {time_limit:g} s; "
            f"the best partial plan is written (shortfall {outcome.hard_shortfall:g})"
        )
    raise typer.Exit(int(code))
