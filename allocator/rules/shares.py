"""GPU shares: a tenant (or a workload) listed in the inventory's `shares` uses at most its
share of each GPU type, rounded up to whole replicas. The shares are what `allocator
share` computes (a fair-share policy over GPU types); this rule makes a plan realize them.

Table: per entry (tenants, then workloads) the subject, the GPU type and its share S in
GPUs. A listed subject is capped on every GPU type of the fleet (0 on those it does not
list); subjects not listed are not capped.
Cap, per subject a and GPU type k, with u(a,k) the GPUs of a's largest replica that may run
on k (a fraction or a MIG instance counted as its share of one GPU):
  C(a,k) = max(ceil(S(a,k) / u(a,k) - 1e-6) u(a,k),  GPUs a runs now on draining k nodes)
so the share can be met with whole replicas and is never passed by a whole one: a plan
uses less than S(a,k) + u(a,k). Replicas pinned to draining nodes always fit.
Model, with gpus(w) the GPUs of one replica of row w:
  share[a,k]   sum over rows w of a and groups g of type k of gpus(w) assign[w,g] <= C(a,k)
A cap, not a target with a penalty: see docs/share.md ("From shares to placement").
Greedy: a node of type k takes at most floor((C(a,k) - held(a,k)) / u) more replicas of a
workload of a (u: its largest replica that may run on k); repair drops, per (a, k) in plan
order (replicas on draining nodes first), those past the cap.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from allocator.domain.grouping import group_keys
from allocator.inventory.catalog import resolve_gpu_types
from allocator.io.validation import suggest
from allocator.rules.base import Placed, Report, RuleFamily, Violation

if TYPE_CHECKING:
    from allocator.domain.tables import Domain
    from allocator.heuristics.counts import PlaceCounts
    from allocator.inventory.schema import Inventory, SharesSpec
    from allocator.model.context import ModelContext

NO_TENANT = "-"  # the tenant of workloads that name none, as `allocator share` names it
KINDS = ("tenant", "workload")
TOLERANCE = 1e-6  # GPUs: what solvers and the shares' own rounding may add


@dataclass(frozen=True, eq=False)
class ShareTable:
    """The `shares` section as arrays, one entry per (subject, GPU type) listed."""

    subjects: tuple[tuple[str, ...], tuple[str, ...]]  # listed tenants, listed workloads
    kind: np.ndarray  # 0 tenant, 1 workload
    subject: np.ndarray  # index into subjects[kind]
    gpu_type: np.ndarray  # GPU type name (str)
    gpus: np.ndarray  # the share, in GPUs

    @property
    def empty(self) -> bool:
        return not any(self.subjects)


def table(inventory: Inventory) -> ShareTable:
    spec = inventory.shares
    sections = (spec.tenants, spec.workloads) if spec is not None else ({}, {})
    entries = [
        (kind, i, gpu_type, float(gpus))
        for kind, section in enumerate(sections)
        for i, per_type in enumerate(section.values())
        for gpu_type, gpus in per_type.items()
    ]
    kind, subject, gpu_type, gpus = zip(*entries, strict=True) if entries else ((), (), (), ())
    return ShareTable(
        subjects=(tuple(sections[0]), tuple(sections[1])),
        kind=np.array(kind, dtype=np.int64),
        subject=np.array(subject, dtype=np.int64),
        gpu_type=np.array(gpu_type, dtype=object),
        gpus=np.array(gpus, dtype=np.float64),
    )


def problems(inv: Inventory, report: Report) -> None:
    shares_problems(inv, inv.shares, report)


def shares_problems(inv: Inventory, spec: SharesSpec | None, report: Report) -> None:
    """Every tenant, workload and GPU type the section names exists (a share for a type
    the catalog knows but no node has is allowed: it caps nothing)."""
    if spec is None:
        return
    types = resolve_gpu_types(inv)
    tenants = {w.tenant or w.labels.get("tenant", "") or NO_TENANT for w in inv.workloads}
    workloads = {w.id for w in inv.workloads}
    for name in spec.tenants:
        if name not in tenants:
            report(
                ("shares", "tenants", name),
                f"no workload has tenant {name!r}"
                + (suggest(name, tenants) or f"; tenants: {', '.join(sorted(tenants)) or 'none'}"),
            )
    for name in spec.workloads:
        if name not in workloads:
            report(
                ("shares", "workloads", name),
                f"unknown workload {name!r}{suggest(name, workloads)}",
            )
    for section in ("tenants", "workloads"):
        for name, per_type in getattr(spec, section).items():
            for gpu_type in per_type:
                if gpu_type not in types:
                    report(
                        ("shares", section, name, gpu_type),
                        f"unknown GPU type {gpu_type!r}{suggest(gpu_type, types)}; known "
                        f"types: {', '.join(sorted(types))}",
                    )


@dataclass(frozen=True, eq=False)
class Ledger:
    """One kind of subject (tenants or workloads), per subject and fleet GPU type."""

    kind: str  # "tenant" or "workload"
    names: tuple[str, ...]
    of_row: np.ndarray  # subject of each demand row, -1 where not capped
    share: np.ndarray  # (subjects x K) GPUs
    unit: np.ndarray  # (subjects x K) GPUs of the largest replica that may run there
    cap: np.ndarray  # (subjects x K) the share rounded up to whole replicas

    def label(self, s: int) -> str:
        return f"{self.kind} {self.names[s]}"


_LEDGERS: weakref.WeakKeyDictionary[Domain, tuple[Ledger, ...]] = weakref.WeakKeyDictionary()


def ledgers(domain: Domain) -> tuple[Ledger, ...]:
    """The ledgers of the kinds the inventory caps (none without a `shares` section)."""
    found = _LEDGERS.get(domain)
    if found is None:
        t = domain.rules.shares
        found = tuple(
            _ledger(domain, k) for k in range(len(KINDS)) if not t.empty and t.subjects[k]
        )
        _LEDGERS[domain] = found
    return found


def _ledger(domain: Domain, kind: int) -> Ledger:
    t = domain.rules.shares
    fleet, demand = domain.fleet, domain.demand
    names = t.subjects[kind]
    if kind == 0:
        who = np.where(demand.account == "", NO_TENANT, demand.account).astype(str)
    else:
        who = demand.families.ids[demand.family].astype(str)
    of_row = _position(np.array(names, dtype=str), who)

    type_index = {g.name: i for i, g in enumerate(fleet.gpu_types)}
    n_types = len(fleet.gpu_types)
    mine = t.kind == kind
    k = np.array([type_index.get(str(name), -1) for name in t.gpu_type[mine]], dtype=np.int64)
    share = np.zeros((len(names), n_types))
    np.add.at(share, (t.subject[mine][k >= 0], k[k >= 0]), t.gpus[mine][k >= 0])

    gpus = demand.gpu_equivalents
    r, kk = np.nonzero(demand.allowed_types & (of_row >= 0)[:, None] & (gpus > 0)[:, None])
    unit = np.zeros_like(share)
    np.maximum.at(unit, (of_row[r], kk), gpus[r])
    whole = np.ceil(np.divide(share, unit, out=np.zeros_like(share), where=unit > 0) - TOLERANCE)
    cap = np.where(unit > 0, np.maximum(whole, 0) * unit, share)
    return Ledger(KINDS[kind], names, of_row, share, unit, np.maximum(cap, _pinned(domain, of_row)))


def _position(names: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value among `names`, -1 where absent."""
    order = np.argsort(names)
    at = np.searchsorted(names[order], values)
    at = np.minimum(at, max(len(names) - 1, 0))
    hit = (names[order][at] == values) if len(names) else np.zeros(len(values), dtype=bool)
    return np.where(hit, order[at] if len(names) else -1, -1)


