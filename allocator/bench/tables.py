"""Benchmark results as rich tables, for the terminal and for pasting into docs."""

from __future__ import annotations

from rich.table import Table

from allocator.bench.batch import BatchRun
from allocator.bench.build import BuildComparison
from allocator.bench.ladder import LadderResult
from allocator.bench.openb import OpenbResult, OpenbTraceSummary
from allocator.bench.published import LABELS
from allocator.bench.stats import Summary


def _num(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "-"
    value = round(value, digits) + 0.0  # no "-0.00"
    return f"{value:+.{digits}f}" if signed else f"{value:,.{digits}f}"


def _gap(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3g} %"


def openb_tables(result: OpenbResult) -> list[Table | str]:
    """One table per trace, then lines with the differences and where the time went."""
    out: list[Table | str] = []
    for summary in result.traces:
        gpus = next(
            r.arrived.capacity_milli // 1000 for r in result.runs if r.trace == summary.trace
        )
        out.append(_openb_table(summary, gpus, result))
        out.append(_openb_lines(summary, result))
    return out


def _openb_table(summary: OpenbTraceSummary, gpus: int, result: OpenbResult) -> Table:
    table = Table(
        title=f"{summary.trace}: GPU allocation at 100 % arrived GPU demand, % of {gpus:,} GPUs "
        f"({len(summary.seeds)} seeds)",
        title_justify="left",
    )
    for name in ("scheduler", "mean", "min", "max", "published", "mean - published"):
        table.add_column(name, justify="left" if name == "scheduler" else "right")
    for policy, stats in summary.baselines.items():
        paper = summary.published.get(policy)
        diff = None if paper is None or stats.mean is None else stats.mean - paper
        table.add_row(
            LABELS.get(policy, policy), *_triple(stats), _num(paper), _num(diff, signed=True)
        )
    table.add_row(f"allocator ({result.solver}, batch)", *_triple(summary.allocator), "-", "-")
    table.add_row("upper bound", *_triple(summary.upper_bound), "-", "-")
    return table


def _triple(stats: Summary) -> tuple[str, str, str]:
    return _num(stats.mean), _num(stats.min), _num(stats.max)


def _points(stats: Summary) -> str:
    return (
        f"{_num(stats.mean, signed=True)} points "
        f"(min {_num(stats.min, signed=True)}, max {_num(stats.max, signed=True)})"
    )


def _openb_lines(summary: OpenbTraceSummary, result: OpenbResult) -> str:
    runs = [r for r in result.runs if r.trace == summary.trace]
    lines = [
        f"  allocator - FGD:   {_points(summary.allocator_minus_fgd)}",
        f"  bound - allocator: {_points(summary.bound_minus_allocator)}",
        f"  checker: {summary.checker_passed}/{len(runs)} plans passed"
        + (f"; {summary.failed} runs failed" if summary.failed else ""),
        f"  wall per seed (import, plan, check): mean {_num(summary.wall_s.mean, 1)} s, "
        f"max {_num(summary.wall_s.max, 1)} s; in the planner, mean: model build "
        f"{_num(summary.build_s.mean, 2)} s, column generation "
        f"{_num(summary.column_generation_s.mean, 1)} s, MIP {_num(summary.solve_s.mean, 1)} s",
        f"  planner code: {result.planner_fingerprint}",
    ]
    bound_s = [r.allocator.bound_s for r in runs if r.allocator.pattern_lp_bound is not None]
    if bound_s:
        lines.insert(
            2,
            f"  upper bound from the pattern LP on {len(bound_s)}/{len(runs)} seeds, "
            f"computed apart from the plan in {_num(sum(bound_s) / len(bound_s), 1)} s "
            "on average",
        )
    for run in runs:
        a = run.allocator
        if a.error:
            lines.append(f"  seed {run.seed}: failed: {a.error.splitlines()[0][:200]}")
        elif a.plan is not None and a.plan.notes:
            lines.append(f"  seed {run.seed}: {'; '.join(a.plan.notes)[:200]}")
    return "\n".join(lines)


def ladder_table(result: LadderResult) -> Table:
    table = Table(
        title=f"Synthetic fleets, 8-GPU nodes, {result.fill:.0%} of GPUs wanted, time limit "
        f"{result.time_limit:g} s, relative gap {result.gap:g}",
        title_justify="left",
    )
    columns = (
        "nodes", "workloads", "backend", "outcome", "status", "unplaced (bound)", "cost $/h",
        "cost bound", "gap", "build s", "colgen s", "MIP s", "other s", "plan s", "wall s",
        "peak MiB", "checker",
    )  # fmt: skip
    for name in columns:
        table.add_column(
            name, justify="left" if name in ("backend", "outcome", "status") else "right"
        )
    for run in result.runs:
        plan = run.plan
        if plan is None:
            table.add_row(
                f"{run.nodes:,}", f"{run.workloads:,}", run.solver, run.outcome, run.reason[:60],
                *["-"] * 11, "-" if run.outcome == "skipped" else _num(run.peak_rss_mib, 0),
            )  # fmt: skip
            continue
        unplaced = plan.level("unplaced_priority")
        unplaced_text = (
            f"{_num(unplaced.value, 0)} ({_num(unplaced.bound, 0)})" if unplaced else "-"
        )
        table.add_row(
            f"{run.nodes:,}",
            f"{run.workloads:,}",
            run.solver,
            run.outcome,
            plan.status,
            unplaced_text,
            _num(run.objective),
            _num(run.bound),
            _gap(run.gap),
            _num(plan.build_s, 3),
            _num(plan.column_generation_s, 2),
            _num(plan.solve_s, 2),
            _num(plan.other_s, 2),
            _num(plan.total_s, 2),
            _num(plan.wall_s, 2),
            _num(run.peak_rss_mib, 0),
            "passed" if plan.checker_passed else "FAILED",
        )
    return table


def ladder_notes(result: LadderResult) -> str:
    """What the columns mean, and which planner code each run measured."""
    prints = sorted({r.planner_fingerprint for r in result.runs if r.planner_fingerprint})
    lines = [
        "  gap: the largest relative gap over the objective levels; other s: planner time "
        "outside build, column generation and MIP (greedy warm starts, pattern enumeration, "
        "decoding); wall s: planning plus diagnosis and the checker; peak MiB: largest "
        "resident set of the run's process or of a solver process it started.",
    ]
    if len(prints) > 1:
        lines.append(f"  the planner's code changed during the run ({len(prints)} versions):")
        for fingerprint in prints:
            runs = [r for r in result.runs if r.planner_fingerprint == fingerprint]
            shown = ", ".join(f"{r.nodes:,}/{r.solver}" for r in runs)
            lines.append(f"    {fingerprint}: {shown}")
    return "\n".join(lines)


def build_table(results: list[BuildComparison]) -> Table:
    table = Table(
        title="Model build: allocator (reduce + patterns + formulation, median of 3) against a "
        "plain PuLP model (one binary per replica and node), construction only",
        title_justify="left",
    )
    columns = (
        "nodes", "replicas", "pairs", "allocator s", "allocator model", "PuLP s", "PuLP vars",
        "PuLP peak MiB", "PuLP / allocator",
    )  # fmt: skip
    for name in columns:
        table.add_column(name, justify="right")
    for c in results:
        ours = c.allocator
        pulp_s = _num(c.pulp.seconds, 2)
        ratio = f"{c.ratio:,.0f}x"
        if c.ratio_is_lower_bound:
            pulp_s = f">= {pulp_s} ({c.pulp.stopped_by})"
            ratio = f">= {ratio}"
            if c.estimated_ratio is not None:
                ratio += f" (est. {c.estimated_ratio:,.0f}x)"
        table.add_row(
            f"{c.nodes:,}",
            f"{c.replicas:,}",
            f"{c.compatible_pairs:,}",
            _num(ours.total_s, 3),
            f"{ours.columns:,} x {ours.rows:,}",
            pulp_s,
            "-" if c.pulp.variables is None else f"{c.pulp.variables:,}",
            _num(c.pulp.peak_rss_mib, 0),
            ratio,
        )
    return table


def batch_table(runs: list[BatchRun]) -> Table:
    table = Table(
        title="Batch: the same generated inventories on each engine (wall time includes "
        "starting the workers and writing every output)",
        title_justify="left",
    )
    columns = (
        "engine", "workers", "wall s", "startup s", "planning s", "overhead / instance s",
        "planned", "same plans",
    )  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name == "engine" else "right")
    for r in runs:
        table.add_row(
            r.engine,
            str(r.workers),
            _num(r.wall_s, 1),
            _num(r.startup_s, 1),
            _num(r.planning_s, 1),
            _num(r.overhead_per_instance_s, 3),
            f"{r.planned} / {r.instances}",
            "yes" if r.same_plans else "no",
        )
    return table
