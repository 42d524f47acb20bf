"""`allocator explain`: why workloads are not placed, found by lifting one constraint
family at a time and solving again, and the cheapest change that would place them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

import allocator.explain as analysis
from allocator.inventory.load import validate_document
from allocator.io.source import read_document
from allocator.output.plan import load_plan, sha256_of
from cli.common import Format, err, handles_errors, out

HEADER = ("constraint", "why it blocks", "change", "placed after", "plan $/h")


@handles_errors
def explain(
    inventory: Annotated[Path, typer.Argument(help="inventory file (YAML or JSON)")],
    workload: Annotated[
        str | None, typer.Option("--workload", "-w", help="explain only this workload")
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", "-p", help="the plan to explain [default: the plan solved here first]"
        ),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            "-t",
            min=0.01,
            help="seconds for the plan's solve (without --plan), and as many for the analysis",
        ),
    ] = 60.0,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Why workloads are unplaced or short, and the cheapest change that places them."""
    document = read_document(inventory)
    spec = validate_document(document)
    if workload is not None:
        analysis.require_workload(spec, workload, document)
    plan_file = None
    if plan is not None:
        plan_file = load_plan(plan)
        if plan_file.inventory.sha256 and plan_file.inventory.sha256 != sha256_of(inventory):
            err.print(f"note: {plan} was made for a different version of {inventory}", markup=False)
    report = analysis.explain(
        spec,
        inventory.stem,
        plan_file,
        workload,
        time_limit,
        plan_source=None if plan is None else str(plan),
    )
    if fmt == Format.json:
        out.print_json(json.dumps(report.to_dict()))
    elif fmt == Format.markdown:
        out.print(render_markdown(report), markup=False, highlight=False)
    else:
        render_terminal(report, out)


def _rows(item: analysis.Explanation) -> list[tuple[str, ...]]:
    unit = "" if item.unit == "replicas" else f" {item.unit}"
    return [
        (
            f.constraint,
            f.why,
            f.change + (f"; other workloads lose: {f.side_effects}" if f.displaced else ""),
            f"{f.reached:g}{unit} of {item.wanted:g}",
            analysis.per_hour(f.cost_delta_per_hour),
        )
        for f in item.findings
    ]


def _lines(item: analysis.Explanation) -> list[str]:
    """What goes with a workload's table: its summary, the plan's reason and the scope of
    the analysis."""
    lines = [item.summary, f"the plan says: {item.plan_reason or '-'}"]
    if not item.findings:
        lines.append(f"tried: {', '.join(item.tried) or 'nothing'}")
    if item.not_tried:
        lines.append(f"not tried (time limit reached): {', '.join(item.not_tried)}")
    return lines


def _footer(report: analysis.ExplainReport) -> str:
    return (
        f"{len(report.explanations)} workload(s) explained with {report.solves} solve(s) "
        f"in {report.elapsed_s:.2f} s"
    )


def render_terminal(report: analysis.ExplainReport, console: Any) -> None:
    from rich.table import Table

    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if not report.explanations and not report.notes:
        console.print("every workload is placed in full: nothing to explain", highlight=False)
    for item in report.explanations:
        title = f"{item.workload}: {item.reached:g} of {item.wanted:g} {item.unit} placed"
        table = Table(title=title, title_justify="left")
        for k, column in enumerate(HEADER):
            table.add_column(column, justify="right" if k >= 3 else "left", overflow="fold")
        for row in _rows(item):
            table.add_row(*row)
        if item.findings:
            console.print(table)
        else:
            console.print(title, markup=False, highlight=False)
        for line in _lines(item):
            console.print(line, markup=False, highlight=False)
        console.print()
    console.print(_footer(report), markup=False, highlight=False)


def render_markdown(report: analysis.ExplainReport) -> str:
    lines = [f"# Why workloads are not placed: {report.inventory}", ""]
    lines += [f"- note: {note}" for note in report.notes]
    if not report.explanations and not report.notes:
        lines.append("Every workload is placed in full: nothing to explain.")
    for item in report.explanations:
        lines += [f"## {item.workload}: {item.reached:g} of {item.wanted:g} {item.unit}", ""]
        lines += [f"- {line}" for line in _lines(item)]
        if item.findings:
            lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
            lines += [
                "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in _rows(item)
            ]
        lines.append("")
    lines.append(_footer(report))
    return "\n".join(lines)