def _pinned(domain: Domain, of_row: np.ndarray) -> np.ndarray:
    """(subjects x K) GPUs each subject runs now on draining nodes, which keep them."""
    fleet = domain.fleet
    out = np.zeros((int(of_row.max(initial=-1)) + 1, len(fleet.gpu_types)))
    draining = np.flatnonzero(fleet.state == "draining")
    if not len(draining) or not len(out):
        return out if len(out) else np.zeros((0, len(fleet.gpu_types)))
    running = domain.running_now[draining].tocoo()
    node, row = draining[running.row], running.col
    k, s = fleet.gpu_type[node], of_row[row]
    ok = (k >= 0) & (s >= 0)
    np.add.at(out, (s[ok], k[ok]), running.data[ok] * domain.demand.gpu_equivalents[row[ok]])
    return out


def usage(domain: Domain, placed: Placed, ledger: Ledger) -> np.ndarray:
    """(subjects x K) GPUs the placed replicas hold, per subject and GPU type."""
    out = np.zeros_like(ledger.share)
    s = ledger.of_row[placed.row]
    k = domain.fleet.gpu_type[placed.node]
    ok = (s >= 0) & (k >= 0)
    np.add.at(out, (s[ok], k[ok]), domain.demand.gpu_equivalents[placed.row[ok]])
    return out


