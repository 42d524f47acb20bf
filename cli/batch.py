"""`allocator batch` and `allocator sweep`: many instances, unattended."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from allocator.batch.engines import open_engine
from allocator.batch.inputs import Instance, find_instances
from allocator.batch.runner import BatchSettings, Progress, plan_path, read_plan, run_batch
from allocator.batch.summary import BatchSummary, InstanceSummary, render_markdown
from allocator.batch.sweep import (
    Comparison,
    compare,
    parse_growth,
    render_comparison,
    scenarios,
    write_scenarios,
)
from allocator.inventory.load import load_inventory
from allocator.io.atomic import writable, write_json_atomic, write_text_atomic
from allocator.io.errors import InputError
from cli.common import EngineName, Format, err, handles_errors, out, warn
from cli.solve import SOLVER_HELP, solver_name
from solvers.base import SolveOptions

SHOWN_WARNINGS = 50  # on stderr; summary.md and the plans hold all of them


OUT = typer.Option(
    "--output", "-o", help="folder for plans, reports, the event log and the summary"
)
SOLVER = typer.Option("--solver", "-s", callback=solver_name, help=SOLVER_HELP)
TIME_LIMIT = typer.Option("--time-limit", "-t", min=0.01, help="seconds per instance")
BUDGET = typer.Option(
    min=1.0, help="seconds for the whole batch: nothing starts once they are spent"
)
GAP = typer.Option(min=0.0, help="relative optimality gap to stop at")
THREADS = typer.Option(min=1, help="solver threads per instance")
SEED = typer.Option(help="random seed (same input and seed, same plan)")
WORKERS = typer.Option(
    "--workers", "-w", min=1, help="instances at once [default: the machine's cores]"
)
ENGINE = typer.Option(help="local process pool, or Dask distributed (allocator[dask])")
ADDRESS = typer.Option(help="Dask scheduler, e.g. tcp://10.0.0.5:8786 [default: a LocalCluster]")
MEMORY = typer.Option(
    "--worker-memory", min=0.1, help="GiB each worker may use; an instance beyond it fails"
)
FORMAT = typer.Option("--format", "-f", help="summary on stdout")
QUIET = typer.Option("--quiet", "-q", help="no progress and no summary on stdout")


@handles_errors
def batch(
    inputs: Annotated[list[str], typer.Argument(help="inventory files, folders or glob patterns")],
    out_dir: Annotated[Path, OUT],
    previous: Annotated[
        Path | None,
        typer.Option(help="the previous run's --output folder: its plans say what runs now"),
    ] = None,
    solver: Annotated[str, SOLVER] = "auto",
    time_limit: Annotated[float, TIME_LIMIT] = 60.0,
    budget: Annotated[float | None, BUDGET] = None,
    gap: Annotated[float, GAP] = 1e-6,
    threads: Annotated[int, THREADS] = 1,
    seed: Annotated[int, SEED] = 0,
    workers: Annotated[int | None, WORKERS] = None,
    engine: Annotated[EngineName, ENGINE] = EngineName.local,
    address: Annotated[str | None, ADDRESS] = None,
    worker_memory: Annotated[float | None, MEMORY] = None,
    fmt: Annotated[Format, FORMAT] = Format.table,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Plan many inventories unattended; rerun to finish what is left. Exit 0 when every
    instance has a verified plan placing its required replicas, 6 when some has none."""
    instances = find_instances(inputs, skip=out_dir)
    if previous is not None:
        _check_previous(previous, out_dir)
    _prepare_out(out_dir, engine, address)
    settings = BatchSettings(
        solver=solver,
        options=SolveOptions(time_limit=time_limit, rel_gap=gap, threads=threads, seed=seed),
        budget=budget,
        previous=previous,
    )
    summary = _run(instances, out_dir, settings, engine, workers, address, worker_memory, quiet)
    _show(summary, out_dir, fmt, quiet)
    raise typer.Exit(int(summary.exit_code))


def _prepare_out(out_dir: Path, engine: EngineName, address: str | None) -> None:
    """The output folder: created if its parent exists (and the command is otherwise
    sound); its fixed outputs writable."""
    if address is not None and engine != EngineName.dask:
        raise InputError.single("--address", "only the dask engine connects to an address")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError.single(str(out_dir), "is not a folder; --output names a folder")
    if not out_dir.exists():
        if not out_dir.parent.is_dir():
            raise InputError.single(
                str(out_dir), f"folder {out_dir.parent} does not exist; create it first"
            )
        out_dir.mkdir()
    writable(out_dir / "summary.json", out_dir / "summary.md", out_dir / "events.jsonl")


def _check_previous(previous: Path, out_dir: Path) -> None:
    if not previous.is_dir():
        raise InputError.single(str(previous), "not a folder; --previous names a batch's --output")
    if previous.resolve() == out_dir.resolve():
        raise InputError.single(
            str(previous),
            "is also the --output folder: tonight's plans would replace the ones they start from",
        )


def _run(
    instances: list[Instance],
    out_dir: Path,
    settings: BatchSettings,
    engine_name: EngineName,
    workers: int | None,
    address: str | None,
    memory: float | None,
    quiet: bool,
) -> BatchSummary:
    count = workers or min(os.cpu_count() or 1, len(instances))
    engine = open_engine(str(engine_name), count, address, memory)
    try:
        if quiet:
            return run_batch(instances, out_dir, settings, engine)
        if err.is_terminal:
            with Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
            ) as bar:
                return run_batch(instances, out_dir, settings, engine, _BarProgress(bar))
        return run_batch(instances, out_dir, settings, engine, _LineProgress())
    finally:
        engine.close()


