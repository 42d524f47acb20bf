"""Commands about a plan file: verify it against its inventory, report what it costs."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from allocator.evaluate.check import check_plan
from allocator.io.atomic import writable, write_text_atomic
from allocator.io.errors import ExitCode
from allocator.output.html import render_html
from allocator.output.report import (
    build_report,
    render_markdown,
    render_terminal,
)
from cli.common import FormatOption, ResultFormat, error, handles_errors, out, print_json
from cli.planfiles import plan_for

CURRENT = typer.Option(
    "--current", help="the previous plan the plan was made from (`solve --current`)"
)


class ReportFormat(StrEnum):
    """What `report` writes; html is a page of its own, so only this command offers it."""

    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


@handles_errors
def check(
    inventory: Annotated[Path, typer.Argument(help="inventory file the plan was made for")],
    plan: Annotated[Path, typer.Argument(help="plan file to verify")],
    current: Annotated[Path | None, CURRENT] = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Verify a plan against an inventory; exit 5 and list every violated rule if it fails."""
    domain, plan_file = plan_for(inventory, plan, current)
    violations = check_plan(domain, plan_file)
    if fmt == ResultFormat.json:
        print_json(
            {
                "plan": str(plan),
                "inventory": str(inventory),
                "valid": not violations,
                "violations": violations,
                "placed": len(plan_file.placements),
                "unplaced": len(plan_file.unplaced),
                "cost_per_hour": plan_file.objective.cost_per_hour,
            }
        )
    elif not violations:
        out.print(
            f"{plan}: valid plan for {inventory}: {len(plan_file.placements)} replicas placed, "
            f"{len(plan_file.unplaced)} unplaced, ${plan_file.objective.cost_per_hour:,.2f}/h",
            highlight=False,
        )
    for violation in violations:
        error(f"{plan}: {violation}")
    if violations:
        raise typer.Exit(int(ExitCode.PLAN_REJECTED))


@handles_errors
def report(
    inventory: Annotated[Path, typer.Argument(help="inventory file the plan was made for")],
    plan: Annotated[Path, typer.Argument(help="plan file")],
    current: Annotated[Path | None, CURRENT] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Cost and utilization report of a plan: terminal table, JSON, Markdown, or a
    self-contained HTML page with plots (to stdout without -o)."""
    writable(output)
    domain, plan_file = plan_for(inventory, plan, current)
    summary = build_report(domain, plan_file, source=str(plan))
    if fmt == ReportFormat.table and output is None:
        render_terminal(summary, out)
        return
    if fmt == ReportFormat.html:
        text = render_html(summary)
    elif fmt == ReportFormat.json:
        text = json.dumps(summary.to_dict(), indent=2) + "\n"
    else:
        text = render_markdown(summary) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(output, text)
