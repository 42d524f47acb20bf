"""What-if scenarios of one inventory: a failure domain lost, demand grown.

`--fail rack:*` gives one scenario per rack with that rack's nodes down; `--fail
zone:eu-1` one with zone eu-1 down (any scope of `allocator.domain.scopes`: node, rack,
fabric, zone, region, site). `--grow 10%` gives one with every workload's replicas (min
and max, rounded up) and throughput target grown by 10 %. The base inventory is always
the first scenario, so each is compared with it. A group of nodes only partly lost is
split into single nodes with the same ids, so ids in `current_placement` still hold.

Each scenario is written as an inventory file and planned as one instance of a batch;
`compare` reads their plans: cost against the base, unplaced demand, and how many
survive (N+1) promises each plan keeps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from allocator.batch.summary import BatchSummary
from allocator.domain.build import build_domain
from allocator.domain.scopes import SCOPES
from allocator.inventory.schema import Inventory, expanded_node_ids
from allocator.io.errors import InputError
from allocator.output.plan import PlanFile

MAX_SCENARIOS = 1000


@dataclass(frozen=True)
class Scenario:
    name: str  # the instance name: `<inventory>--<what>`
    what: str  # in words: "base", "rack r1 lost", "demand +10%"
    document: Callable[[], dict[str, Any]]  # made when written: one in memory at a time


def parse_growth(values: list[str]) -> list[float]:
    """`10%`, `25%,50%` or `0.1` -> growth factors above 1 (0.10 -> 1.10)."""
    out = []
    for value in values:
        for part in value.split(","):
            text = part.strip()
            try:
                share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            except ValueError:
                raise InputError.single(
                    "--grow", f"expected a percentage such as 10% or 25%, got {text!r}"
                ) from None
            if not -1 < share <= 100 or not math.isfinite(share):
                raise InputError.single("--grow", f"{text} is out of range (above -100%)")
            out.append(share)
    return out


def scenarios(
    path: Path, inventory: Inventory, failures: list[str], growth: list[float]
) -> list[Scenario]:
    """The base and one scenario per failure domain lost and per growth step."""
    stem = path.name.rsplit(".", 1)[0]
    base = inventory.model_dump(mode="json", exclude_defaults=True)
    fleet = build_domain(inventory).fleet
    lost = _lost_domains(fleet, failures)
    count = 1 + len(lost) + len(growth)
    if count > MAX_SCENARIOS:
        raise InputError.single(
            "--fail", f"{count:,} scenarios; a sweep runs at most {MAX_SCENARIOS:,}"
        )
    out = [Scenario(f"{stem}--base", "base", lambda: base)]
    for scope, place, down in lost:
        out.append(
            Scenario(
                f"{stem}--lose-{scope}-{_slug(place)}",
                f"{scope} {place} lost",
                partial(_with_nodes_down, base, inventory, down),
            )
        )
    for share in growth:
        label = f"{share * 100:+g}%"
        out.append(
            Scenario(
                f"{stem}--grow-{_slug(label)}", f"demand {label}", partial(_grown, base, share)
            )
        )
    return out


def write_scenarios(folder: Path, items: list[Scenario]) -> list[Path]:
    from allocator.io.atomic import write_text_atomic

    folder.mkdir(exist_ok=True)
    paths = []
    for item in items:
        target = folder / f"{item.name}.yaml"
        write_text_atomic(target, yaml.safe_dump(item.document(), sort_keys=False))
        paths.append(target)
    return paths


def _lost_domains(fleet: Any, failures: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """(scope, place, mask of the nodes lost) per place lost; a place named by two
    failures is lost once."""
    out = []
    seen: set[tuple[str, str]] = set()
    for failure in failures:
        scope, sep, place = failure.partition(":")
        if not sep or scope not in SCOPES or not place:
            raise InputError.single(
                "--fail",
                f"expected SCOPE:NAME or SCOPE:* with a scope of {', '.join(SCOPES)}, "
                f"got {failure!r}",
            )
        where = np.asarray(fleet.ids if scope == "node" else getattr(fleet, scope)).astype(str)
        names = sorted(set(where) - {"-"})
        if place != "*" and place not in names:
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            raise InputError.single(
                "--fail", f"no node has {scope} {place!r}; the fleet's: {shown or 'none'}"
            )
        for name in names if place == "*" else [place]:
            if (scope, name) not in seen:
                seen.add((scope, name))
                out.append((scope, name, where == name))
    return out


def _with_nodes_down(base: dict, inventory: Inventory, down: np.ndarray) -> dict:
    nodes: list[dict] = []
    start = 0
    for entry, ids in zip(base["nodes"], expanded_node_ids(inventory), strict=True):
        lost = down[start : start + len(ids)]
        start += len(ids)
        if not lost.any():
            nodes.append(entry)
        elif lost.all():
            nodes.append({**entry, "state": "down"})
        else:  # split the group: each node on its own, with its own rack
            racks = entry.get("rack")
            blocks = np.array_split(np.arange(len(ids)), len(racks)) if racks else []
            rack_of = {
                int(k): r for r, block in zip(racks or [], blocks, strict=True) for k in block
            }
            for k, node_id in enumerate(ids):
                single = {**entry, "id": node_id, "count": 1}
                if racks:
                    single["rack"] = [rack_of[k]]
                if lost[k]:
                    single["state"] = "down"
                nodes.append(single)
    return {**base, "nodes": nodes}


def _grown(base: dict, share: float) -> dict:
    workloads = []
    for w in base.get("workloads", []):
        w = dict(w)
        if "replicas" in w and w["replicas"] is not None:
            low = math.ceil(w["replicas"]["min"] * (1 + share) - 1e-9)
            high = max(1, math.ceil(w["replicas"]["max"] * (1 + share) - 1e-9))
            w["replicas"] = {"min": min(low, high), "max": high}
        if w.get("throughput"):
            w["throughput"] = {**w["throughput"], "target": w["throughput"]["target"] * (1 + share)}
        workloads.append(w)
    return {**base, "workloads": workloads}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("%", "pct").replace("+", ""))


@dataclass(frozen=True)
class Comparison:
    scenario: str
    what: str
    status: str
    cost_per_hour: float | None
    change: float | None  # against the base, $/h
    unplaced_required: int | None
    unplaced_optional: int | None
    promises: int  # workloads that must survive a loss
    promises_kept: int | None  # of those, how many still would (min and target kept)


def compare(
    items: list[Scenario], inventory: Inventory, summary: BatchSummary, plans: dict[str, PlanFile]
) -> list[Comparison]:
    """A row per scenario; survive promises are the base's (no scenario changes rules)."""
    promised = {w.id for w in inventory.workloads if w.survive}
    by_name = {i.name: i for i in summary.instances}
    base_cost = by_name[items[0].name].cost_per_hour if items[0].name in by_name else None
    out = []
    for item in items:
        row = by_name.get(item.name)
        plan = plans.get(item.name)
        kept = None
        if plan is not None:
            broken = {e.workload for e in plan.exposed}
            broken |= {u.workload for u in plan.unplaced if u.required}
            broken |= {t.workload for t in plan.throughput if not t.met}
            kept = len(promised - broken)
        cost = None if row is None else row.cost_per_hour
        out.append(
            Comparison(
                scenario=item.name,
                what=item.what,
                status="not run" if row is None else row.status,
                cost_per_hour=cost,
                change=None if cost is None or base_cost is None else cost - base_cost,
                unplaced_required=None if row is None else row.unplaced_required,
                unplaced_optional=None if row is None else row.unplaced_optional,
                promises=len(promised),
                promises_kept=kept,
            )
        )
    return out


def render_comparison(rows: list[Comparison]) -> str:
    lines = [
        "# What-if sweep",
        "",
        "| scenario | status | $/h | vs base | unplaced required | unplaced optional "
        "| survive promises kept |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cost = "-" if r.cost_per_hour is None else f"{r.cost_per_hour:,.2f}"
        change = "-" if r.change is None else f"{r.change:+,.2f}"
        kept = "-" if r.promises_kept is None else f"{r.promises_kept} / {r.promises}"
        lines.append(
            f"| {r.what} | {r.status} | {cost} | {change} | {_dash(r.unplaced_required)} | "
            f"{_dash(r.unplaced_optional)} | {kept} |"
        )
    return "\n".join(lines) + "\n"


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)