class _BarProgress(Progress):
    def __init__(self, bar: Bar):
        self.bar = bar
        self.task = bar.add_task("planning", total=None)

    def started(self, total: int, to_run: int) -> None:
        self.bar.update(self.task, total=total)

    def finished(self, instance: InstanceSummary, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, description=_line(instance))


class _LineProgress(Progress):
    """One plain line per instance, for logs (no terminal)."""

    def started(self, total: int, to_run: int) -> None:
        err.print(f"{total} instances, {total - to_run} already planned", highlight=False)

    def finished(self, instance: InstanceSummary, done: int, total: int) -> None:
        err.print(f"[{done}/{total}] {_line(instance)}", highlight=False, markup=False)


def _line(i: InstanceSummary) -> str:
    parts = [f"{i.name}: {i.status}" + (" (already planned)" if i.resumed else "")]
    if i.cost_per_hour is not None:
        parts.append(f"${i.cost_per_hour:,.2f}/h")
    if i.seconds is not None and not i.resumed:
        parts.append(f"{i.seconds:.1f} s")
    if i.reason and not i.has_plan:
        parts.append(i.reason.splitlines()[0])
    return ", ".join(parts)


def _show(summary: BatchSummary, out_dir: Path, fmt: Format, quiet: bool) -> None:
    warnings = [f"{i.name}: {w}" for i in summary.instances for w in i.warnings]
    for warning in warnings[:SHOWN_WARNINGS]:
        warn(warning)
    if len(warnings) > SHOWN_WARNINGS:
        warn(f"{len(warnings) - SHOWN_WARNINGS:,} more in {out_dir / 'summary.md'}")
    if quiet:
        return
    if fmt == Format.json:
        out.print_json(json.dumps(summary.to_dict()))
    elif fmt == Format.markdown:
        out.print(render_markdown(summary), markup=False, highlight=False)
    else:
        table = Table(title=f"Batch: {len(summary.instances)} instances", title_justify="left")
        for column in ("status", "instances"):
            table.add_column(column)
        for status, n in summary.counts.items():
            table.add_row(status, str(n))
        out.print(table)
        out.print(
            f"total ${summary.total_cost_per_hour:,.2f}/h, {summary.wall_s:,.1f} s on "
            f"{summary.engine}; summary in {out_dir / 'summary.md'}",
            highlight=False,
        )


@handles_errors
def sweep(
    inventory: Annotated[Path, typer.Argument(help="inventory file (YAML or JSON)")],
    out_dir: Annotated[Path, OUT],
    fail: Annotated[
        list[str] | None,
        typer.Option(
            help="SCOPE:NAME or SCOPE:* (each place of the scope): a scenario with it down"
        ),
    ] = None,
    grow: Annotated[
        list[str] | None, typer.Option(help="demand growth, e.g. 10% or 10%,25%: a scenario each")
    ] = None,
    solver: Annotated[str, SOLVER] = "auto",
    time_limit: Annotated[float, TIME_LIMIT] = 60.0,
    budget: Annotated[float | None, BUDGET] = None,
    gap: Annotated[float, GAP] = 1e-6,
    threads: Annotated[int, THREADS] = 1,
    seed: Annotated[int, SEED] = 0,
    workers: Annotated[int | None, WORKERS] = None,
    engine: Annotated[EngineName, ENGINE] = EngineName.local,
    address: Annotated[str | None, ADDRESS] = None,
    worker_memory: Annotated[float | None, MEMORY] = None,
    fmt: Annotated[Format, FORMAT] = Format.table,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Plan what-if scenarios of one inventory (failure domains lost, demand grown) as a
    batch, and compare them with the base: cost, unplaced demand, survive promises kept."""
    base = load_inventory(inventory)
    items = scenarios(inventory, base, fail or [], parse_growth(grow or []))
    _prepare_out(out_dir, engine, address)
    writable(out_dir / "sweep.md", out_dir / "sweep.json")
    paths = write_scenarios(out_dir / "scenarios", items)
    instances = [Instance(item.name, path) for item, path in zip(items, paths, strict=True)]
    settings = BatchSettings(
        solver=solver,
        options=SolveOptions(time_limit=time_limit, rel_gap=gap, threads=threads, seed=seed),
        budget=budget,
    )
    summary = _run(instances, out_dir, settings, engine, workers, address, worker_memory, quiet)
    plans = {i.name: p for i in instances if (p := read_plan(plan_path(out_dir, i.name)))}
    rows = compare(items, base, summary, plans)
    markdown = render_comparison(rows)
    write_text_atomic(out_dir / "sweep.md", markdown)
    write_json_atomic(out_dir / "sweep.json", [asdict(r) for r in rows])
    if not quiet:
        if fmt == Format.json:
            out.print_json(json.dumps([asdict(r) for r in rows]))
        elif fmt == Format.markdown:
            out.print(markdown, markup=False, highlight=False)
        else:
            _comparison_table(rows)
    raise typer.Exit(int(summary.exit_code))


def _comparison_table(rows: list[Comparison]) -> None:
    table = Table(title="What-if sweep", title_justify="left")
    for column in (
        "scenario",
        "status",
        "$/h",
        "vs base",
        "unplaced req.",
        "unplaced opt.",
        "survive kept",
    ):
        left = column in ("scenario", "status")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            r.what,
            r.status,
            "-" if r.cost_per_hour is None else f"{r.cost_per_hour:,.2f}",
            "-" if r.change is None else f"{r.change:+,.2f}",
            "-" if r.unplaced_required is None else str(r.unplaced_required),
            "-" if r.unplaced_optional is None else str(r.unplaced_optional),
            "-" if r.promises_kept is None else f"{r.promises_kept} / {r.promises}",
        )
    out.print(table)
