"""`allocator bench`: the benchmarks anyone can rerun, printed as tables and optionally
written as JSON.

List options take several values after one flag (`--nodes 100 1000 10000`) as well as
the flag repeated (`--nodes 100 --nodes 1000`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from allocator.bench.batch import SIZES as BATCH_SIZES
from allocator.bench.batch import BatchRun, run_batch_bench
from allocator.bench.build import BuildComparison, run_build
from allocator.bench.datasets import find_dataset, not_found
from allocator.bench.ladder import SIZES, SOLVERS, LadderRun, run_ladder
from allocator.bench.openb import BOUND_RULE, OpenbSeedRun, run_openb
from allocator.bench.published import DEFAULT_POLICIES, LABELS, TRACES
from allocator.bench.results import results_document
from allocator.bench.share import policy_table, run_policies, run_scale, scale_table
from allocator.bench.tables import (
    batch_table,
    build_table,
    ladder_notes,
    ladder_table,
    openb_tables,
)
from allocator.interop.openb import NODE_FILE, pod_file
from allocator.io.atomic import writable, write_text_atomic
from allocator.io.errors import ExitCode
from cli.common import (
    FormatOption,
    ResultFormat,
    err,
    fail,
    handles_errors,
    out,
    print_json,
)
from cli.live import live_progress


class ListOptionsCommand(TyperCommand):
    """Lets a list option take every value up to the next flag: `--traces a b` is read as
    `--traces a --traces b`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        multiple = {
            name
            for param in self.params
            if getattr(param, "multiple", False)
            for name in getattr(param, "opts", ())
        }
        spread: list[str] = []
        current: str | None = None
        taken = 0
        for position, arg in enumerate(args):
            if arg == "--":
                spread.extend(args[position:])
                break
            if arg.startswith("-") and not _is_number(arg):
                name, has_value, _ = arg.partition("=")
                current, taken = (name if name in multiple else None), int(bool(has_value))
            elif current is not None:
                if taken:
                    spread.append(current)
                taken += 1
            spread.append(arg)
        return super().parse_args(ctx, spread)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Mix(StrEnum):
    """Generated fleets: plain, or with the rules of `inventory.generate.harden`."""

    plain = "plain"
    hard = "hard"


app = typer.Typer(
    name="bench",
    help="Benchmarks anyone can rerun: openb against the published schedulers, a ladder of "
    "fleet sizes over every backend, model build cost against plain PuLP, and a batch on "
    "each engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="also write the results as JSON here")
]
SIZES_HELP = f"fleet sizes in nodes [default: {' '.join(map(str, SIZES))}]"
TimeLimit = Annotated[
    float,
    typer.Option("--time-limit", "-t", min=0.1, help="planner time limit per run, in seconds"),
]


def _console() -> Console:
    """The output console; tables keep their columns when written to a file or a pipe."""
    return out if out.is_terminal else Console(width=200, soft_wrap=True)


def parse_seeds(values: list[str]) -> list[int]:
    """'42-51', '42,44,46-48' or several such values."""
    seeds: list[int] = []
    for value in values:
        for part in value.split(","):
            first, _, last = part.strip().partition("-")
            try:
                seeds.extend(range(int(first), int(last or first) + 1))
            except ValueError:
                raise typer.BadParameter(
                    f"bad seed list {value!r}; e.g. 42-51 or 42,44", param_hint="--seeds"
                ) from None
    return seeds


