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
from allocator.output.plan import load_plan, sha256_of
from allocator.output.report import (
    build_report,
    render_markdown,
    render_terminal,
)
from allocator.solve.pipeline import load_domain
from cli.common import err, error, handles_errors, out

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
) -> None:
    """Verify a plan against an inventory; exit 5 and list every violated rule if it fails."""
    domain = load_domain(inventory, current)
    plan_file = load_plan(plan)
    if plan_file.inventory.sha256 and plan_file.inventory.sha256 != sha256_of(inventory):
        err.print(f"note: {plan} was made for a different version of {inventory}", markup=False)
    violations = check_plan(domain, plan_file)
    if violations:
        for violation in violations:
            error(f"{plan}: {violation}")
        raise typer.Exit(int(ExitCode.PLAN_REJECTED))
    out.print(
        f"{plan}: valid plan for {inventory}: {len(plan_file.placements)} replicas placed, "
        f"{len(plan_file.unplaced)} unplaced, ${plan_file.objective.cost_per_hour:,.2f}/h",
        highlight=False,
    )


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
    summary = build_report(
        load_domain(inventory, current),
        load_plan(plan),
        source=str(plan),
    )
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