def model_rows(ctx: ModelContext) -> None:
    gpus = ctx.inst.domain.demand.gpu_equivalents
    for ledger in ledgers(ctx.inst.domain):
        s = ledger.of_row[ctx.pairs.w]
        k = ctx.inst.groups.gpu_type[ctx.pairs.g]
        cols = np.flatnonzero((s >= 0) & (k >= 0) & (gpus[ctx.pairs.w] > 0))
        if not len(cols):
            continue
        keys, row = group_keys(s[cols], k[cols])
        rows = ctx.b.add_rows(
            f"share_{ledger.kind}", len(keys), hi=ledger.cap[keys[:, 0], keys[:, 1]]
        )
        ctx.b.add_entries(rows, row, ctx.assign, cols, gpus[ctx.pairs.w[cols]])


class Held:
    """GPUs each capped subject holds of each type as a greedy placement grows. A replica
    counts as its workload's largest way to run on the type, so the room left is never
    too much; `repair` then counts each replica as it is."""

    def __init__(self, domain: Domain, found: tuple[Ledger, ...]):
        demand = domain.demand
        families = demand.families
        self.ledgers = found
        self.gpu_type = domain.fleet.gpu_type
        self.held = [np.zeros_like(ledger.cap) for ledger in found]
        self.subject = [ledger.of_row[families.first_row] for ledger in found]
        fits = demand.allowed_types * demand.gpu_equivalents[:, None]
        self.unit = np.zeros((len(families), len(domain.fleet.gpu_types)))
        np.maximum.at(self.unit, demand.family, fits)

    @classmethod
    def of(cls, domain: Domain) -> Held | None:
        found = ledgers(domain)
        return cls(domain, found) if found else None

    def take(self, f: int, nodes: np.ndarray, counts: np.ndarray) -> None:
        k = self.gpu_type[nodes]
        ok = k >= 0
        for held, subject in zip(self.held, self.subject, strict=True):
            if subject[f] >= 0:
                np.add.at(held[subject[f]], k[ok], counts[ok] * self.unit[f, k[ok]])

    def room(self, f: int, nodes: np.ndarray, many: int) -> np.ndarray | None:
        out = None
        k = self.gpu_type[nodes]
        unit = np.where(k >= 0, self.unit[f, np.maximum(k, 0)], 0.0)
        for ledger, held, subject in zip(self.ledgers, self.held, self.subject, strict=True):
            s = int(subject[f])
            if s < 0:
                continue
            left = ledger.cap[s, np.maximum(k, 0)] - held[s, np.maximum(k, 0)]
            fits = np.floor(np.divide(left, unit, out=np.zeros(len(k)), where=unit > 0) + 1e-9)
            cap = np.where(unit > 0, np.maximum(fits, 0), many).astype(np.int64)
            out = cap if out is None else np.minimum(out, cap)
        return out


