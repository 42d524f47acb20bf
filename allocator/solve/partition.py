"""A fleet too large to plan at once, planned in parts (POP, SOSP 2021, applied to placement).

The inventory is split into K parts, each an ordinary inventory of some nodes and the
workloads dealt to them; the parts are planned in parallel through the one pipeline
(`solve_request`), on a local process pool or Dask (`allocator.batch.engines`), and their
placements are merged into one plan of the whole inventory, which the independent checker
then judges against the whole inventory: a merged plan is never trusted because its parts
were valid.

Two ways to split:

- `zone`: each part the nodes of some zones, zones dealt so the parts' GPUs are balanced.
  With fewer zones than parts, zones are cut along racks (each zone into parts in
  proportion to its GPUs, its racks dealt so each part keeps the zone's mix of GPU types),
  and with fewer racks than parts, along nodes.
  Workloads follow where they may run: one restricted to zones (or regions, or GPU types)
  goes to a part that has such nodes; the others are dealt, largest first, to the part
  whose demand is lowest against its GPUs of the types they use.
- `random`: POP's split. The nodes of each node group are dealt at random into K near
  equal parts, so every part is a scaled-down copy of the fleet, and the workloads are
  dealt at random with the same seed (stratified by size, as `share.partition` does).

A workload is never split: its replicas, and so its gang, spread and anti-affinity among
its own replicas, stay in one part, and workloads tied by affinity or anti-affinity go to
the same part. What a split cannot preserve, and how it is made safe:

- a spread or survive rule over zones (or regions) needs a part with that many zones; by
  zone such a workload goes to a part with enough of them if there is one, and is
  otherwise placed as well as its part allows (the checker and the unplaced list say so);
- limits shared by parts are divided between them, so the merged plan keeps within the
  whole: storage systems' capacity and read throughput in proportion to the datasets
  dealt to each part, site and row power caps in proportion to the part's share of the
  power of the nodes under them, WAN links equally, and rack uplinks (where racks are
  cut) by the part's smallest share of a rack. A part cannot borrow what another leaves
  unused, so the merged plan may leave work out that the whole plan places;
- tenants' GPU shares are divided in proportion to each part's GPUs of the type, and the
  cap on moves in proportion to the replicas running in each part; what runs now on a
  node of another part counts as stopped there (a start in the part that places it);
- optimality: each part is solved to its own optimum, not the whole's; the merged plan
  states no bound, and its cost is compared with the whole plan's where both are run
  (`allocator bench partition`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from allocator.batch.engines import open_engine
from allocator.domain.build import build_domain
from allocator.domain.tables import Domain
from allocator.evaluate.check import Violation, check_plan
from allocator.evaluate.levels import level_names, level_values
from allocator.inventory.load import validate_document
from allocator.inventory.schema import Inventory, WorkloadSpec, expanded_node_ids
from allocator.io.errors import ExitCode, InputError
from allocator.io.source import decode_text, document_from_text
from allocator.model.reduce import reduce
from allocator.output.plan import (
    InventoryRef,
    LevelReport,
    PlanFile,
    SolverReport,
    replicas_of,
)
from allocator.output.planfile import plan_file
from allocator.solve.pipeline import Request, solve_request
from solvers.base import SolveOptions

WAYS = ("zone", "random")


@dataclass(frozen=True)
class Part:
    """One part: its inventory document and what it holds."""

    index: int
    document: dict[str, Any]
    nodes: list[str]
    workloads: list[str]
    zones: list[str]
    gpus: int


@dataclass(frozen=True)
class Split:
    parts: list[Part]
    by: str
    level: str  # what the zone split cut along: zone, rack or node ("node" for random)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PartResult:
    """What planning one part gave: its plan file (as JSON data) or why there is none."""

    index: int
    status: str  # the solver's status, or "failed"
    exit_code: int
    plan: dict[str, Any] | None
    error: str
    wall_s: float
    objective: float | None = None
    hard_shortfall: float = 0.0
    unplaced_priority: float = 0.0


@dataclass
class PartitionedOutcome:
    """The merged plan of the whole inventory, checked against it, and each part's result."""

    domain: Domain
    plan: PlanFile
    violations: list[Violation]
    split: Split
    parts: list[PartResult]
    engine: str
    wall_s: float

    @property
    def hard_shortfall(self) -> float:
        return self.plan.objective.hard_shortfall

    @property
    def exit_code(self) -> ExitCode:
        """0 all required replicas placed; 4 not (a split proves nothing impossible)."""
        if self.violations:
            return ExitCode.INTERNAL
        return ExitCode.NO_PLAN if self.hard_shortfall > 0 else ExitCode.OK


