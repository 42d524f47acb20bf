"""Commands about an inventory file: validate it, print its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from allocator.inventory.schema import Inventory
from allocator.io.atomic import write_text_atomic
from allocator.model.reduce import reduce
from allocator.solve.pipeline import load_domain
from cli.common import FormatOption, ResultFormat, err, handles_errors, out, print_json


@handles_errors
def validate(
    inventory: Annotated[Path, typer.Argument(help="inventory file (YAML or JSON)")],
    fmt: FormatOption = ResultFormat.table,
) -> None:
    """Check an inventory file and summarize it; exit 2 with located messages if it is bad."""
    domain = load_domain(inventory)
    inst = reduce(domain)
    fleet, demand = domain.fleet, domain.demand
    homeless = [str(demand.ids[w]) for w in np.flatnonzero(~inst.compat.any(axis=1))]
    if fmt == ResultFormat.json:
        print_json(
            {
                "inventory": str(inventory),
                "valid": True,
                "name": domain.name,
                "nodes": len(fleet),
                "node_shapes": len(inst.groups),
                "gpus": int(fleet.gpus.sum()),
                "gpu_types": len(fleet.gpu_types),
                "workloads": len(demand),
                "replica_shapes": len(inst.shapes),
                "gpus_wanted": [int(demand.gpus @ demand.min), int(demand.gpus @ demand.max)],
                "fit_on_no_node": homeless,
            }
        )
    else:
        out.print(
            f"{inventory}: valid inventory '{domain.name}': {len(fleet)} nodes in "
            f"{len(inst.groups)} distinct shapes, {int(fleet.gpus.sum())} GPUs of "
            f"{len(fleet.gpu_types)} types; {len(demand)} workloads in {len(inst.shapes)} "
            f"replica shapes wanting {int(demand.gpus @ demand.min)}-"
            f"{int(demand.gpus @ demand.max)} GPUs",
            highlight=False,
        )
    for wid in homeless:
        err.print(f"warning: workload {wid!r} fits on no node of this fleet", markup=False)


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