def room(counts: PlaceCounts, f: int, nodes: np.ndarray) -> np.ndarray | None:
    held = counts.shares
    return None if held is None else held.room(f, nodes, counts.many)


def repair(domain: Domain, placed: Placed) -> np.ndarray:
    drop = np.zeros(len(placed.row), dtype=bool)
    gpus = domain.demand.gpu_equivalents[placed.row]
    k = domain.fleet.gpu_type[placed.node]
    kept_now = domain.fleet.state[placed.node] == "draining"
    for ledger in ledgers(domain):
        s = ledger.of_row[placed.row]
        rep = np.flatnonzero((s >= 0) & (k >= 0) & (gpus > 0))
        if not len(rep):
            continue
        keys, key_of = group_keys(s[rep], k[rep])
        # Per (subject, type), in plan order with what draining nodes keep first: the
        # replicas past the cap go.
        order = np.lexsort((rep, ~kept_now[rep], key_of))
        total = np.cumsum(gpus[rep][order])
        first = np.searchsorted(key_of[order], key_of[order])
        before = np.concatenate([[0.0], total])[first]
        cap = ledger.cap[keys[:, 0], keys[:, 1]][key_of[order]]
        drop[rep[order][total - before > cap + TOLERANCE]] = True
    return drop


def check(domain: Domain, placed: Placed) -> list[Violation]:
    out = []
    for ledger in ledgers(domain):
        used = usage(domain, placed, ledger)
        over = used > ledger.cap + TOLERANCE
        for s, k in zip(*np.nonzero(over), strict=True):
            out.append(
                Violation(
                    "shares",
                    f"{ledger.label(int(s))}: {_gpus(used[s, k])} "
                    f"{domain.fleet.gpu_types[k].name} GPUs placed, over its share of "
                    f"{_gpus(ledger.share[s, k])} (at most {_gpus(ledger.cap[s, k])} in whole "
                    "replicas)",
                )
            )
    return out


def target_and_placed(domain: Domain, placed: Placed) -> list[dict[str, object]]:
    """Per capped tenant (or workload) and GPU type it may use or holds: its share, the
    cap in whole replicas and the GPUs the plan places, for the report."""
    types = domain.fleet.gpu_types
    out: list[dict[str, object]] = []
    for ledger in ledgers(domain):
        used = usage(domain, placed, ledger)
        shown = (ledger.share > 0) | (used > 0)
        for s, k in zip(*np.nonzero(shown), strict=True):
            out.append(
                {
                    "kind": ledger.kind,
                    "name": ledger.names[s],
                    "gpu_type": types[k].name,
                    "share": round(float(ledger.share[s, k]), 6),
                    "cap": round(float(ledger.cap[s, k]), 6),
                    "placed": round(float(used[s, k]), 6),
                    "within": bool(used[s, k] <= ledger.cap[s, k] + TOLERANCE),
                }
            )
    return out


def describe(domain: Domain, f: int) -> list[str]:
    row = int(domain.demand.families.first_row[f])
    types = domain.fleet.gpu_types
    out = []
    for ledger in ledgers(domain):
        s = int(ledger.of_row[row])
        if s >= 0:
            caps = ", ".join(
                f"{types[k].name} {_gpus(ledger.cap[s, k])}"
                for k in np.flatnonzero(ledger.unit[s] > 0)
            )
            out.append(f"{ledger.label(s)}'s GPU share ({caps or 'no GPU'})")
    return out


def _gpus(value: float) -> str:
    return f"{round(float(value), 3):g}"


FAMILY = RuleFamily(
    name="shares",
    problems=problems,
    model_rows=model_rows,
    room=room,
    repair=repair,
    check=check,
    describe=describe,
)