# ---------------------------------------------------------------------------------------
# Splitting


def split_inventory(document: dict[str, Any], parts: int, by: str = "zone", seed: int = 0) -> Split:
    """The inventory `document` (a parsed, valid inventory) in `parts` parts."""
    if by not in WAYS:
        raise InputError.single("--partition-by", f"unknown way {by!r}; expected zone or random")
    inventory = Inventory.model_validate(document)
    nodes = _Nodes(inventory)
    if parts < 1:
        raise InputError.single("--partitions", "must be at least 1")
    if parts > len(nodes.ids):
        raise InputError.single(
            "--partitions",
            f"{parts} parts of {len(nodes.ids)} node(s): at most one part per node",
        )
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    if parts == 1:
        node_part, level = np.zeros(len(nodes.ids), dtype=np.int64), "zone"
    elif by == "zone":
        node_part, level = _nodes_by_zone(nodes, parts)
        if level != "zone":
            zones = len(set(nodes.zone.tolist()))
            notes.append(f"{zones} zone(s) for {parts} parts: zones cut along {level}s")
    else:
        node_part, level = _nodes_at_random(nodes, parts, rng), "node"
    workload_part = _deal_workloads(inventory, nodes, node_part, parts, by, rng, notes)
    documents = _documents(document, inventory, nodes, node_part, workload_part, parts)
    out = []
    for p in range(parts):
        mine = node_part == p
        out.append(
            Part(
                index=p,
                document=documents[p],
                nodes=nodes.ids[mine].tolist(),
                workloads=[
                    w.id for w, q in zip(inventory.workloads, workload_part, strict=True) if q == p
                ],
                zones=sorted(set(nodes.zone[mine].tolist())),
                gpus=int(nodes.gpus[mine].sum()),
            )
        )
    return Split(out, by, level, notes)


class _Nodes:
    """Every node of the inventory, groups expanded, in the order of the domain."""

    def __init__(self, inventory: Inventory):
        entries = inventory.nodes
        counts = np.array([n.count for n in entries], dtype=np.int64)
        self.entry = np.repeat(np.arange(len(entries)), counts)
        self.ids = np.array([i for ids in expanded_node_ids(inventory) for i in ids], dtype=object)
        racks = []
        for n in entries:
            block = ["-"] * n.count
            if n.rack:
                for rack, idx in zip(
                    n.rack, np.array_split(np.arange(n.count), len(n.rack)), strict=True
                ):
                    for k in idx:
                        block[k] = rack
            racks += block
        self.rack = np.array(racks, dtype=object)
        self.zone = np.array([entries[e].zone or "-" for e in self.entry], dtype=object)
        self.region = np.array([entries[e].region or "-" for e in self.entry], dtype=object)
        self.gpu_type = np.array([entries[e].gpu_type or "-" for e in self.entry], dtype=object)
        self.gpus = np.array([n.gpus for n in entries], dtype=np.int64)[self.entry]


def _nodes_by_zone(nodes: _Nodes, parts: int) -> tuple[np.ndarray, str]:
    """Whole zones to parts, balanced by GPUs; with too few zones, racks, then nodes."""
    weight = nodes.gpus.astype(float) if nodes.gpus.sum() > 0 else np.ones(len(nodes.ids))
    zones = sorted(set(nodes.zone.tolist()))
    if len(zones) >= parts:
        unit_of = np.array([zones.index(z) for z in nodes.zone])
        return _largest_first(unit_of, weight, parts), "zone"
    racks = [
        f"{z}\0{r}" if r != "-" else f"{z}\0\0{i}"
        for z, r, i in zip(nodes.zone, nodes.rack, nodes.ids, strict=True)
    ]
    for level, keys in (
        ("rack", racks),
        ("node", [f"{z}\0{i}" for z, i in zip(nodes.zone, nodes.ids, strict=True)]),
    ):
        names = sorted(set(keys))
        if len(names) < parts:
            continue
        index = {k: u for u, k in enumerate(names)}
        unit_of = np.array([index[k] for k in keys])
        node_part = _within_zones(unit_of, nodes, weight, parts)
        if len(np.unique(node_part)) < parts:  # one unit larger than a part's share
            node_part = _largest_first(unit_of, weight, parts)
        return node_part, level
    raise AssertionError("fewer nodes than parts")  # split_inventory checked


