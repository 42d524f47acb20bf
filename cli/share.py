"""`allocator share`: how much of each GPU type each workload and tenant should get, under a
fair-share policy; the shares a plan can then be held to."""

from __future__ import annotations

import json
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from allocator.io.atomic import writable, write_text_atomic
from allocator.io.errors import ExitCode, InputError
from allocator.share.inputs import from_domain
from allocator.share.policies import Policy
from allocator.share.result import render
from allocator.share.run import share as run_share
from allocator.solve.pipeline import load_domain
from cli.common import (
    EngineName,
    FormatOption,
    ResultFormat,
    err,
    fail,
    handles_errors,
    out,
    print_json,
)
from solvers.base import SolveOptions


class Within(StrEnum):
    max_min = "max-min"
    proportional = "proportional"
    max_throughput = "max-throughput"


@handles_errors
def share(
    inventory: Annotated[Path, typer.Argument(help="inventory file (YAML or JSON)")],
    policy: Annotated[
        Policy, typer.Option("--policy", "-p", help="allocation policy")
    ] = Policy.MAX_MIN,
    within: Annotated[
        Within | None,
        typer.Option(help="policy inside each tenant (hierarchical only; default max-min)"),
    ] = None,
    tenant_weight: Annotated[
        list[str] | None,
        typer.Option(
            "--tenant-weight", help="NAME=WEIGHT, a tenant's weight (default 1); repeatable"
        ),
    ] = None,
    partitions: Annotated[
        int, typer.Option("--partitions", "-k", min=1, help="solve in K random parts (POP)")
    ] = 1,
    exact: Annotated[
        bool,
        typer.Option(help="with --partitions, also solve exactly and report the ratio"),
    ] = True,
    engine: Annotated[EngineName, typer.Option(help="where parts run")] = EngineName.local,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="parts solved at once (default: cores)"),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: a local cluster)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the shares (JSON) here")
    ] = None,
    fmt: FormatOption = ResultFormat.table,
    solver: Annotated[
        str, typer.Option("--solver", "-s", help="highs, cvxpy or auto (LPs: highs)")
    ] = "auto",
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", "-t", min=0.0, help="seconds")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the random parts")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")] = False,
) -> None:
    """Fair shares of each GPU type per workload and tenant (max-min, proportional, ...)."""
    if within is not None and policy != Policy.HIERARCHICAL:
        raise InputError.single("--within", "applies to --policy hierarchical only")
    if partitions > 1 and policy == Policy.EQUAL:
        raise InputError.single("--partitions", "the equal policy needs no solve to partition")
    writable(output)
    domain = load_domain(inventory)
    inp = from_domain(domain, _tenant_weights(tenant_weight or []))
    if not len(inp):
        raise InputError.single(str(inventory), "no workload uses GPUs: nothing to share")
    if inp.capacity.sum() <= 0:
        raise InputError.single(str(inventory), "no node that is up has GPUs: nothing to share")
    if policy == Policy.MIN_COST and not (inp.target > 0).any():
        raise InputError.single(
            str(inventory), "the min-cost policy needs workloads with a throughput target"
        )
    options = SolveOptions(time_limit=time_limit, seed=seed)
    result = run_share(
        inp,
        policy,
        Policy(within) if within is not None else None,
        solver,
        options,
        partitions,
        engine.value,
        workers,
        address,
        exact,
    )
    result = replace(result, source={"inventory": str(inventory)})
    doc = result.to_dict()
    if output is not None:
        write_text_atomic(output, json.dumps(doc, indent=2) + "\n")
    if not quiet:
        if fmt == ResultFormat.json:
            print_json(doc)
        else:
            render(result, out)
        if output is not None:
            err.print(f"shares written to {output}", markup=False, highlight=False)
    if not result.allocation.has_solution:
        reason = (
            "the throughput targets cannot all be met within the fleet's GPUs"
            if policy == Policy.MIN_COST
            else "no allocation found"
        )
        raise fail(f"{reason} (status {result.allocation.status})", ExitCode.NO_PLAN)


def _tenant_weights(items: list[str]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not name or not (0 < weight < float("inf")):
            raise InputError.single(
                "--tenant-weight", f"expected NAME=WEIGHT with a positive weight, got {item!r}"
            )
        weights[name] = weight
    return weights
