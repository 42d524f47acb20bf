"""`allocator import` and `allocator export`: inventories from the systems operators run
(Kubernetes, Slurm, SkyPilot), and plans back in a form those systems accept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from allocator.evaluate.check import check_plan
from allocator.interop.kubernetes.importer import export_kubernetes, import_kubernetes
from allocator.interop.result import ImportResult, write_inventory
from allocator.interop.skypilot import import_skypilot
from allocator.interop.slurm.importer import export_slurm, import_slurm
from allocator.inventory.load import load_inventory
from allocator.inventory.schema import Inventory
from allocator.io.atomic import writable, write_text_atomic
from allocator.io.errors import ExitCode
from allocator.output.plan import PlanFile
from cli import openb_import, reassign
from cli.common import FormatOption, ResultFormat, err, error, handles_errors, print_json
from cli.planfiles import plan_for

import_app = typer.Typer(
    name="import",
    help="Build an inventory from cluster state (Kubernetes, Slurm, SkyPilot) or a trace "
    "(Alibaba openb), or a reassignment file from a ROADEF/EURO 2012 instance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
export_app = typer.Typer(
    name="export",
    help="Write a plan back as Kubernetes manifests or Slurm node lists, or a reassignment "
    "plan as a ROADEF/EURO 2012 solution file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


Output = Annotated[Path, typer.Option("--output", "-o", help="inventory file to write (YAML)")]
Prices = Annotated[
    Path | None,
    typer.Option(
        help="$/h by node name, instance type or GPU type (per GPU), YAML or CSV; "
        "without it nodes cost 0"
    ),
]
Name = Annotated[str | None, typer.Option(help="inventory name (default: the output file's name)")]
GpuMapFile = Annotated[
    Path | None,
    typer.Option(
        help="YAML mapping of names allocator cannot resolve (a GRES type, a label value, an "
        "instance type, a node) to a GPU type, with memory_gib for a type not in the catalog",
    ),
]


@import_app.command("kubernetes")
@handles_errors
def import_kubernetes_command(
    nodes: Annotated[Path, typer.Argument(help="`kubectl get nodes -o json` (or -o yaml) output")],
    pods: Annotated[Path, typer.Argument(help="`kubectl get pods -A -o json` (or -o yaml) output")],
    output: Output,
    priority_classes: Annotated[
        Path | None, typer.Option(help="`kubectl get priorityclasses -o json` output")
    ] = None,
    prices: Prices = None,
    rack_label: Annotated[
        str | None, typer.Option(help="node label that names the rack, e.g. example.com/rack")
    ] = None,
    name: Name = None,
    gpu_map: GpuMapFile = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option(
            help="plan only the pods of this namespace (repeatable); kube-system, kube-public "
            "and kube-node-lease are left out unless named",
        ),
    ] = None,
    exclude_namespace: Annotated[
        list[str] | None,
        typer.Option(help="leave this namespace's pods out (repeatable)"),
    ] = None,
    move_jobs: Annotated[
        bool,
        typer.Option(
            help="let the plan move running pods that lose their work when moved (Job, "
            "training and bare pods), which otherwise stay where they run",
        ),
    ] = False,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Nodes, pods grouped by owner, and where they run now, as an inventory."""
    result = import_kubernetes(
        nodes,
        pods,
        priority_classes,
        prices,
        rack_label,
        name=name or output.stem,
        gpu_map_path=gpu_map,
        namespaces=tuple(namespace or ()),
        exclude_namespaces=tuple(exclude_namespace or ()),
        move_jobs=move_jobs,
    )
    _write(result, output, f"allocator import kubernetes {nodes} {pods}", fmt)