def _largest_first(unit_of: np.ndarray, weight: np.ndarray, parts: int) -> np.ndarray:
    """Units, heaviest first, each to the lightest part so far."""
    units = np.bincount(unit_of, weights=weight)
    load = np.zeros(parts)
    part_of_unit = np.empty(len(units), dtype=np.int64)
    for u in np.argsort(-units, kind="stable"):
        p = int(np.argmin(load))
        part_of_unit[u] = p
        load[p] += units[u]
    return part_of_unit[unit_of]


def _within_zones(unit_of: np.ndarray, nodes: _Nodes, weight: np.ndarray, parts: int) -> np.ndarray:
    """Each zone gets parts in proportion to its GPUs (at least one), and its units
    (racks, or nodes) are dealt to its own parts so that every part keeps the zone's mix of
    GPU types: units of one type, heaviest first, each to the zone's part holding the
    least of that type so far (then the least in all). A part never spans two zones."""
    zones = sorted(set(nodes.zone.tolist()))
    zone_of = np.array([zones.index(z) for z in nodes.zone])
    zone_w = np.bincount(zone_of, weights=weight, minlength=len(zones))
    share = zone_w / zone_w.sum() * parts
    count = np.maximum(1, np.floor(share)).astype(np.int64)
    while count.sum() < parts:
        count[int(np.argmax(share - count))] += 1
    while count.sum() > parts:
        count[int(np.argmin(np.where(count > 1, share - count, np.inf)))] -= 1
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    units = np.bincount(unit_of, weights=weight)
    unit_zone = np.zeros(len(units), dtype=np.int64)
    unit_zone[unit_of] = zone_of
    unit_type = np.empty(len(units), dtype=object)
    unit_type[unit_of] = nodes.gpu_type
    types = sorted(set(unit_type.tolist()))
    held = np.zeros((parts, len(types)))
    part_of_unit = np.empty(len(units), dtype=np.int64)
    for u in sorted(range(len(units)), key=lambda u: (unit_type[u], -units[u], u)):
        z, t = unit_zone[u], types.index(unit_type[u])
        mine = np.arange(first[z], first[z] + count[z])
        p = mine[np.lexsort((held[mine].sum(axis=1), held[mine, t]))[0]]
        part_of_unit[u] = p
        held[p, t] += units[u]
    return part_of_unit[unit_of]


def _nodes_at_random(nodes: _Nodes, parts: int, rng: np.random.Generator) -> np.ndarray:
    """POP: each node group dealt at random into near-equal parts; the odd nodes of one
    group go to the parts that got fewer of the group before, so the parts stay equal."""
    node_part = np.empty(len(nodes.ids), dtype=np.int64)
    offset = 0
    for e in np.unique(nodes.entry):
        members = np.flatnonzero(nodes.entry == e)
        shuffled = rng.permutation(members)
        node_part[shuffled] = (np.arange(len(members)) + offset) % parts
        offset += len(members)
    return node_part


def _demand(w: WorkloadSpec) -> float:
    """GPUs a workload asks for at most (a throughput target counted in replicas of its
    best rate); work without GPUs weighs a little, so that it is dealt too."""
    r = w.resources
    per_replica = r.gpus or r.gpu_fraction or (1 / 7 if r.mig_profile else 0.0)
    if w.replicas is not None:
        replicas = float(w.replicas.max)
    elif w.throughput is not None:
        rates = [*w.throughput.per_replica.values()]
        rates += [x for v in w.variants for x in v.throughput.values()]
        best = max(rates, default=0.0)
        replicas = math.ceil(w.throughput.target / best) if best > 0 else 1.0
    else:
        replicas = 1.0
    return replicas * max(per_replica, 0.01)