@app.command("openb", cls=ListOptionsCommand)
@handles_errors
def openb(
    data: Annotated[
        Path | None,
        typer.Option(
            help="folder of the openb CSVs (node list and pod lists) [default: the first of "
            "$ALLOCATOR_OPENB_DATA, ./data/openb, ../shared/data/openb]"
        ),
    ] = None,
    traces: Annotated[
        list[str] | None,
        typer.Option(help=f"task lists openb_pod_list_<trace>.csv [default: {' '.join(TRACES)}]"),
    ] = None,
    seeds: Annotated[
        list[str] | None, typer.Option(help="seeds, e.g. 42-51 or 42,44 [default: 42-51]")
    ] = None,
    time_limit: TimeLimit = 60.0,
    policies: Annotated[
        list[str] | None,
        typer.Option(help=f"online baselines, of {', '.join(LABELS)} [default: all]"),
    ] = None,
    out_path: Output = None,
    fmt: FormatOption = ResultFormat.table,
    bound_limit: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="seconds per seed for the upper bound: the LP over all node patterns, "
            "computed after the plan and apart from it (0: the plan's own bound only)",
        ),
    ] = 0.0,
) -> None:
    """Online baselines and allocator's batch plan on the openb trace, at 100 % arrival."""
    writable(out_path)
    data = data or find_dataset("openb")
    if data is None:
        raise fail(not_found("openb"), ExitCode.BAD_INPUT)
    traces = traces or list(TRACES)
    policies = policies or list(DEFAULT_POLICIES)
    unknown = [p for p in policies if p not in LABELS]
    if unknown:
        message = f"unknown policy {unknown[0]!r}; expected one of {', '.join(LABELS)}"
        raise fail(message, ExitCode.BAD_INPUT)
    missing = [f for f in (NODE_FILE, *map(pod_file, traces)) if not (data / f).is_file()]
    if missing:
        raise fail(f"{data}: missing {', '.join(missing)}", ExitCode.BAD_INPUT)
    seed_list = parse_seeds(seeds or ["42-51"])
    err.print(
        f"openb: {len(traces)} trace(s) x {len(seed_list)} seed(s); each seed: "
        f"{len(policies)} online baselines, then allocator with a {time_limit:g} s limit",
        markup=False,
        highlight=False,
    )

    def progress(run: OpenbSeedRun) -> None:
        a = run.allocator
        fgd = run.baseline("fgd")
        text = (
            f"{run.trace} seed {run.seed}: {run.arrived.count} tasks arrived; "
            + (f"FGD {fgd.reported:.2f} %, " if fgd and fgd.reported is not None else "")
            + (
                f"allocator {a.ratio:.2f} % (bound {a.upper_bound:.2f} %), "
                f"checker {'passed' if a.checker_passed else 'FAILED'}, {a.wall_s:.1f} s"
                + (f" (bound {a.bound_s:.1f} s more)" if a.bound_s else "")
                if a.ratio is not None and a.upper_bound is not None
                else f"allocator failed: {a.error.splitlines()[0][:160]}"
            )
        )
        err.print(text, markup=False, highlight=False)

    with live_progress("bench openb", None):
        result = run_openb(data, traces, seed_list, time_limit, policies, progress, bound_limit)
    config = {
        "data": str(data),
        "traces": traces,
        "seeds": seed_list,
        "time_limit": time_limit,
        "bound_limit": bound_limit,
        "policies": policies,
    }

    def tables(console: Console) -> None:
        for item in openb_tables(result):
            if isinstance(item, str):
                console.print(item, markup=False, highlight=False)
            else:
                console.print(item)
        console.print(f"Upper bound: {BOUND_RULE}", markup=False, highlight=False)

    _finish("openb", config, result, tables, out_path, fmt)