@import_app.command("slurm")
@handles_errors
def import_slurm_command(
    nodes: Annotated[Path, typer.Argument(help="`scontrol show node -o` output")],
    jobs: Annotated[Path, typer.Argument(help="`squeue --json` output")],
    output: Output,
    prices: Prices = None,
    name: Name = None,
    gpu_map: GpuMapFile = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Nodes, pending and running jobs, and where they run now, as an inventory."""
    result = import_slurm(nodes, jobs, prices, name=name or output.stem, gpu_map_path=gpu_map)
    _write(result, output, f"allocator import slurm {nodes} {jobs}", fmt)


@import_app.command("skypilot")
@handles_errors
def import_skypilot_command(
    inventory: Annotated[Path, typer.Argument(help="inventory whose fleet the tasks are added to")],
    tasks: Annotated[list[Path], typer.Argument(help="SkyPilot task YAML files")],
    output: Output,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Add SkyPilot tasks as workloads to an existing inventory."""
    result = import_skypilot(list(tasks), inventory)
    shown = " ".join(str(t) for t in tasks)
    _write(result, output, f"allocator import skypilot {inventory} {shown}", fmt)


def _write(result: ImportResult, output: Path, command: str, fmt: ResultFormat) -> None:
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    header = (
        f"Written by: {command}\n"
        f"{len(result.warnings)} warning(s): what the source says that the inventory does "
        "not carry over (see the command's output)."
    )
    write_inventory(output, result, header)
    inventory = result.inventory
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(output),
                "nodes": len(inventory.nodes),
                "workloads": len(inventory.workloads),
                "warnings": [str(w) for w in result.warnings],
            }
        )
        return
    err.print(
        f"inventory written to {output}: {len(inventory.nodes)} nodes, "
        f"{len(inventory.workloads)} workloads, {len(result.warnings)} warnings",
        markup=False,
        highlight=False,
    )


@export_app.command("kubernetes")
@handles_errors
def export_kubernetes_command(
    inventory: Annotated[Path, typer.Argument(help="the inventory the plan was made for")],
    plan: Annotated[Path, typer.Argument(help="plan file made from that inventory")],
    pods: Annotated[
        Path, typer.Option(help="`kubectl get pods -A -o json` output: the pods to pin")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="manifests to write (YAML)")],
    summary: Annotated[Path | None, typer.Option(help="also write the moves as Markdown")] = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Pods the plan moves or starts, pinned to their nodes, for `kubectl apply --force`."""
    writable(output, summary)
    plan_file, _ = _checked_plan(plan, inventory)
    result = export_kubernetes(plan_file, pods)
    write_text_atomic(output, result.manifests_yaml())
    if summary is not None:
        write_text_atomic(summary, result.summary_markdown())
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    moves = sum(p.from_node is not None for p in result.pins)
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(output),
                "summary": str(summary) if summary else None,
                "moves": moves,
                "starts": len(result.pins) - moves,
                "stops": len(result.stops),
                "moves_restarting_work": sum(
                    p.effect is not None and p.effect.restarts is True for p in result.pins
                ),
                "notes": list(result.notes),
            }
        )
        return
    err.print(
        f"{len(result.pins)} pod manifest(s) written to {output} ({moves} moves, "
        f"{len(result.pins) - moves} starts; {len(result.stops)} pods to stop)",
        markup=False,
        highlight=False,
    )


@export_app.command("slurm")
@handles_errors
def export_slurm_command(
    inventory: Annotated[Path, typer.Argument(help="the inventory the plan was made for")],
    plan: Annotated[Path, typer.Argument(help="plan file made from that inventory")],
    output: Annotated[Path, typer.Option("--output", "-o", help="node lists to write")],
    script: Annotated[
        Path | None,
        typer.Option(help="scontrol script to write (default: the output with suffix .sh)"),
    ] = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Each job's nodes as a hostlist, and `scontrol update` lines for pending jobs."""
    script = script or output.with_suffix(".sh")
    if script == output:
        script = output.with_name(f"{output.name}.sh")
    writable(output, script)
    plan_file, planned_for = _checked_plan(plan, inventory)
    result = export_slurm(plan_file, planned_for)
    write_text_atomic(output, result.nodelists_text())
    write_text_atomic(script, result.script_text())
    script.chmod(0o755)
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(output),
                "script": str(script),
                "jobs": len(result.jobs),
                "notes": list(result.notes),
            }
        )
        return
    err.print(
        f"node lists of {len(result.jobs)} job(s) written to {output}, scontrol lines to {script}",
        markup=False,
        highlight=False,
    )


def _checked_plan(plan: Path, inventory: Path) -> tuple[PlanFile, Inventory]:
    """The plan and its inventory; exit 5 unless the checker accepts the plan for it."""
    domain, plan_file = plan_for(inventory, plan)
    violations = check_plan(domain, plan_file)
    if violations:
        for violation in violations:
            error(f"{plan}: {violation}")
        raise typer.Exit(int(ExitCode.PLAN_REJECTED))
    return plan_file, load_inventory(inventory)


# Commands of these groups written beside the formats they read.
import_app.command("openb")(openb_import.import_openb_command)
import_app.command("roadef")(reassign.import_roadef_command)
export_app.command("roadef")(reassign.export_roadef_command)
