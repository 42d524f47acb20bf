"""`allocator diff`: what changes between two plans, for review before one replaces the other."""

from __future__ import annotations

import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from allocator.io.atomic import writable, write_text_atomic
from allocator.output.diff import PlanDiff, compare_plans, render_html, render_markdown
from allocator.output.diff import render_terminal as render_diff_terminal
from allocator.output.plan import load_plan, sha256_of
from allocator.solve.pipeline import load_domain
from cli.common import err, handles_errors, out

TEXT_WIDTH = 120  # columns of the terminal tables when they are written to a file


class DiffFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


@handles_errors
def diff(
    plan_a: Annotated[Path, typer.Argument(help="the plan that runs now (or the older one)")],
    plan_b: Annotated[Path, typer.Argument(help="the plan to compare with it")],
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory", "-i", help="inventory of the plans: cost and GPU use per zone and rack"
        ),
    ] = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f")] = DiffFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Compare two plans: moves, workloads placed or dropped, cost; per zone with --inventory."""
    writable(output)
    domain = load_domain(inventory) if inventory is not None else None
    comparison = compare_plans(
        load_plan(plan_a),
        load_plan(plan_b),
        str(plan_a),
        str(plan_b),
        domain,
        None if inventory is None else str(inventory),
        None if inventory is None else sha256_of(inventory),
    )
    if fmt == DiffFormat.table and output is None:
        render_diff_terminal(comparison, out)
        return
    text = _text(comparison, fmt)
    if output is None:
        out.print(text, markup=False, highlight=False)
    else:
        write_text_atomic(output, text + "\n")
        err.print(f"diff written to {output}", markup=False, highlight=False)


def _text(comparison: PlanDiff, fmt: DiffFormat) -> str:
    if fmt == DiffFormat.json:
        return json.dumps(comparison.to_dict(), indent=2)
    if fmt == DiffFormat.markdown:
        return render_markdown(comparison)
    if fmt == DiffFormat.html:
        return render_html(comparison)
    buffer = io.StringIO()
    render_diff_terminal(comparison, Console(file=buffer, width=TEXT_WIDTH, color_system=None))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
