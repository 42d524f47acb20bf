"""Commands that look at files without planning: validate, check, report, schema, solvers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from allocator.build.reduce import reduce
from allocator.check import check_plan
from allocator.errors import ExitCode
from allocator.inventory.schema import Inventory
from allocator.pipeline import load_domain
from allocator.plan import load_plan, sha256_of, write_text_atomic
from allocator.report import build_report, render_markdown, render_terminal
from cli.common import Format, err, error, handles_errors, out
from solvers import registry


@handles_errors
def validate(
    inventory: Annotated[Path, typer.Argument(help="inventory file (YAML or JSON)")],
) -> None:
    """Check an inventory file and summarize it; exit 2 with located messages if it is bad."""
    domain = load_domain(inventory)
    inst = reduce(domain)
    fleet, demand = domain.fleet, domain.demand
    out.print(
        f"{inventory}: valid inventory '{domain.name}': {len(fleet)} nodes in "
        f"{len(inst.groups)} distinct shapes, {int(fleet.gpus.sum())} GPUs of "
        f"{len(fleet.gpu_types)} types; {len(demand)} workloads in {len(inst.shapes)} replica "
        f"shapes wanting {int(demand.gpus @ demand.min)}-{int(demand.gpus @ demand.max)} GPUs",
        highlight=False,
    )
    homeless = np.flatnonzero(~inst.compat.any(axis=1))
    for w in homeless:
        err.print(
            f"warning: workload {demand.ids[w]!r} fits on no node of this fleet", markup=False
        )


@handles_errors
def check(
    inventory: Annotated[Path, typer.Argument(help="inventory file the plan was made for")],
    plan: Annotated[Path, typer.Argument(help="plan file to verify")],
) -> None:
    """Verify a plan against an inventory; exit 5 and list every violated rule if it fails."""
    domain = load_domain(inventory)
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
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Cost and utilization report of a plan: terminal table, JSON or Markdown."""
    summary = build_report(load_domain(inventory), load_plan(plan))
    if fmt == Format.table and output is None:
        render_terminal(summary, out)
        return
    text = (
        json.dumps(summary.to_dict(), indent=2) if fmt == Format.json else render_markdown(summary)
    )
    if output is None:
        out.print(text, markup=False, highlight=False)
    else:
        write_text_atomic(output, text + "\n")


@handles_errors
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Print the JSON Schema of the inventory format."""
    text = json.dumps(Inventory.model_json_schema(), indent=2)
    if output is None:
        out.print(text, markup=False, highlight=False)
    else:
        write_text_atomic(output, text + "\n")


@handles_errors
def solvers() -> None:
    """Which solver backends are installed and working."""
    table = Table(title="Solver backends", title_justify="left")
    for column in ("name", "available", "capabilities", "version"):
        table.add_column(column)
    for name, cls in registry.BACKENDS.items():
        backend = cls()
        ok = backend.available()
        table.add_row(
            name,
            "yes" if ok else f"no ({registry.INSTALL_HINT.get(name, '')})",
            ", ".join(sorted(cls.capabilities)),
            _version(name) if ok else "-",
        )
    table.add_row(
        "auto",
        "yes" if registry.AutoSolver().available() else "no",
        "first of: " + ", ".join(registry.EXACT),
        "-",
    )
    out.print(table)


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    package = {"highs": "highspy", "cbc": "pulp", "cpsat": "ortools"}.get(name)
    if package is None:
        return "built in"
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return "?"
