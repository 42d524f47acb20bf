"""`allocator generate`: synthetic inventories for trials and benchmarks."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml

from allocator.inventory.generate import SERVERS, generate_inventory, harden
from allocator.io.atomic import write_text_atomic
from cli.common import handles_errors, out


class Mix(StrEnum):
    plain = "plain"
    hard = "hard"


class InventoryFormat(StrEnum):
    yaml = "yaml"
    json = "json"


@handles_errors
def generate(
    nodes: Annotated[int, typer.Option(min=1, help="number of nodes")] = 100,
    workloads: Annotated[int, typer.Option(min=0, help="number of workloads")] = 30,
    gpu_types: Annotated[
        int, typer.Option(min=1, max=len(SERVERS), help="number of GPU types in the fleet")
    ] = 3,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    fill: Annotated[
        float, typer.Option(min=0.01, help="wanted GPUs as a share of the fleet")
    ] = 0.8,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
    mix: Annotated[
        Mix, typer.Option(help="hard: half the training jobs gangs, spread, shared GPUs")
    ] = Mix.plain,
    fmt: Annotated[
        InventoryFormat, typer.Option("--format", "-f", help="YAML, or JSON (one document)")
    ] = InventoryFormat.yaml,
) -> None:
    """Write a synthetic inventory that looks like a real GPU fleet."""
    document = generate_inventory(nodes, workloads, gpu_types, seed, fill)
    if mix == Mix.hard:
        document = harden(document, seed)
    if fmt == InventoryFormat.json:
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, width=100)
    if output is None:
        out.print(text, markup=False, highlight=False, end="")
    else:
        write_text_atomic(output, text)
