"""What each blocking family costs to lift, in words: the reason, and the change that
places the workload (nodes to add, kW of cap, types to allow, rules to loosen), each
verified by solving again."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from allocator.domain.scopes import SCOPES
from allocator.domain.tables import Fleet
from allocator.domain.units import NIC_UNLIMITED
from allocator.evaluate.diagnose import where_nodes_are
from allocator.explain.lifts import (
    MAX_ADDED_NODES,
    Doc,
    add_nodes,
    replicas_wanted,
    sites,
    ways,
    workload_spec,
)
from allocator.explain.solving import BoundedSolver, Solved
from allocator.inventory.catalog import resolve_gpu_types
from allocator.inventory.schema import Inventory

if TYPE_CHECKING:
    from allocator.explain.families import Relaxation

MAX_PRICED_TYPES = 3  # node types whose count is searched, cheapest first


POWER_TRIES = 3  # the kW a relaxed plan needs, then twice, then four times


EPS = 1e-6


@dataclass(frozen=True)
class Evidence:
    """What a blocking family's words are made of: the plan before, the plan with the
    family (and its partner, for a pair) lifted, and the solver to verify a priced change
    with the partners still lifted."""

    wid: str
    before: Solved
    lifted: Solved
    partners: tuple[Relaxation, ...]
    solver: BoundedSolver
    reached_before: float
    wanted: float  # max replicas, or the throughput target

    @property
    def goal(self) -> float:
        """What the lifted plan reaches, counted up to what the workload wants: the mark a
        priced change must reach."""
        return min(self.lifted.reached(self.wid), self.wanted)

    @property
    def spec(self) -> dict:
        return workload_spec(self.before.doc, self.wid)

    def with_partners(self) -> Doc:
        """The document before, with the other families of the pair lifted."""
        doc = copy.deepcopy(self.before.doc)
        for other in self.partners:
            other.lift(doc, self.wid)
        return doc

    def lifted_nodes(self) -> np.ndarray:
        return self.lifted.nodes_of(self.wid)


@dataclass(frozen=True)
class Verdict:
    """One family's part of a finding: why it blocks, the change that lifts it, and the
    plan that change was verified with (None: the lifted plan itself)."""

    why: str
    change: str
    verified: Solved | None = None


def per_hour(delta: float) -> str:
    """A change of $/h with its sign: +$4.00/h, -$1.50/h."""
    return f"{'-' if delta < -EPS else '+'}${abs(delta):,.2f}/h"


def _nodes(count: int) -> str:
    return f"{count} node" if count == 1 else f"{count} nodes"


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in sorted(set(values)))


def gpu_type_words(ev: Evidence) -> Verdict:
    allowed = {t for way in ways(ev.spec) for t in way.get("gpu_types", [])}
    fleet_types = {t.name for t in ev.before.domain.fleet.gpu_types}
    used = set(ev.lifted.domain.fleet.gpu_type_names[ev.lifted_nodes()].tolist()) - allowed
    why = f"it may only run on {_names(allowed)}; " + (
        f"the fleet has {_names(fleet_types) or 'no GPUs'}"
        if not allowed & fleet_types
        else "the nodes with those GPUs cannot take more of it"
    )
    kinds = "GPU types" if len(used) > 1 else "GPU type"
    change = f"allow {kinds} {_names(used)}" if used else "drop its gpu_types restriction"
    return Verdict(why, change)


def gpu_memory_words(ev: Evidence) -> Verdict:
    """No GPU it may use has the memory: name known types that have it. Some have, but
    they are full: name the smaller GPUs the lifted plan runs it on instead."""
    res = ev.spec["resources"]
    memory, gpus = float(res.get("gpu_memory_gib", 0)), int(res.get("gpus", 0))
    per_gpu = memory / gpus if gpus else memory
    demand = ev.before.domain.demand
    fleet = ev.before.domain.fleet
    allowed = demand.allowed_types[demand.index[ev.wid]]
    sizes = {t.name: t.memory_gib for t, ok in zip(fleet.gpu_types, allowed, strict=True) if ok}
    largest = max(sizes.values(), default=0)
    over = f" over {gpus} GPUs ({per_gpu:g} GiB per GPU)" if gpus > 1 else ""
    if largest < per_gpu:
        known = resolve_gpu_types(Inventory.model_validate(ev.before.doc)).values()
        enough = sorted((t for t in known if t.memory_gib >= per_gpu), key=lambda t: t.memory_gib)
        examples = ", ".join(f"{t.name} ({t.memory_gib:g} GiB)" for t in enough[:3])
        return Verdict(
            f"needs {memory:g} GiB of GPU memory{over}; the GPUs it may use have at most "
            f"{largest:g} GiB",
            f"allow GPU types with at least {per_gpu:g} GiB per GPU"
            + (f", e.g. {examples}" if examples else "; no known type has that much"),
        )
    used = set(ev.lifted.domain.fleet.gpu_type_names[ev.lifted_nodes()].tolist())
    smaller = {t: sizes[t] for t in used if t in sizes and sizes[t] < per_gpu}
    fits = min(smaller.values(), default=largest)
    return Verdict(
        f"needs {memory:g} GiB of GPU memory{over}; the GPUs with that much are full, and "
        f"those with room ({_names(smaller) or 'none'}) have {fits:g} GiB",
        f"fit a replica in {fits:g} GiB per GPU, or add GPUs with at least {per_gpu:g} GiB",
    )


def place_words(kind: str) -> Callable[[Evidence], Verdict]:
    """The words of the `regions` (`kind` region) or `zones` restriction."""
    field_name = f"{kind}s"

    def words(ev: Evidence) -> Verdict:
        allowed = set(ev.spec.get(field_name, []))
        where = getattr(ev.lifted.domain.fleet, kind)[ev.lifted_nodes()].astype(str)
        used = set(where.tolist()) - allowed
        return Verdict(
            f"it may only run in {kind} {_names(allowed)}",
            f"allow {kind} {_names(used)}" if used else f"drop its {field_name} restriction",
        )

    return words


def node_label_words(ev: Evidence) -> Verdict:
    selector = ev.spec.get("node_selector", {})
    wanted = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
    fleet = ev.lifted.domain.fleet
    nodes = ev.lifted_nodes()
    lacking = [
        n
        for n in nodes
        if any(fleet.label_sets[fleet.label_set[n]].get(k) != v for k, v in selector.items())
    ]
    entries = _names(ev.lifted.doc["nodes"][fleet.entry[n]]["id"] for n in lacking)
    return Verdict(
        f"it only runs on nodes labelled {wanted}",
        f"label nodes {entries} with {wanted}" if entries else "drop its node_selector",
    )


def taint_words(ev: Evidence) -> Verdict:
    fleet = ev.lifted.domain.fleet
    tolerated = set(ev.spec.get("tolerations", []))
    met = set().union(*(fleet.taint_sets[s] for s in fleet.taint_set[ev.lifted_nodes()]))
    return Verdict(
        f"the nodes it could use have taints it does not tolerate ({_names(met - tolerated)})",
        f"tolerate {_names(met - tolerated)}",
    )


def spread_words(ev: Evidence) -> Verdict:
    """Most per place: the fewest that hold the lifted plan's replicas over the places it
    may use, verified by a solve (else the most the lifted plan puts in one place); fewest
    places: as many as the lifted plan uses."""
    domain, nodes = ev.lifted.domain, ev.lifted_nodes()
    families = domain.demand.families
    usable = domain.compatible[families.rows(families.index[ev.wid])].any(axis=0)
    rules = ev.spec.get("spread", [])
    why, tight, loose = [], [], []
    for rule in rules:
        scope = rule["across"]
        code = domain.scopes.code(SCOPES.index(scope))
        places = len(np.unique(code[usable]))
        per_place = np.unique(code[nodes], return_counts=True)[1]
        most, fewest = rule.get("max_per_domain"), rule.get("min_domains")
        changed = {}
        if most:
            why.append(f"at most {most} per {scope} over the {places} {scope}(s) it may use")
            changed["max_per_domain"] = (
                max(most, math.ceil(len(nodes) / max(places, 1))),
                max(most, int(per_place.max(initial=0))),
            )
        if fewest:
            why.append(f"in at least {fewest} {scope}s; it may use {places}")
            changed["min_domains"] = (min(fewest, len(per_place)),) * 2
        tight.append({**rule, **{k: v[0] for k, v in changed.items()}})
        loose.append({**rule, **{k: v[1] for k, v in changed.items()}})
    doc = ev.with_partners()
    workload_spec(doc, ev.wid)["spread"] = tight
    solved = ev.solver.solve(doc)
    verified = solved is not None and solved.reached(ev.wid) >= ev.goal - EPS
    chosen = tight if verified else loose
    changes = [
        f"{key} across {old['across']} {old[key]} -> {new[key]}"
        for old, new in zip(rules, chosen, strict=True)
        for key in ("max_per_domain", "min_domains")
        if old.get(key) and new[key] != old[key]
    ]
    return Verdict(
        "its spread rule keeps it " + " and ".join(why),
        "set " + ", ".join(changes) if changes else "drop its spread rule",
        solved if verified else None,
    )


def survive_words(ev: Evidence) -> Verdict:
    scope = ev.spec["survive"]
    keep = "its throughput target" if ev.spec.get("throughput") else "its min replicas"
    return Verdict(
        f"losing any one {scope} must still leave {keep}",
        f"drop survive: {scope} (or survive a smaller loss)",
    )


def gang_words(ev: Evidence) -> Verdict:
    gang, wanted = ev.spec["gang"], replicas_wanted(ev.spec)
    within = gang.get("within")
    reached = ev.lifted.reached(ev.wid)
    where = f" inside one {within}" if within else ""
    if reached < wanted or not within:
        change = f"drop its gang rule: {reached:g} of {wanted} replicas fit"
    else:
        code = ev.lifted.domain.scopes.code(SCOPES.index(within))[ev.lifted_nodes()]
        change = f"let the gang span {len(np.unique(code))} {within}s (drop gang.within)"
    return Verdict(f"all {wanted} replicas or none{where}", change)


def relation_words(field_name: str, verb: str) -> Callable[[Evidence], Verdict]:
    """The words of its affinity or anti-affinity rules (`verb`: one rule, in words)."""

    def words(ev: Evidence) -> Verdict:
        rules = [(r["workload"], r.get("scope", "node")) for r in ev.spec.get(field_name, [])]
        if field_name == "anti_affinity":
            rules += [
                (w["id"], r.get("scope", "node"))
                for w in ev.before.doc["workloads"]
                for r in w.get(field_name, [])
                if r["workload"] == ev.wid
            ]
        said = "; ".join(verb.format(scope=scope, other=other) for other, scope in rules)
        kind = field_name.replace("_", "-")
        return Verdict(f"it {said}", f"drop its {kind} with {_names(o for o, _ in rules)}")

    return words


def tenancy_words(ev: Evidence) -> Verdict:
    domain = ev.lifted.domain
    tenants = ev.before.domain.rules.dedicated
    own = str(ev.spec.get("tenant") or "")
    nodes = np.unique(ev.lifted_nodes())
    rows = (
        np.unique(ev.lifted.figures.counts[nodes].tocoo().col) if len(nodes) else np.zeros(0, int)
    )
    beside = set(domain.demand.tenant[rows].astype(str).tolist()) - {own}
    blocking = ({own} & tenants) | (beside & tenants) or set(tenants)
    why = (
        f"its tenant {own} is dedicated, so it shares no node with {_names(beside) or 'others'}"
        if own in tenants
        else f"dedicated tenant {_names(blocking)} keeps the nodes it could share"
    )
    change = "; ".join(f"let tenant {t} share nodes (dedicated: false)" for t in sorted(blocking))
    return Verdict(why, change)


def node_state_words(ev: Evidence) -> Verdict:
    fleet = ev.lifted.domain.fleet
    before = ev.before.domain.fleet
    state = _per_lifted_node(before.ids, before.state, fleet.ids, "up")
    idle = state != "up"
    mine = np.unique(ev.lifted_nodes())
    woken = mine[idle[mine]]
    others = not len(woken)
    if others:
        woken = np.flatnonzero(idle & ev.lifted.figures.in_use)
    states = " or ".join(sorted(set(state[woken].tolist())))
    where = where_nodes_are(ev.lifted.domain, woken)
    ids = ", ".join(fleet.ids[woken[:5]].astype(str)) + (" ..." if len(woken) > 5 else "")
    doc = ev.with_partners()
    _wake(doc, before, np.array([before.index[i] for i in fleet.ids[woken]], dtype=np.int64))
    solved = ev.solver.solve(doc)
    verified = solved is not None and solved.reached(ev.wid) >= ev.goal - EPS
    why = (
        f"other workloads would move to the {states} nodes in {where} and leave room for it"
        if others
        else f"the suitable nodes in {where} are {states}"
    )
    return Verdict(
        why,
        f"bring {ids} back up" + ("" if where.startswith(ids) else f" ({where})"),
        solved if verified else None,
    )


def _wake(doc: Doc, fleet: Fleet, nodes: np.ndarray) -> None:
    """Bring up only `nodes` (of `fleet`, the fleet of the document's entries): an entry
    of which only some nodes wake is split into one entry per node, each keeping its id
    and rack."""
    waking = np.zeros(len(fleet), dtype=bool)
    waking[nodes] = True
    for e in sorted(set(fleet.entry[nodes].tolist()), reverse=True):
        members = np.flatnonzero(fleet.entry == e)
        original = doc["nodes"][e]
        if waking[members].all():
            original.pop("state", None)
            continue
        singles = []
        for n in members.tolist():
            single = {**copy.deepcopy(original), "id": str(fleet.ids[n]), "count": 1}
            if original.get("rack"):
                single["rack"] = [str(fleet.rack[n])]
            if waking[n]:
                single.pop("state", None)
            singles.append(single)
        doc["nodes"][e : e + 1] = singles


def power_words(ev: Evidence) -> Verdict:
    caps = _power_caps(ev.before.doc)
    over = {
        key: use.kw - caps[key]
        for use in ev.lifted.plan.power
        if (key := (use.scope, use.id)) in caps and use.kw > caps[key] + EPS
    }
    if not over:
        return Verdict("its power caps are reached", "raise the power caps")
    why = "; ".join(f"{s} {i}'s power cap ({caps[(s, i)]:g} kW) is reached" for s, i in over)
    goal = ev.goal
    for factor in (2**k for k in range(POWER_TRIES)):
        raise_kw = {key: math.ceil(kw * factor * 10) / 10 for key, kw in over.items()}
        doc = ev.with_partners()
        _set_power_caps(doc, {key: caps[key] + kw for key, kw in raise_kw.items()})
        solved = ev.solver.solve(doc)
        if solved is not None and solved.reached(ev.wid) >= goal - EPS:
            change = " and ".join(
                f"raise {s} {i}'s power cap by {kw:g} kW (to {caps[(s, i)] + kw:g} kW)"
                for (s, i), kw in raise_kw.items()
            )
            return Verdict(why, change, solved)
    total = sum(over.values())
    return Verdict(why, f"raise the power caps by more than {total:.1f} kW in all")


def _power_caps(doc: Doc) -> dict[tuple[str, str], float]:
    caps = {}
    for site in sites(doc):
        if site.get("power_cap_kw"):
            caps[("site", site["id"])] = float(site["power_cap_kw"])
        for row in site.get("rows", []):
            if row.get("power_cap_kw"):
                caps[("row", row["id"])] = float(row["power_cap_kw"])
    return caps


def _set_power_caps(doc: Doc, caps: dict[tuple[str, str], float]) -> None:
    for site in sites(doc):
        if ("site", site["id"]) in caps:
            site["power_cap_kw"] = caps[("site", site["id"])]
        for row in site.get("rows", []):
            if ("row", row["id"]) in caps:
                row["power_cap_kw"] = caps[("row", row["id"])]


def network_words(ev: Evidence) -> Verdict:
    before = ev.before.domain
    changes = []
    if before.network is not None:
        capacity = {
            before.network.link_name(k): float(c)
            for k, c in enumerate(before.network.capacity_gbps)
        }
        changes += [
            f"+{link.gbps - capacity[link.link]:.1f} Gbps on link {link.link}"
            for link in ev.lifted.plan.links
            if link.link in capacity and link.gbps > capacity[link.link] + EPS
        ]
    figures, lifted_fleet = ev.lifted.figures, ev.lifted.domain.fleet
    used = figures.counts @ ev.lifted.domain.demand.net_mbps
    nic = _per_lifted_node(before.fleet.ids, before.fleet.nic_mbps, lifted_fleet.ids, NIC_UNLIMITED)
    tight = np.flatnonzero((used > nic) & (nic < NIC_UNLIMITED))
    if len(tight):
        changes.append(
            f"NICs of {used[tight].max() / 1000:g} Gbps (now {nic[tight].min() / 1000:g}) on "
            f"{where_nodes_are(ev.lifted.domain, tight)}"
        )
    return Verdict(
        "the network links or NICs its traffic crosses are full",
        " and ".join(changes) or "more network bandwidth",
    )


def _per_lifted_node(
    ids: np.ndarray, values: np.ndarray, lifted_ids: np.ndarray, missing: Any
) -> np.ndarray:
    """A per-node value of the fleet before, for each node of a lifted fleet (`missing` for
    the nodes a relaxation added)."""
    order = np.argsort(ids.astype(str))
    sorted_ids = ids.astype(str)[order]
    at = np.clip(np.searchsorted(sorted_ids, lifted_ids.astype(str)), 0, len(ids) - 1)
    known = sorted_ids[at] == lifted_ids.astype(str)
    return np.where(known, values[order][at], missing)


def storage_words(ev: Evidence) -> Verdict:
    before, lifted = ev.before.domain.storage, ev.lifted.domain.storage
    changes = []
    if before is not None and lifted is not None:
        stored = {s.system: 0.0 for s in ev.lifted.plan.storage}
        for s in ev.lifted.plan.storage:
            stored[s.system] += s.size_tb
        reads = ev.lifted.figures.storage_reads_mbps
        for k, sid in enumerate(before.ids):
            extra_tb = stored.get(str(sid), 0.0) - float(before.capacity_tb[k])
            extra_gbps = (reads[lifted.index[sid]] - before.read_mbps[k]) / 1000
            if extra_tb > EPS:
                changes.append(f"+{extra_tb:g} TB on {sid}")
            if extra_gbps > EPS:
                changes.append(f"+{extra_gbps:g} Gbps of reads on {sid}")
    dataset = ev.spec["storage"]
    return Verdict(
        f"its dataset ({dataset['size_tb']:g} TB, tier {dataset.get('tier', 'object')} or "
        f"faster) finds no storage system with the space or read throughput left",
        " and ".join(changes) or "more storage space or read throughput",
    )


def capacity_words(ev: Evidence) -> Verdict:
    """The node type to add, and how many: among the added types the lifted plan runs
    anything on, then those the workload could run on, cheapest first, the count each
    needs (searched by solving); the winner places the most, then leaves the plan the
    cheapest, then costs the least itself."""
    start = ev.with_partners()
    first_copy = len(start["nodes"])
    lifted = ev.lifted.domain
    families = lifted.demand.families
    usable = lifted.compatible[families.rows(families.index[ev.wid])].any(axis=0)
    copies = lifted.fleet.entry >= first_copy
    used = np.unique(lifted.fleet.entry[ev.lifted.figures.in_use & copies]) - first_copy
    could = np.unique(lifted.fleet.entry[usable & copies]) - first_copy

    def price(e: int) -> float:
        return float(start["nodes"][e]["cost_per_hour"])

    entries = list(dict.fromkeys([*sorted(used, key=price), *sorted(could, key=price)]))
    goal = ev.goal
    bound = min(replicas_wanted(ev.spec), MAX_ADDED_NODES)
    options = []
    for entry in entries[:MAX_PRICED_TYPES]:
        found = _fewest_nodes(ev, start, int(entry), goal, bound)
        if found is not None:
            count, solved = found
            rank = (
                -min(solved.reached(ev.wid), goal),
                solved.cost,
                count * price(entry),
                int(entry),
            )
            options.append((rank, count, int(entry), solved))
    why = "the nodes it may use are full"
    if not options:
        return Verdict(why, "add nodes like the ones it may use")
    (_, _, total, _), count, entry, solved = min(options, key=lambda o: o[0])
    node = start["nodes"][entry]
    shape = f"{node['gpus']} x {node['gpu_type']}, " if node.get("gpus") else ""
    added = solved.domain.fleet.entry[solved.nodes_of(ev.wid)] >= first_copy
    moved = "" if added.any() else "; other workloads move onto them and leave room for it"
    return Verdict(
        why,
        f"{_nodes(count).replace(' ', ' more ', 1)} of type {node['id']} ({shape}"
        f"${node['cost_per_hour']:g}/h each, ${total:g}/h in all){moved}",
        solved,
    )


def _fewest_nodes(
    ev: Evidence, start: Doc, entry: int, goal: float, bound: int
) -> tuple[int, Solved] | None:
    """Fewest nodes like entry `entry` that let the workload reach `goal`: 1, 2, 4 ... up
    to `bound`, then halving the gap, each count verified by a solve. When no count
    reaches the goal, `bound` nodes if they place more than before, else None."""

    def reaches(count: int) -> tuple[bool, Solved | None]:
        doc = copy.deepcopy(start)
        add_nodes(doc, entry, count)
        solved = ev.solver.solve(doc)
        return solved is not None and solved.reached(ev.wid) >= goal - EPS, solved

    low, count = 0, 1
    while True:
        ok, solved = reaches(count)
        if ok:
            break
        if count >= bound:
            more = solved is not None and solved.reached(ev.wid) > ev.reached_before + EPS
            return (count, solved) if more and solved is not None else None
        low, count = count, min(count * 2, bound)
    assert solved is not None
    found = (count, solved)
    while found[0] - low > 1:
        middle = (low + found[0]) // 2
        ok, solved = reaches(middle)
        if ok and solved is not None:
            found = (middle, solved)
        else:
            low = middle
    return found
