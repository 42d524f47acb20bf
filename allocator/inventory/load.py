"""Loading an inventory file: syntax, schema, then cross-references.

Every problem found is reported at once (InputError), each naming file, entry and field.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from allocator.inventory.catalog import BUILTIN_GPU_TYPES, GpuType, resolve_gpu_types
from allocator.inventory.schema import (
    MAX_NODES,
    MAX_REPLICAS,
    MAX_TOTAL_REPLICAS,
    Inventory,
    ResourcesSpec,
    SharesFile,
    expanded_node_ids,
    row_id,
)
from allocator.io.errors import InputError, InputProblem
from allocator.io.source import SourceDocument, document_from_text, read_document
from allocator.io.validation import problem_at, suggest, translate
from allocator.rules import FAMILIES
from allocator.rules.shares import shares_problems

SUPPORTED_VERSION = 1


def load_inventory(path: str | Path) -> Inventory:
    """Read and fully validate an inventory file."""
    return validate_document(read_document(path))


def inventory_from_text(name: str, text: str) -> Inventory:
    """Fully validate the text of the inventory file `name`."""
    return validate_document(document_from_text(name, text))


def validate_document(doc: SourceDocument) -> Inventory:
    _require_inventory_shape(doc)
    try:
        inventory = Inventory.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(translate(doc, Inventory, exc)) from None
    problems = cross_reference_problems(doc, inventory)
    if problems:
        raise InputError(problems)
    return inventory


def with_shares(inventory: Inventory, name: str, text: str) -> Inventory:
    """The inventory with its `shares` section replaced by that of the document `allocator
    share` wrote (the text of the file `name`); problems are located in that file."""
    doc = document_from_text(name, text)
    if not isinstance(doc.data, dict):
        raise InputError.single(
            doc.path, "not a shares document: expected the JSON `allocator share -o` writes", line=1
        )
    try:
        spec = SharesFile.model_validate(doc.data).shares
    except ValidationError as exc:
        raise InputError(translate(doc, SharesFile, exc)) from None
    problems: list[InputProblem] = []
    shares_problems(
        inventory, spec, lambda loc, message: problems.append(problem_at(doc, loc, message))
    )
    if problems:
        raise InputError(problems)
    return inventory.model_copy(update={"shares": spec})


def _require_inventory_shape(doc: SourceDocument) -> None:
    """Recognise files that are not inventories before schema errors drown the point."""
    data = doc.data
    expected = (
        "expected an allocator inventory: a mapping with 'version: 1', 'nodes' and 'workloads'"
    )
    if not isinstance(data, dict):
        found = type(data).__name__ if data is not None else "nothing"
        found = {"list": "a list", "str": "plain text", "int": "a number", "float": "a number"}.get(
            found, found
        )
        raise InputError.single(doc.path, f"not an inventory: {expected}; found {found}", line=1)
    keys = set(map(str, data))
    if "plan_version" in keys:
        raise InputError.single(
            doc.path, "this is an allocator plan, not an inventory; pass the inventory file", line=1
        )
    if data.get("kind") == "reassignment":
        raise InputError.single(
            doc.path,
            "this is a reassignment file, not an inventory; use 'allocator reassign'",
            line=1,
        )
    if {"apiVersion", "kind"} <= keys:
        raise InputError.single(
            doc.path,
            f"this is a Kubernetes object (kind {data.get('kind')!r}), not an inventory; "
            "use 'allocator import kubernetes' to convert cluster state",
            line=1,
        )
    if not keys & {"version", "nodes", "workloads"}:
        shown = ", ".join(sorted(keys)[:8]) or "none"
        raise InputError.single(
            doc.path, f"not an inventory: {expected}; found keys: {shown}", line=1
        )
    version = data.get("version")
    if "version" in data and version != SUPPORTED_VERSION and isinstance(version, int):
        raise InputError.single(
            doc.path,
            f"unsupported inventory version {version}; this allocator reads version "
            f"{SUPPORTED_VERSION}",
            **_where(doc, ("version",)),
        )


def _where(doc: SourceDocument, loc: tuple) -> dict[str, Any]:
    position = doc.position(loc)
    return {"line": position[0], "column": position[1]} if position else {}


def cross_reference_problems(doc: SourceDocument, inv: Inventory) -> list[InputProblem]:
    problems: list[InputProblem] = []

    def report(loc: tuple, message: str) -> None:
        problems.append(problem_at(doc, loc, message))

    _size_problems(inv, report)
    if problems:  # nothing is expanded past the documented limits
        return problems

    for name, spec in inv.gpu_types.items():
        if name not in BUILTIN_GPU_TYPES and spec.memory_gib is None:
            report(
                ("gpu_types", name),
                "missing required field 'memory_gib' (a new GPU type "
                f"needs its memory; built-in types: {', '.join(BUILTIN_GPU_TYPES)})",
            )
    gpu_types = resolve_gpu_types(inv)

    def check_gpu_type(loc: tuple, name: str) -> None:
        if name not in gpu_types:
            report(
                loc,
                f"unknown GPU type {name!r}{suggest(name, gpu_types)}; known types: "
                f"{', '.join(sorted(gpu_types))} (add new ones under gpu_types)",
            )

    for i, node in enumerate(inv.nodes):
        if node.gpus > 0 and node.gpu_type is None:
            report(
                ("nodes", i, "gpu_type"),
                f"missing required field 'gpu_type' (the node has {node.gpus} GPUs)",
            )
        if node.gpu_type is not None:
            if node.gpus == 0:
                report(
                    ("nodes", i, "gpus"),
                    f"expected a positive number of GPUs for gpu_type {node.gpu_type!r}, got 0",
                )
            check_gpu_type(("nodes", i, "gpu_type"), node.gpu_type)
        if node.rack is not None and len(node.rack) > node.count:
            report(
                ("nodes", i, "rack"),
                f"{len(node.rack)} racks listed for a group of "
                f"{node.count} node(s); expected at most {node.count}",
            )

    node_ids = expanded_node_ids(inv)
    _report_duplicates(report, "nodes", [n.id for n in inv.nodes], "node")
    owner: dict[str, int] = {}
    for i, ids in enumerate(node_ids):
        for node_id in ids:
            first = owner.get(node_id)
            if first is not None and inv.nodes[first].id != inv.nodes[i].id:
                mine = "of this group " if inv.nodes[i].count > 1 else ""
                theirs = "a node of the group " if inv.nodes[first].count > 1 else ""
                report(
                    ("nodes", i, "id"),
                    f"node id {node_id!r} {mine}is also the id of "
                    f"{theirs}nodes[{first}] ({inv.nodes[first].id!r})",
                )
            owner.setdefault(node_id, i)

    _report_duplicates(report, "workloads", [w.id for w in inv.workloads], "workload")
    for i, w in enumerate(inv.workloads):
        _check_resources(report, ("workloads", i), w.resources, w.gpu_types, gpu_types)
        for k, name in enumerate(w.gpu_types or []):
            check_gpu_type(("workloads", i, "gpu_types", k), name)
        for k, v in enumerate(w.variants):
            loc = ("workloads", i, "variants", k)
            allowed = v.gpu_types if v.gpu_types is not None else w.gpu_types
            _check_resources(report, loc, v.resources, allowed, gpu_types)
            for j, name in enumerate(v.gpu_types or []):
                check_gpu_type((*loc, "gpu_types", j), name)
            for name in v.throughput:
                check_gpu_type((*loc, "throughput", name), name)
        if w.throughput is not None:
            for name in w.throughput.per_replica:
                check_gpu_type(("workloads", i, "throughput", "per_replica", name), name)
    _workload_rule_problems(inv, report)

    workloads = {w.id: w for w in inv.workloads}
    rows = {row_id(w.id, v.name): w for w in inv.workloads for v in w.variants}
    for workload_id, placed_on in inv.current_placement.items():
        loc = ("current_placement", workload_id)
        w = workloads.get(workload_id) or rows.get(workload_id)
        if w is None:
            report(loc, f"unknown workload {workload_id!r}{suggest(workload_id, workloads)}")
            continue
        if w.replicas is not None and len(placed_on) > w.replicas.max:
            report(
                loc,
                f"{len(placed_on)} running replicas listed but the workload has at most "
                f"{w.replicas.max}",
            )
        for k, node_id in enumerate(placed_on):
            if node_id not in owner:
                report((*loc, k), f"unknown node {node_id!r}{suggest(node_id, owner)}")
    problems += _storage_and_topology_problems(doc, inv, report)
    return problems


def _size_problems(inv: Inventory, report: Any) -> None:
    """The fleet and the demand within the documented limits, judged before any node group
    is expanded or any replica counted out: nodes in all, and replicas wanted in all
    (a throughput target without `replicas.max` wants as many as the slowest way needs)."""
    nodes = sum(n.count for n in inv.nodes)
    if nodes > MAX_NODES:
        report(
            ("nodes",),
            f"{nodes:,} nodes in all (node groups counted); at most {MAX_NODES:,} are planned",
        )
    total = 0
    for i, w in enumerate(inv.workloads):
        wanted = w.replicas.max if w.replicas is not None else 0
        if w.throughput is not None and w.replicas is None:
            rates = [r for r in w.throughput.per_replica.values() if r > 0]
            rates += [r for v in w.variants for r in v.throughput.values() if r > 0]
            if rates:
                wanted = math.ceil(w.throughput.target / min(rates)) * (2 if w.survive else 1)
                if wanted > MAX_REPLICAS:
                    report(
                        ("workloads", i, "throughput", "target"),
                        f"the target needs {wanted:,} replicas at the slowest rate given "
                        f"({min(rates):g}); at most {MAX_REPLICAS:,} are planned per workload "
                        "(give replicas.max, or a rate for each GPU type it runs on)",
                    )
        total += min(wanted, MAX_REPLICAS)
    if total > MAX_TOTAL_REPLICAS:
        report(
            ("workloads",),
            f"{total:,} replicas wanted in all; at most {MAX_TOTAL_REPLICAS:,} are planned",
        )


def _storage_and_topology_problems(doc: SourceDocument, inv: Inventory, report: Any) -> list:
    """References between nodes, racks, rows, sites and storage systems."""
    topology = inv.topology
    racks: dict[str, str] = {}  # rack -> site
    sites: set[str] = set()
    if topology is not None:
        _report_duplicates(report, "topology.sites", [s.id for s in topology.sites], "site")
        row_ids: list[str] = []
        for i, site in enumerate(topology.sites):
            sites.add(site.id)
            listed = [(("topology", "sites", i, "racks", k), r) for k, r in enumerate(site.racks)]
            for j, row in enumerate(site.rows):
                row_ids.append(row.id)
                listed += [
                    (("topology", "sites", i, "rows", j, "racks", k), r)
                    for k, r in enumerate(row.racks)
                ]
            for loc, rack in listed:
                if rack in racks:
                    report(loc, f"rack {rack!r} is listed twice (also in site {racks[rack]!r})")
                racks[rack] = site.id
        if len(set(row_ids)) != len(row_ids):
            dupes = sorted({r for r in row_ids if row_ids.count(r) > 1})
            report(("topology",), f"row ids must be unique; repeated: {', '.join(dupes)}")
        for i, link in enumerate(topology.wan):
            for k, site in enumerate(link.between):
                if site not in sites:
                    report(
                        ("topology", "wan", i, "between", k),
                        f"unknown site {site!r}{suggest(site, sites)}",
                    )
            if link.between[0] == link.between[1]:
                report(("topology", "wan", i, "between"), "a WAN link joins two different sites")
        links = {frozenset(link.between) for link in topology.wan}
        for i, route in enumerate(topology.routes):
            hops = [route.between[0], *route.via, route.between[1]]
            for site in hops:
                if site not in sites:
                    report(
                        ("topology", "routes", i),
                        f"unknown site {site!r}{suggest(site, sites)} in the route",
                    )
            for a, b in itertools.pairwise(hops):
                if a in sites and b in sites and frozenset((a, b)) not in links:
                    report(
                        ("topology", "routes", i, "via"),
                        f"no WAN link joins {a!r} and {b!r}, so the route cannot pass between them",
                    )
        for i, node in enumerate(inv.nodes):
            if not node.rack:
                report(
                    ("nodes", i, "rack"),
                    "missing required field 'rack' (with a topology, "
                    "every node sits in one of its racks)",
                )
                continue
            for k, rack in enumerate(node.rack):
                if rack not in racks:
                    loc = ("nodes", i, "rack", k) if len(node.rack) > 1 else ("nodes", i, "rack")
                    report(
                        loc,
                        f"unknown rack {rack!r}{suggest(rack, racks)}; racks are listed "
                        "under topology.sites",
                    )

    _report_duplicates(report, "storage", [st.id for st in inv.storage], "storage system")
    for i, system in enumerate(inv.storage):
        if system.rack is not None and system.site is not None:
            report(("storage", i), "give either rack or site, not both")
        if topology is None:
            continue
        if system.rack is None and system.site is None:
            report(
                ("storage", i),
                "missing required field 'rack' or 'site' (where the system hangs off the network)",
            )
        if system.rack is not None and system.rack not in racks:
            report(
                ("storage", i, "rack"), f"unknown rack {system.rack!r}{suggest(system.rack, racks)}"
            )
        if system.site is not None and system.site not in sites:
            report(
                ("storage", i, "site"), f"unknown site {system.site!r}{suggest(system.site, sites)}"
            )
    for i, w in enumerate(inv.workloads):
        if w.storage is not None and not inv.storage:
            report(
                ("workloads", i, "storage"),
                "the workload needs a storage system but the inventory lists none under 'storage'",
            )
    return []


def _workload_rule_problems(inv: Inventory, report: Any) -> None:
    """Replica counts or a target, variants, priority classes, and each rule family's
    own checks (`allocator.rules`)."""
    ids = {w.id for w in inv.workloads}
    classes = list(inv.objective.priority_classes)
    _report_duplicates(report, "objective.priority_classes", classes, "priority class", key=None)
    for i, w in enumerate(inv.workloads):
        at = ("workloads", i)
        if w.replicas is None and w.throughput is None:
            report(
                (*at, "replicas"),
                "missing required field 'replicas' (a number, or {min, max}); it may be left "
                "out only with a throughput target",
            )
        names = [v.name for v in w.variants]
        for k, name in enumerate(names):
            if name in names[:k]:
                report((*at, "variants", k, "name"), f"duplicate variant name {name!r}")
            elif row_id(w.id, name) in ids:
                report(
                    (*at, "variants", k, "name"),
                    f"{row_id(w.id, name)!r} is also a workload id; rename the variant",
                )
        if w.throughput is not None:
            if not w.throughput.per_replica and not any(v.throughput for v in w.variants):
                report(
                    (*at, "throughput", "per_replica"),
                    "no throughput per replica is given: expected GPU type -> throughput "
                    "here or under variants[].throughput",
                )
            for k, v in enumerate(w.variants):
                if not v.throughput:
                    report(
                        (*at, "variants", k, "throughput"),
                        "missing throughput per GPU type (the workload has a throughput target)",
                    )
        if w.priority_class is not None and w.priority_class not in classes:
            report(
                (*at, "priority_class"),
                f"unknown priority class {w.priority_class!r}"
                f"{suggest(w.priority_class, classes)}; classes are listed under "
                f"objective.priority_classes ({', '.join(classes) or 'none listed'})",
            )
    for family in FAMILIES:
        if family.problems is not None:
            family.problems(inv, report)


def _report_duplicates(
    report: Any, section: str, ids: list[str], what: str, key: str | None = "id"
) -> None:
    counts = Counter(ids)
    firsts: dict[str, int] = {}
    for i, item_id in enumerate(ids):
        if counts[item_id] > 1:
            if item_id in firsts:
                label = f"{what} id" if key else what
                report(
                    (section, i, key) if key else (section, i),
                    f"duplicate {label} {item_id!r} (first used by {section}[{firsts[item_id]}])",
                )
            else:
                firsts[item_id] = i


def _check_resources(
    report: Any,
    loc: tuple,
    res: ResourcesSpec,
    allowed_types: list[str] | None,
    gpu_types: dict[str, GpuType],
) -> None:
    """One replica's needs: one way of asking for GPUs, in units the model can hold."""
    asks = [
        k
        for k, on in (
            ("gpus", res.gpus > 0),
            ("gpu_fraction", res.gpu_fraction),
            ("mig_profile", res.mig_profile),
        )
        if on
    ]
    if len(asks) > 1:
        report(
            (*loc, "resources"),
            f"{' and '.join(asks)} are both given; a "
            "replica asks for whole GPUs, a fraction of one GPU, or a MIG profile",
        )
    if allowed_types is not None and not asks:
        report(
            (*loc, "gpu_types"),
            "GPU types are given but the replica asks "
            "for no GPU; expected resources.gpus, gpu_fraction or mig_profile",
        )
    if res.gpu_memory_gib > 0 and not asks:
        report(
            (*loc, "resources", "gpu_memory_gib"),
            "GPU memory is asked for "
            "but the replica asks for no GPU; expected gpus, gpu_fraction or mig_profile",
        )
    if (
        res.gpu_fraction is not None
        and abs(res.gpu_fraction * 1000 - round(res.gpu_fraction * 1000)) > 1e-6
    ):
        report(
            (*loc, "resources", "gpu_fraction"),
            f"expected a multiple of 0.001, got {res.gpu_fraction}",
        )
    if res.mig_profile is not None:
        candidates = [gpu_types[t] for t in (allowed_types or gpu_types) if t in gpu_types]
        known = sorted({p for t in candidates for p in t.mig_profiles})
        if res.mig_profile not in known:
            report(
                (*loc, "resources", "mig_profile"),
                f"unknown MIG profile {res.mig_profile!r}{suggest(res.mig_profile, known)}"
                f"; profiles of the allowed GPU types: {', '.join(known) or 'none'}",
            )