@app.command("ladder", cls=ListOptionsCommand)
@handles_errors
def ladder(
    nodes: Annotated[list[int] | None, typer.Option(min=1, help=SIZES_HELP)] = None,
    solvers: Annotated[
        list[str] | None, typer.Option(help=f"backends [default: {' '.join(SOLVERS)}]")
    ] = None,
    fill: Annotated[float, typer.Option(min=0.01, help="wanted GPUs / fleet GPUs")] = 0.9,
    time_limit: TimeLimit = 60.0,
    seed: Annotated[int, typer.Option(help="generator and solver seed")] = 0,
    gap: Annotated[
        float,
        typer.Option(min=0.0, help="relative gap at which each level stops (default: prove)"),
    ] = 1e-6,
    mix: Annotated[
        Mix, typer.Option(help="hard: half the training jobs gangs, spread, shared GPUs")
    ] = Mix.plain,
    out_path: Output = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Synthetic fleets of growing size, each backend in its own process."""
    writable(out_path)
    nodes = nodes or list(SIZES)
    solvers = solvers or list(SOLVERS)
    err.print(
        f"ladder: sizes {', '.join(f'{n:,}' for n in nodes)} nodes (one workload per 4 "
        f"nodes), backends {', '.join(solvers)}, {time_limit:g} s limit",
        markup=False,
        highlight=False,
    )

    def progress(run: LadderRun) -> None:
        plan = run.plan
        detail = (
            f"{plan.status}, gap {run.gap}, plan {plan.total_s:.2f} s, "
            f"peak {run.peak_rss_mib:.0f} MiB"
            if plan is not None
            else run.reason
        )
        err.print(
            f"{run.nodes:,} nodes, {run.solver}: {run.outcome}: {detail}",
            markup=False,
            highlight=False,
        )

    with live_progress("bench ladder", None):
        result = run_ladder(nodes, solvers, fill, time_limit, seed, progress, gap, mix.value)
    config = {
        "nodes": nodes,
        "solvers": solvers,
        "fill": fill,
        "time_limit": time_limit,
        "seed": seed,
        "gap": gap,
        "mix": mix.value,
        "workloads": "nodes // 4",
    }

    def tables(console: Console) -> None:
        console.print(ladder_table(result))
        console.print(ladder_notes(result), markup=False, highlight=False)

    _finish("ladder", config, result, tables, out_path, fmt)


@app.command("build", cls=ListOptionsCommand)
@handles_errors
def build(
    nodes: Annotated[list[int] | None, typer.Option(min=1, help=SIZES_HELP)] = None,
    fill: Annotated[float, typer.Option(min=0.01, help="wanted GPUs / fleet GPUs")] = 0.9,
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    pulp_time_cap: Annotated[
        float, typer.Option(min=1, help="stop the PuLP build after this many seconds")
    ] = 600.0,
    pulp_memory_cap: Annotated[
        int, typer.Option(min=256, help="address-space cap of the PuLP build, MiB")
    ] = 8192,
    out_path: Output = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Time allocator's model build against a plain PuLP model of the same instance."""
    writable(out_path)
    nodes = nodes or list(SIZES)

    def progress(c: BuildComparison) -> None:
        state = "" if c.pulp.finished else f" (stopped: {c.pulp.stopped_by})"
        err.print(
            f"{c.nodes:,} nodes: allocator {c.allocator.total_s:.3f} s, "
            f"PuLP {c.pulp.seconds:.2f} s{state}",
            markup=False,
            highlight=False,
        )

    with live_progress("bench build", None):
        results = run_build(nodes, fill, seed, pulp_time_cap, pulp_memory_cap, progress)
    config = {
        "nodes": nodes,
        "fill": fill,
        "seed": seed,
        "pulp_time_cap": pulp_time_cap,
        "pulp_memory_cap_mib": pulp_memory_cap,
        "workloads": "nodes // 4",
        "objective": "cost ($/h of nodes in use)",
    }
    _finish("build", config, results, lambda c: c.print(build_table(results)), out_path, fmt)


@app.command("batch", cls=ListOptionsCommand)
@handles_errors
def batch(
    instances: Annotated[int, typer.Option(min=1, help="generated inventories")] = 100,
    workers: Annotated[
        list[int] | None,
        typer.Option("--workers", "-w", min=1, help="local pool sizes [default: 1 2]"),
    ] = None,
    dask_workers: Annotated[
        int, typer.Option(min=0, help="workers of a Dask LocalCluster (0: no Dask run)")
    ] = 2,
    time_limit: TimeLimit = 30.0,
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    out_path: Output = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Time one batch of mixed-size generated inventories on the local pool and on Dask."""
    writable(out_path)
    pools = workers or [1, 2]

    def progress(r: BatchRun) -> None:
        err.print(
            f"{r.engine} x{r.workers}: {r.wall_s:.1f} s, {r.planned}/{r.instances} planned",
            markup=False,
            highlight=False,
        )

    with live_progress("bench batch", None):
        runs = run_batch_bench(instances, pools, dask_workers or None, time_limit, seed, progress)
    config = {
        "instances": instances,
        "workers": pools,
        "dask_workers": dask_workers,
        "time_limit": time_limit,
        "seed": seed,
        "sizes": list(BATCH_SIZES),
        "workloads": "nodes // 4",
    }
    _finish("batch", config, runs, lambda c: c.print(batch_table(runs)), out_path, fmt)


def _finish(
    benchmark: str,
    config: dict,
    results: Any,
    tables: Callable[[Console], None],
    out_path: Path | None,
    fmt: ResultFormat,
) -> None:
    """The results as tables (or one JSON document with -f json), and as JSON in a file
    with -o."""
    document = results_document(benchmark, config, results)
    if fmt == ResultFormat.json:
        print_json(document)
    else:
        tables(_console())
    if out_path is not None:
        write_text_atomic(out_path, json.dumps(document, indent=2) + "\n")
        err.print(f"results written to {out_path}", markup=False, highlight=False)


@app.command("share", cls=ListOptionsCommand)
@handles_errors
def share(
    data: Annotated[
        Path | None,
        typer.Option(
            help="folder of Gavel's simulation_throughputs.json [default: the first of "
            "$ALLOCATOR_GAVEL_DATA, ./data/gavel, ../shared/data/gavel]"
        ),
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="jobs on the 108-GPU cluster")] = 100,
    tenants: Annotated[int, typer.Option(min=1, help="tenants the jobs are dealt to")] = 4,
    scale_jobs: Annotated[
        list[int] | None,
        typer.Option(min=1, help="jobs of the scale runs on 1,536 GPUs [default: 2048 10000]"),
    ] = None,
    parts: Annotated[
        list[int] | None, typer.Option(min=2, help="part counts (POP) [default: 4 8 16]")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="parts solved at once [default: cores]"),
    ] = None,
    engine: Annotated[str, typer.Option(help="local or dask: where parts run")] = "local",
    seed: Annotated[int, typer.Option(help="seed of the jobs drawn and the parts")] = 0,
    out_path: Output = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Fair-share policies on Gavel's measured throughputs, and max-min fairness at POP's
    scale, exactly and in parts."""
    writable(out_path)
    data = data or find_dataset("gavel")
    if data is None:
        raise fail(not_found("gavel"), ExitCode.BAD_INPUT)
    if engine not in ("local", "dask"):
        raise fail(f"unknown engine {engine!r}; expected local or dask", ExitCode.BAD_INPUT)
    scale_jobs = scale_jobs or [2048, 10000]
    parts = parts or [4, 8, 16]
    with live_progress("bench share", None):
        policies = run_policies(data, jobs, seed, tenants)
        scale = run_scale(data, scale_jobs, parts, seed, workers, engine)
    config = {
        "data": str(data),
        "jobs": jobs,
        "tenants": tenants,
        "scale_jobs": scale_jobs,
        "parts": parts,
        "workers": workers,
        "engine": engine,
        "seed": seed,
    }

    def tables(console: Console) -> None:
        console.print(
            f"Gavel jobs: {jobs}, seed {seed}, {tenants} tenants, 36 V100 + 36 P100 + 36 K80",
            markup=False,
            highlight=False,
        )
        console.print(policy_table(policies), markup=False, highlight=False)
        console.print("max-min fairness, 512 V100 + 512 P100 + 512 K80", markup=False)
        console.print(scale_table(scale), markup=False, highlight=False)

    _finish("share", config, {"policies": policies, "scale": scale}, tables, out_path, fmt)


@app.command("partition", cls=ListOptionsCommand)
@handles_errors
def partition(
    nodes: Annotated[int, typer.Option(min=1, help="fleet size in nodes")] = 1000,
    parts: Annotated[
        list[int] | None, typer.Option(min=2, help="part counts [default: 2 4 8]")
    ] = None,
    by: Annotated[
        list[str] | None, typer.Option(help="zone, random or both [default: zone random]")
    ] = None,
    engines: Annotated[
        list[str] | None, typer.Option(help="local, dask or both [default: local dask]")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="parts planned at once, per engine")
    ] = 2,
    fill: Annotated[float, typer.Option(min=0.01, help="wanted GPUs / fleet GPUs")] = 0.9,
    mix: Annotated[
        Mix, typer.Option(help="hard: half the training jobs gangs, spread, shared GPUs")
    ] = Mix.plain,
    time_limit: TimeLimit = 60.0,
    seed: Annotated[int, typer.Option(help="generator, split and solver seed")] = 0,
    out_path: Output = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """One ladder fleet planned whole, then in parts by zone and at random, on the local
    pool and on Dask: wall time, cost and its gap to the whole plan, checker verdict."""
    from allocator.bench.partition import PartitionRun, partition_table, run_partitioned

    writable(out_path)
    parts = parts or [2, 4, 8]
    by = by or ["zone", "random"]
    engines = engines or ["local", "dask"]
    for name, values, known in (
        ("--by", by, ("zone", "random")),
        ("--engines", engines, ("local", "dask")),
    ):
        wrong = [v for v in values if v not in known]
        if wrong:
            message = f"{name}: unknown {wrong[0]!r}; expected {' or '.join(known)}"
            raise fail(message, ExitCode.BAD_INPUT)

    def progress(r: PartitionRun) -> None:
        where = "whole" if r.by == "whole" else f"{r.parts} parts by {r.by} on {r.engine}"
        err.print(
            f"{where}: {r.wall_s:.1f} s, ${r.cost:,.2f}/h, checker {r.checker}",
            markup=False,
            highlight=False,
        )

    with live_progress("bench partition", None):
        result = run_partitioned(
            nodes, parts, by, engines, workers, fill, time_limit, seed, mix.value, progress=progress
        )
    config = {
        "nodes": nodes,
        "parts": parts,
        "by": by,
        "engines": engines,
        "workers": workers,
        "fill": fill,
        "mix": mix.value,
        "time_limit": time_limit,
        "seed": seed,
        "workloads": "nodes // 4",
    }

    def tables(console: Console) -> None:
        console.print(
            f"{result.nodes:,} nodes, {result.workloads:,} workloads, {mix.value} mix, "
            f"{time_limit:g} s per plan and per part",
            markup=False,
            highlight=False,
        )
        console.print(partition_table(result), markup=False, highlight=False)

    _finish("partition", config, result, tables, out_path, fmt)
