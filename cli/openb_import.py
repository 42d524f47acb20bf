"""`allocator import openb`: Alibaba's openb GPU trace as an inventory.

Registered on the `import` group as `import_app.command("openb")(import_openb_command)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from allocator.interop.openb.importer import UNDISCLOSED_GPU_MEMORY_GIB, import_openb
from allocator.interop.result import write_inventory
from cli.common import FormatOption, ResultFormat, err, handles_errors, print_json


@handles_errors
def import_openb_command(
    nodes: Annotated[Path, typer.Argument(help="node list, e.g. openb_node_list_all_node.csv")],
    pods: Annotated[Path, typer.Argument(help="task list, e.g. openb_pod_list_default.csv")],
    output: Annotated[Path, typer.Option("--output", "-o", help="inventory file to write (YAML)")],
    seed: Annotated[
        int | None,
        typer.Option(help="take the tasks in the simulator's arrival order for this seed"),
    ] = None,
    arrived: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="with --seed: the tasks that arrived until their GPU request reached this "
            "share of GPU capacity (default 1.0; the simulator samples up to 1.3)",
        ),
    ] = None,
    all_nodes: Annotated[
        bool, typer.Option(help="keep the CPU-only nodes (the published experiments do not)")
    ] = False,
    prices: Annotated[
        Path | None,
        typer.Option(help="$/h per GPU by GPU type (YAML or CSV); without it nodes cost 0"),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="inventory name (default: the output file's name)")
    ] = None,
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Nodes grouped by shape and tasks aggregated by shape, priority = milli-GPU asked."""
    result = import_openb(
        nodes,
        pods,
        seed=seed,
        arrived=arrived,
        all_nodes=all_nodes,
        prices_path=prices,
        name=name or output.stem,
    )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    command = f"allocator import openb {nodes} {pods}"
    if seed is not None:
        command += f" --seed {seed} --arrived {arrived if arrived is not None else 1.0}"
    if all_nodes:
        command += " --all-nodes"
    summary = result.arrived
    header = (
        f"Written by: {command}\n"
        "Priority of a workload = GPU request of one task in milli-GPU (1 for CPU-only tasks).\n"
        f"G1/G2/G3 memory is a placeholder ({UNDISCLOSED_GPU_MEMORY_GIB:g} GiB): the trace has "
        "none and no task asks for GPU memory."
    )
    write_inventory(output, result, header)
    inventory = result.inventory
    tasks = (
        f"{summary.count} tasks ({summary.gpu_request_milli / summary.capacity_milli:.1%} of "
        "GPU capacity asked)"
        if summary is not None
        else "tasks"
    )
    if fmt == ResultFormat.json:
        print_json(
            {
                "output": str(output),
                "nodes": sum(n.count for n in inventory.nodes),
                "node_groups": len(inventory.nodes),
                "tasks": summary.count if summary is not None else None,
                "workloads": len(inventory.workloads),
                "warnings": [str(w) for w in result.warnings],
            }
        )
        return
    err.print(
        f"inventory written to {output}: {sum(n.count for n in inventory.nodes)} nodes in "
        f"{len(inventory.nodes)} groups, {tasks} in {len(inventory.workloads)} workloads, "
        f"{len(result.warnings)} warnings",
        markup=False,
        highlight=False,
    )