def _gpu_types(w: WorkloadSpec) -> set[str] | None:
    """The GPU types a workload (any of its variants) may use; None for any."""
    if w.variants:
        if any(v.gpu_types is None for v in w.variants) and w.gpu_types is None:
            return None
        out: set[str] = set(w.gpu_types or ())
        for v in w.variants:
            out |= set(v.gpu_types or w.gpu_types or ())
        return out
    return None if w.gpu_types is None else set(w.gpu_types)


def _groups(workloads: list[WorkloadSpec]) -> list[list[int]]:
    """Workloads tied by affinity or anti-affinity, which must be planned together."""
    index = {w.id: i for i, w in enumerate(workloads)}
    parent = list(range(len(workloads)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, w in enumerate(workloads):
        for relation in (*w.affinity, *w.anti_affinity):
            j = index.get(relation.workload)
            if j is not None:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(workloads)):
        groups[root(i)].append(i)
    return list(groups.values())


def _deal_workloads(
    inventory: Inventory,
    nodes: _Nodes,
    node_part: np.ndarray,
    parts: int,
    by: str,
    rng: np.random.Generator,
    notes: list[str],
) -> np.ndarray:
    workloads = inventory.workloads
    types = sorted(set(nodes.gpu_type.tolist()))
    type_of = np.array([types.index(t) for t in nodes.gpu_type])
    capacity = np.zeros((parts, len(types)))
    np.add.at(capacity, (node_part, type_of), np.maximum(nodes.gpus, 1e-3))
    load = np.zeros_like(capacity)
    zones_in = [set(nodes.zone[node_part == p].tolist()) for p in range(parts)]
    regions_in = [set(nodes.region[node_part == p].tolist()) for p in range(parts)]
    out = np.zeros(len(workloads), dtype=np.int64)
    groups = _groups(workloads)
    running = _running_part(inventory, nodes, node_part)
    demand = np.array([sum(_demand(workloads[i]) for i in g) for g in groups])
    # Random: shuffled, then by size, dealt in turn; by zone: largest first, each to
    # the part least loaded against its GPUs of the types the group uses.
    order = rng.permutation(len(groups))
    order = order[np.argsort(-demand[order], kind="stable")]
    unplaceable = 0
    for turn, g in enumerate(order):
        members = [workloads[i] for i in groups[g]]
        mask = np.ones(len(nodes.ids), dtype=bool)
        allowed = [t for t in (_gpu_types(w) for w in members) if t is not None]
        for w in members:
            if w.zones:
                mask &= np.isin(nodes.zone, w.zones)
            if w.regions:
                mask &= np.isin(nodes.region, w.regions)
        if allowed and (members[0].resources.gpus or members[0].resources.gpu_fraction):
            mask &= np.isin(nodes.gpu_type, sorted(set.union(*allowed)))
        eligible = np.unique(node_part[mask]).tolist() or list(range(parts))
        if not mask.any():
            unplaceable += 1
        wide = [p for p in eligible if _enough_domains(members, zones_in[p], regions_in[p])]
        eligible = wide or eligible
        here = [p for p in np.unique(running[groups[g]]).tolist() if p in eligible and p >= 0]
        if by == "zone" and here:  # where it runs now: moving it elsewhere forces moves
            eligible = here
        cols = np.unique(type_of[mask]) if mask.any() else np.arange(len(types))
        cap = capacity[np.ix_(eligible, cols)].sum(axis=1)
        score = (load[np.ix_(eligible, cols)].sum(axis=1) + demand[g]) / np.maximum(cap, 1e-9)
        if by == "random" and turn % parts in eligible:
            p = turn % parts
        else:
            p = eligible[int(np.argmin(score))]
        out[groups[g]] = p
        share = capacity[p, cols] / max(capacity[p, cols].sum(), 1e-9)
        load[p, cols] += demand[g] * share
    if unplaceable:
        notes.append(f"{unplaceable} workload group(s) fit no node of the fleet: dealt anyway")
    return out


def _running_part(inventory: Inventory, nodes: _Nodes, node_part: np.ndarray) -> np.ndarray:
    """Per workload, the part where most of its running replicas are (-1: none runs)."""
    where = dict(zip(nodes.ids.tolist(), node_part.tolist(), strict=True))
    out = np.full(len(inventory.workloads), -1, dtype=np.int64)
    index = {w.id: i for i, w in enumerate(inventory.workloads)}
    counts: dict[int, Counter[int]] = defaultdict(Counter)
    for row, on in inventory.current_placement.items():
        w = index.get(row.split("/", 1)[0])
        if w is not None:
            counts[w].update(where[n] for n in on if n in where)
    for w, c in counts.items():
        if c:
            out[w] = c.most_common(1)[0][0]
    return out


def _enough_domains(members: list[WorkloadSpec], zones: set[str], regions: set[str]) -> bool:
    """The part has the zones (regions) a spread or survive rule of the group asks for."""
    for w in members:
        needs = [(s.across, s.min_domains or 1) for s in w.spread]
        if w.survive in ("zone", "region"):
            needs.append((w.survive, 2))
        for scope, count in needs:
            if scope == "zone" and len(zones) < count:
                return False
            if scope == "region" and len(regions) < count:
                return False
    return True


def _documents(
    document: dict[str, Any],
    inventory: Inventory,
    nodes: _Nodes,
    node_part: np.ndarray,
    workload_part: np.ndarray,
    parts: int,
) -> list[dict[str, Any]]:
    """Each part's inventory document: the whole one with its nodes and workloads, and
    every limit the parts share divided between them."""
    raw_nodes: list[dict[str, Any]] = document["nodes"]
    raw_loads: list[dict[str, Any]] = document.get("workloads") or []
    part_nodes: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    for e, entry in enumerate(raw_nodes):
        members = np.flatnonzero(nodes.entry == e)
        owners = np.unique(node_part[members])
        if len(owners) == 1:
            part_nodes[int(owners[0])].append(entry)
            continue
        for k in members:  # a group cut between parts: its nodes one by one, ids kept
            single = {**entry, "id": str(nodes.ids[k]), "count": 1}
            single.pop("rack", None)
            if nodes.rack[k] != "-":
                single["rack"] = str(nodes.rack[k])
            part_nodes[int(node_part[k])].append(single)
    node_ids = [set(nodes.ids[node_part == p].tolist()) for p in range(parts)]
    ids_of = [
        {w.id for w, q in zip(inventory.workloads, workload_part, strict=True) if q == p}
        for p in range(parts)
    ]
    shares = _Shares(inventory, nodes, node_part, workload_part, parts)
    out = []
    for p in range(parts):
        doc = copy.deepcopy({k: v for k, v in document.items() if k not in ("nodes", "workloads")})
        doc["nodes"] = part_nodes[p]
        doc["workloads"] = [w for w, q in zip(raw_loads, workload_part, strict=True) if q == p]
        if parts > 1:
            if doc.get("name"):
                doc["name"] = f"{doc['name']}-part{p}"
            if "current_placement" in doc:
                doc["current_placement"] = {
                    row: kept
                    for row, on in doc["current_placement"].items()
                    if row.split("/", 1)[0] in ids_of[p]
                    and (kept := [n for n in on if n in node_ids[p]])
                }
            shares.apply(doc, p)
        out.append(doc)
    return out


class _Shares:
    """What part of each shared limit a part gets; the parts' portions add up to at most
    the whole, so the merged plan keeps within it."""

    def __init__(
        self,
        inventory: Inventory,
        nodes: _Nodes,
        node_part: np.ndarray,
        workload_part: np.ndarray,
        parts: int,
    ):
        self.parts = parts
        self.inventory = inventory
        self.node_part = node_part
        self.workload_part = workload_part
        self.nodes = nodes
        domain = build_domain(inventory) if inventory.topology is not None else None
        self.site = domain.fleet.site if domain is not None else None
        self.row = domain.fleet.row if domain is not None else None
        self.busy_w = domain.fleet.busy_w if domain is not None else None

    def _fraction(self, mask: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        w = np.ones(len(mask)) if weight is None else weight
        total = float(w[mask].sum())
        out = np.array([float(w[mask & (self.node_part == p)].sum()) for p in range(self.parts)])
        return out / total if total > 0 else np.full(self.parts, 1 / self.parts)

    def apply(self, doc: dict[str, Any], p: int) -> None:
        inv, loads = self.inventory, self.inventory.workloads
        floor = 1e-6  # limits must stay positive; a part with no share uses none of it
        if inv.storage:
            tb = np.array([w.storage.size_tb if w.storage else 0.0 for w in loads])
            gbps = np.array([w.storage.read_gbps if w.storage else 0.0 for w in loads])
            for system in doc["storage"]:
                for key, need in (("capacity_tb", tb), ("read_gbps", gbps)):
                    total = need.sum()
                    part = (
                        need[self.workload_part == p].sum() / total if total > 0 else 1 / self.parts
                    )
                    system[key] = max(system[key] * part, floor * system[key])
        if inv.shares is not None and inv.shares.tenants:
            types = self.nodes.gpu_type
            for tenant in doc["shares"]["tenants"].values():
                for gpu_type in tenant:
                    f = self._fraction(types == gpu_type, self.nodes.gpus.astype(float))[p]
                    tenant[gpu_type] = tenant[gpu_type] * f
        if inv.shares is not None and inv.shares.workloads:
            mine = {w.id for w, q in zip(loads, self.workload_part, strict=True) if q == p}
            doc["shares"]["workloads"] = {
                k: v for k, v in doc["shares"]["workloads"].items() if k in mine
            }
        cap = inv.objective.migration.max_moves
        if cap is not None:
            doc["objective"]["migration"]["max_moves"] = self._moves(cap, p)
        if inv.topology is not None and self.site is not None:
            self._topology(doc["topology"], p, floor)

    def _moves(self, cap: int, p: int) -> int:
        """The part's cap on moves: what the split forces (replicas running on another
        part's nodes) comes off the whole cap first, the rest in proportion to the
        replicas running in each part."""
        where = dict(zip(self.nodes.ids.tolist(), self.node_part.tolist(), strict=True))
        owner = {
            w.id: int(q) for w, q in zip(self.inventory.workloads, self.workload_part, strict=True)
        }
        running: Counter[int] = Counter()
        forced = 0
        for row, on in self.inventory.current_placement.items():
            q = owner.get(row.split("/", 1)[0])
            for n in on:
                if n in where and q is not None:
                    running[q] += 1
                    forced += where[n] != q
        total = sum(running.values())
        f = running[p] / total if total else 1 / self.parts
        return max(0, int((cap - forced) * f))

    def _topology(self, topology: dict[str, Any], p: int, floor: float) -> None:
        assert self.site is not None and self.row is not None and self.busy_w is not None
        for site in topology["sites"]:
            if site.get("power_cap_kw") is not None:
                f = self._fraction(self.site == site["id"], self.busy_w)[p]
                site["power_cap_kw"] = max(site["power_cap_kw"] * f, floor)
            for row in site.get("rows", []):
                if row.get("power_cap_kw") is not None:
                    f = self._fraction(self.row == row["id"], self.busy_w)[p]
                    row["power_cap_kw"] = max(row["power_cap_kw"] * f, floor)
            if site.get("rack_uplink_gbps") is not None:
                racks = [
                    *site.get("racks", []),
                    *(r for row in site.get("rows", []) for r in row["racks"]),
                ]
                cut = [self._fraction(self.nodes.rack == r)[p] for r in racks]
                mine = [f for f in cut if f > 0]
                if mine and min(mine) < 1:
                    site["rack_uplink_gbps"] = max(site["rack_uplink_gbps"] * min(mine), floor)
        for link in topology.get("wan", []):
            link["gbps"] = link["gbps"] / self.parts


# ---------------------------------------------------------------------------------------
# Planning the parts and merging them


def _plan_part(
    index: int, name: str, inventory: bytes, solver: str, options: SolveOptions
) -> PartResult:
    """In a worker: plan one part through the pipeline; any failure is the part's result."""
    started = time.perf_counter()
    try:
        outcome = solve_request(Request(name, inventory, solver, options))
    except InputError as exc:
        return PartResult(
            index, "failed", int(ExitCode.BAD_INPUT), None, str(exc), time.perf_counter() - started
        )
    except Exception as exc:  # one part's failure is reported, not raised
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return PartResult(
            index, "failed", int(ExitCode.INTERNAL), None, detail, time.perf_counter() - started
        )
    plan = outcome.plan
    return PartResult(
        index=index,
        status=plan.solver.status,
        exit_code=int(outcome.exit_code),
        plan=plan.model_dump(mode="json"),
        error="; ".join(str(v) for v in outcome.violations[:3]),
        wall_s=time.perf_counter() - started,
        objective=plan.objective.cost_per_hour,
        hard_shortfall=plan.objective.hard_shortfall,
        unplaced_priority=plan.objective.unplaced_priority,
    )


def solve_partitioned(
    path: str | Path,
    parts: int,
    by: str = "zone",
    solver: str = "auto",
    options: SolveOptions | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    inventory: bytes | None = None,
) -> PartitionedOutcome:
    """Plan the inventory at `path` (or its bytes, `inventory`) in `parts` parts, each with
    the whole time limit, at most `workers` at once; merge and check the plan."""
    options = options or SolveOptions()
    started = time.perf_counter()
    name = str(path)
    data = inventory if inventory is not None else Path(path).read_bytes()
    source = document_from_text(name, decode_text(name, data, "YAML or JSON"))
    whole = validate_document(source)  # the whole file's problems, located in it
    domain = build_domain(whole, name=Path(name).stem)
    split = split_inventory(source.data, parts, by, options.seed)
    stem = Path(name).stem
    tasks = [
        (p.index, f"{stem}.part{p.index}.json", json.dumps(p.document).encode())
        for p in split.parts
    ]
    if parts == 1:
        results = [_plan_part(i, n, b, solver, options) for i, n, b in tasks]
        where = "in process"
    else:
        runner = open_engine(engine, workers or min(parts, os.cpu_count() or 1), address)
        try:
            pool = runner.executor()
            futures = [pool.submit(_plan_part, i, n, b, solver, options) for i, n, b in tasks]
            results = [f.result() for f in futures]
            where = runner.describe()
        finally:
            runner.close()
    ref = InventoryRef(name=domain.name, path=name, sha256=hashlib.sha256(data).hexdigest())
    plan = merge(domain, ref, split, results, solver, options, time.perf_counter() - started)
    return PartitionedOutcome(
        domain=domain,
        plan=plan,
        violations=check_plan(domain, plan),
        split=split,
        parts=results,
        engine=where,
        wall_s=time.perf_counter() - started,
    )


def merge(
    domain: Domain,
    ref: InventoryRef,
    split: Split,
    results: list[PartResult],
    solver: str,
    options: SolveOptions,
    wall_s: float,
) -> PlanFile:
    """One plan of the whole inventory from the parts' placements; every figure in it is
    computed again over the whole (unplaced replicas and their reasons, moves, power)."""
    plans = [PlanFile.model_validate(r.plan) for r in results if r.plan is not None]
    placements = [pl for plan in plans for pl in plan.placements]
    storage = [s for plan in plans for s in plan.storage]
    if plans:
        carrier = plans[0].model_copy(update={"placements": placements, "storage": storage})
        replicas = replicas_of(domain, carrier, "a part's plan")
    else:
        from allocator.domain.replicas import Replicas

        replicas = Replicas.build([], [], [], len(domain.fleet), len(domain.demand))
    values = level_values(reduce(domain), replicas)
    levels = [
        LevelReport(name=n, value=v, bound=None, gap=None, status="feasible", how="parts merged")
        for n, v in zip(level_names(domain), values, strict=True)
    ]
    notes = [
        f"split by {split.by} into {len(split.parts)} parts"
        + (f" (cut along {split.level}s)" if split.level != "zone" and split.by == "zone" else ""),
        *split.notes,
        *(
            f"part {r.index}: {r.status}, {len(split.parts[r.index].nodes)} nodes, "
            f"{len(split.parts[r.index].workloads)} workloads, {r.wall_s:.2f} s"
            for r in results
        ),
    ]
    report = SolverReport(
        name=f"{solver}, {len(split.parts)} parts by {split.by}",
        status="feasible",
        objective=values[-1],
        bound=None,
        gap=None,
        time_limit_s=options.time_limit,
        build_s=0.0,
        solve_s=max((r.wall_s for r in results), default=0.0),
        total_s=wall_s,
        levels=levels,
        notes=notes,
        interrupted=False,
    )
    warnings = [
        f"part {r.index} of {len(results)} has no plan: {r.error}"
        for r in results
        if r.plan is None
    ] + [
        f"part {r.index} of {len(results)} left required replicas unplaced "
        f"(shortfall {r.hard_shortfall:g})"
        for r in results
        if r.plan is not None and r.hard_shortfall > 0
    ]
    written = plan_file(domain, ref, replicas, report)
    return written.model_copy(update={"warnings": warnings})
