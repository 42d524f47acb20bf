"""Cost and utilization report of a plan, computed from the inventory and the plan file.

Node cost is attributed to workloads by their share of the node's GPUs (of its CPU
for CPU-only nodes); what no workload uses on a running node is reported as idle.
Renderers (terminal, JSON, Markdown here; HTML in `allocator.output.html`) only format
the numbers computed here, so every format shows the same figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from allocator.domain.grouping import group_keys
from allocator.domain.scopes import NO_SCOPE, SCOPES
from allocator.domain.tables import Domain, Fleet
from allocator.domain.units import HOURS_PER_MONTH, MIB_PER_GIB, MILLI, TIERS
from allocator.evaluate.figures import Figures
from allocator.output.plan import PlanFile, replicas_of
from allocator.rules.base import Placed
from allocator.rules.shares import target_and_placed

UNTENANTED = "untenanted"
MOVES_SHOWN = 25  # moves listed in the tables; the rest are counted
IDLE_EPSILON = 1e-9  # GPU-equivalents below this are rounding, not idle capacity


@dataclass
class Utilization:
    group: str
    nodes: int
    nodes_in_use: int
    cost_per_hour: float
    gpus_used: float
    gpus_total: float
    cpu_used: float
    cpu_total: float
    ram_used_gib: float
    ram_total_gib: float

    @property
    def gpu_pct(self) -> float | None:
        return 100 * self.gpus_used / self.gpus_total if self.gpus_total else None

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_used / self.cpu_total if self.cpu_total else 0.0

    @property
    def ram_pct(self) -> float:
        return 100 * self.ram_used_gib / self.ram_total_gib if self.ram_total_gib else 0.0


@dataclass
class WorkloadCost:
    workload: str
    priority: int
    placed: int
    wanted: int  # 0 for a workload sized by its throughput target
    required: int
    gpus: float
    cost_per_hour: float


@dataclass
class TenantCost:
    """Node cost attributed to one tenant's workloads (idle cost belongs to no tenant)."""

    tenant: str
    workloads: int
    replicas: int
    gpus: float
    cost_per_hour: float


@dataclass
class ZoneCost:
    """What a zone's running nodes cost, split into the workloads' share and idle, and
    the energy its nodes draw; storage and move costs belong to no zone."""

    zone: str
    nodes_in_use: int
    node_cost_per_hour: float
    workload_cost_per_hour: float
    idle_cost_per_hour: float
    energy_cost_per_hour: float


@dataclass
class Fragmentation:
    """Idle GPUs of one GPU type: stranded on nodes that run something (only replicas
    small enough fit there) or free on nodes that run nothing (room for any shape).
    Shared GPUs count by their share, so a partly used GPU strands its free fraction."""

    gpu_type: str
    nodes: int
    gpus: int
    gpus_used: float
    idle_on_partly_used: float
    idle_on_empty: float
    nodes_partly_used: int
    nodes_empty: int

    @property
    def stranded_pct(self) -> float | None:
        idle = self.idle_on_partly_used + self.idle_on_empty
        return 100 * self.idle_on_partly_used / idle if idle > IDLE_EPSILON else None


@dataclass
class RackGrid:
    """GPU utilization as a zones x racks matrix: row z lists zone z's racks in name
    order, padded with "" (and None figures) to the widest zone. A node without a zone or
    rack is in zone or rack "-"."""

    zones: list[str]
    racks: list[list[str]]
    gpus_used: list[list[float | None]]
    gpus_total: list[list[int | None]]
    gpu_pct: list[list[float | None]]


@dataclass
class Report:
    name: str
    solver: dict[str, Any]
    cost_per_hour: float
    idle_cost_per_hour: float
    nodes_in_use: int
    nodes_total: int
    gpus_used: float
    gpus_total: int
    workloads: list[WorkloadCost]
    zones: list[Utilization]
    racks: list[Utilization]
    unplaced: list[dict[str, Any]]
    moves: int
    notes: list[str] = field(default_factory=list)
    node_cost_per_hour: float = 0.0
    storage_cost_per_hour: float = 0.0
    energy_cost_per_hour: float = 0.0
    storage: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    power: list[dict[str, Any]] = field(default_factory=list)
    migration_cost_per_hour: float = 0.0
    moved_replicas: int = 0
    throughput: list[dict[str, Any]] = field(default_factory=list)
    spread: list[dict[str, Any]] = field(default_factory=list)
    preempted: list[dict[str, Any]] = field(default_factory=list)
    exposed: list[dict[str, Any]] = field(default_factory=list)
    cost_by_tenant: list[TenantCost] = field(default_factory=list)
    cost_by_zone: list[ZoneCost] = field(default_factory=list)
    fragmentation: list[Fragmentation] = field(default_factory=list)
    rack_grid: RackGrid = field(default_factory=lambda: RackGrid([], [], [], [], []))
    move_list: list[dict[str, str | None]] = field(default_factory=list)
    shares: list[dict[str, Any]] = field(default_factory=list)  # GPU share against placed

    @property
    def cost_per_month(self) -> float:
        return self.cost_per_hour * HOURS_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cost_per_month"] = self.cost_per_month
        for key in ("zones", "racks"):
            for row, util in zip(out[key], getattr(self, key), strict=True):
                row.update(gpu_pct=util.gpu_pct, cpu_pct=util.cpu_pct, ram_pct=util.ram_pct)
        for row, frag in zip(out["fragmentation"], self.fragmentation, strict=True):
            row["stranded_pct"] = frag.stranded_pct
        return out


def build_report(domain: Domain, plan: PlanFile, source: str = "plan") -> Report:
    """The report of a plan, its figures computed from its placements (`Figures`); a plan
    for another inventory is an InputError located in `source`."""
    fleet, demand = domain.fleet, domain.demand
    families = demand.families
    placement = replicas_of(domain, plan, source)
    figures = Figures(domain, placement)
    in_use = figures.in_use
    placed = placement.placed()
    gpus_f = families.total(demand.gpu_equivalents * placed)
    attributed_f = families.total(figures.attributed_cost)

    def breakdown(keys: np.ndarray) -> list[Utilization]:
        labels, of_node = np.unique(keys.astype(str), return_inverse=True)
        rows = []
        for k, label in enumerate(labels):
            mask = of_node == k
            rows.append(
                Utilization(
                    group=str(label),
                    nodes=int(mask.sum()),
                    nodes_in_use=int(in_use[mask].sum()),
                    cost_per_hour=float(fleet.cost[mask & in_use].sum()),
                    gpus_used=float(figures.gpus_used[mask].sum()),
                    gpus_total=float(fleet.gpus[mask].sum()),
                    cpu_used=float(figures.cpu_used_m[mask].sum() / MILLI),
                    cpu_total=float(fleet.cpu_m[mask].sum() / MILLI),
                    ram_used_gib=float(figures.ram_used_mib[mask].sum() / MIB_PER_GIB),
                    ram_total_gib=float(fleet.ram_mib[mask].sum() / MIB_PER_GIB),
                )
            )
        return rows

    unplaced: dict[str, dict[str, Any]] = {}
    for u in plan.unplaced:
        row = unplaced.setdefault(
            u.workload, {"workload": u.workload, "replicas": 0, "required": 0, "reason": u.reason}
        )
        row["replicas"] += 1
        row["required"] += int(u.required)

    solver = plan.solver
    terms = figures.objective_terms()
    return Report(
        name=plan.inventory.name,
        solver={
            "name": solver.name,
            "status": solver.status,
            "objective": solver.objective,
            "bound": solver.bound,
            "gap": solver.gap,
            "total_s": solver.total_s,
            "levels": [lv.model_dump() for lv in solver.levels],
        },
        cost_per_hour=terms["cost_per_hour"],
        idle_cost_per_hour=max(figures.node_cost - float(figures.attributed_cost.sum()), 0.0),
        nodes_in_use=int(in_use.sum()),
        nodes_total=len(fleet),
        gpus_used=round(float(figures.gpus_used.sum()), 3),
        gpus_total=int(fleet.gpus.sum()),
        workloads=[
            WorkloadCost(
                str(families.ids[f]),
                int(families.priority[f]),
                int(figures.placed[f]),
                0 if families.by_target[f] else int(families.max[f]),
                int(families.min[f]),
                round(float(gpus_f[f]), 3),
                float(attributed_f[f]),
            )
            for f in range(len(families))
        ],
        zones=breakdown(fleet.zone),
        racks=breakdown(
            np.array([f"{z}/{r}" for z, r in zip(fleet.zone, fleet.rack, strict=True)])
        ),
        unplaced=list(unplaced.values()),
        moves=len(plan.moves),
        notes=list(solver.notes),
        node_cost_per_hour=figures.node_cost,
        storage_cost_per_hour=figures.storage_cost,
        energy_cost_per_hour=figures.energy_cost,
        storage=_storage_rows(figures),
        links=_busiest_links(plan),
        power=_power_rows(domain, plan),
        migration_cost_per_hour=figures.migration_cost,
        moved_replicas=int(figures.moved.sum()),
        throughput=[t.model_dump() for t in plan.throughput],
        spread=_spread_rows(domain, placement.workload, placement.node),
        preempted=[p.model_dump() for p in plan.preempted],
        exposed=[e.model_dump() for e in plan.exposed],
        cost_by_tenant=_tenant_costs(domain, figures),
        cost_by_zone=_zone_costs(domain, figures),
        fragmentation=_fragmentation(fleet, figures.gpus_used),
        rack_grid=_rack_grid(fleet, figures.gpus_used),
        move_list=[m.model_dump() for m in plan.moves],
        shares=target_and_placed(domain, Placed(placement.workload, placement.node)),
    )


def _tenant_costs(domain: Domain, figures: Figures) -> list[TenantCost]:
    """Attributed cost, replicas and GPUs summed per tenant (its `tenant` field, else its
    "tenant" label), the costliest first."""
    demand = domain.demand
    families = demand.families
    names = demand.account[families.first_row].astype(str)
    names = np.where(names == "", UNTENANTED, names)
    labels, of_family = np.unique(names, return_inverse=True)
    size = len(labels)
    placement = figures.placement
    gpus = families.total(demand.gpu_equivalents * placement.placed())
    sums = {
        "workloads": np.bincount(of_family, minlength=size),
        "replicas": np.bincount(of_family, weights=figures.placed, minlength=size),
        "gpus": np.bincount(of_family, weights=gpus, minlength=size),
        "cost": np.bincount(
            of_family, weights=families.total(figures.attributed_cost), minlength=size
        ),
    }
    rows = [
        TenantCost(
            str(label),
            int(sums["workloads"][k]),
            int(sums["replicas"][k]),
            round(float(sums["gpus"][k]), 3),
            float(sums["cost"][k]),
        )
        for k, label in enumerate(labels)
    ]
    return sorted(rows, key=lambda row: (-row.cost_per_hour, row.tenant))


def _zone_costs(domain: Domain, figures: Figures) -> list[ZoneCost]:
    """Per zone: running nodes' cost, the share workloads use (a node's cost times its
    busy share, as `Figures.attributed_cost` attributes it), idle, and energy."""
    fleet = domain.fleet
    labels, of_node = np.unique(fleet.zone.astype(str), return_inverse=True)
    size = len(labels)
    running = figures.in_use
    node_cost = np.where(running, fleet.cost, 0.0)
    used_cost = node_cost * np.minimum(figures.busy_share, 1.0)
    energy = figures.power_w * domain.energy_price_per_wh
    sums = [
        np.bincount(of_node, weights=w, minlength=size)
        for w in (running.astype(np.float64), node_cost, used_cost, energy)
    ]
    return [
        ZoneCost(
            str(label),
            int(sums[0][k]),
            float(sums[1][k]),
            float(sums[2][k]),
            max(float(sums[1][k] - sums[2][k]), 0.0),
            float(sums[3][k]),
        )
        for k, label in enumerate(labels)
    ]


def _fragmentation(fleet: Fleet, gpus_used: np.ndarray) -> list[Fragmentation]:
    """Idle GPUs per GPU type, split by whether their node runs anything."""
    has_gpus = fleet.gpu_type >= 0
    kind = fleet.gpu_type[has_gpus]
    used = gpus_used[has_gpus]
    idle = np.maximum(fleet.gpus[has_gpus] - used, 0.0)
    empty = used <= IDLE_EPSILON
    partly = ~empty & (idle > IDLE_EPSILON)
    size = len(fleet.gpu_types)

    def per_type(weights: np.ndarray) -> np.ndarray:
        return np.bincount(kind, weights=weights, minlength=size)

    nodes = np.bincount(kind, minlength=size)
    sums = {
        "gpus": per_type(fleet.gpus[has_gpus].astype(np.float64)),
        "used": per_type(used),
        "stranded": per_type(np.where(partly, idle, 0.0)),
        "free": per_type(np.where(empty, idle, 0.0)),
        "partly": per_type(partly.astype(np.float64)),
        "empty": per_type(empty.astype(np.float64)),
    }
    return [
        Fragmentation(
            fleet.gpu_types[t].name,
            int(nodes[t]),
            int(sums["gpus"][t]),
            round(float(sums["used"][t]), 3),
            round(float(sums["stranded"][t]), 3),
            round(float(sums["free"][t]), 3),
            int(sums["partly"][t]),
            int(sums["empty"][t]),
        )
        for t in np.flatnonzero(nodes)
    ]


def _rack_grid(fleet: Fleet, gpus_used: np.ndarray) -> RackGrid:
    """Zones x racks matrix of GPU use; a rack name may repeat in several zones."""
    zones, zone_of = np.unique(fleet.zone.astype(str), return_inverse=True)
    racks, rack_of = np.unique(fleet.rack.astype(str), return_inverse=True)
    keys, cell_of = group_keys(zone_of.ravel(), rack_of.ravel())
    used = np.bincount(cell_of, weights=gpus_used, minlength=len(keys))
    total = np.bincount(cell_of, weights=fleet.gpus, minlength=len(keys)).astype(np.int64)
    column = np.arange(len(keys)) - np.searchsorted(keys[:, 0], keys[:, 0])
    width = int(column.max(initial=-1)) + 1
    names = np.full((len(zones), width), "", dtype=object)
    used_grid = np.full((len(zones), width), None, dtype=object)
    total_grid = np.full((len(zones), width), None, dtype=object)
    pct_grid = np.full((len(zones), width), None, dtype=object)
    at = (keys[:, 0], column)
    names[at] = racks[keys[:, 1]]
    used_grid[at] = [round(float(u), 3) for u in used]
    total_grid[at] = [int(t) for t in total]
    pct_grid[at] = [
        100 * float(u) / int(t) if t else None for u, t in zip(used, total, strict=True)
    ]
    return RackGrid(
        [str(z) for z in zones],
        [[str(n) for n in row] for row in names.tolist()],
        used_grid.tolist(),
        total_grid.tolist(),
        pct_grid.tolist(),
    )


def _spread_rows(domain: Domain, w: np.ndarray, n: np.ndarray) -> list[dict[str, Any]]:
    """Replicas per failure domain of each workload with a rule about domains."""
    demand, t = domain.demand, domain.rules
    families = demand.families
    rows = []
    for f in range(len(families)):
        scopes = [int(t.spread.scope[r]) for r in t.spread.of(f)]
        scopes += [int(t.survive[f]), int(t.gang.within[f]) if t.gang.member[f] else NO_SCOPE]
        mine = n[demand.family[w] == f]
        for scope in dict.fromkeys(s for s in scopes if s != NO_SCOPE):
            where = np.asarray(domain.scopes.names(scope))[domain.scopes.code(scope)]
            labels, counts = np.unique(where[mine].astype(str), return_counts=True)
            rows.append(
                {
                    "workload": str(families.ids[f]),
                    "scope": SCOPES[scope],
                    "domains": len(labels),
                    "replicas": {str(k): int(c) for k, c in zip(labels, counts, strict=True)},
                }
            )
    return rows


def _storage_rows(figures: Figures) -> list[dict[str, Any]]:
    domain = figures.domain
    systems, demand = domain.storage, domain.demand
    if systems is None or len(systems) == 0:
        return []
    choice = figures.placement.dataset_on
    if choice is None:
        choice = np.full(len(demand), -1, dtype=np.int64)
    on = np.flatnonzero(choice >= 0)
    datasets = np.bincount(choice[on], minlength=len(systems))
    size = np.bincount(choice[on], weights=demand.dataset_tb[on], minlength=len(systems))
    reads = figures.storage_reads_mbps
    return [
        {
            "system": str(sid),
            "tier": TIERS[systems.tier[s]],
            "datasets": int(datasets[s]),
            "used_tb": float(size[s]),
            "capacity_tb": float(systems.capacity_tb[s]),
            "read_gbps": float(reads[s] / 1000),
            "read_capacity_gbps": float(systems.read_mbps[s] / 1000),
            "cost_per_hour": float(size[s] * systems.cost_per_tb_hour[s]),
        }
        for s, sid in enumerate(systems.ids)
    ]


def _power_rows(domain: Domain, plan: PlanFile) -> list[dict[str, Any]]:
    """kW per row and site; energy $/h per site (price x PUE x kW)."""
    network = domain.network
    rows = []
    for use in plan.power:
        row = use.model_dump()
        if use.scope == "site" and network is not None:
            row["energy_cost_per_hour"] = (
                use.kw * network.energy_price.get(use.id, 0.0) * network.pue.get(use.id, 1.0)
            )
        rows.append(row)
    return rows


def _busiest_links(plan: PlanFile, top: int = 10) -> list[dict[str, Any]]:
    def utilization(link: Any) -> float:
        return link.gbps / link.capacity_gbps if link.capacity_gbps else 0.0

    ranked = sorted(plan.links, key=lambda link: (-utilization(link), -link.gbps))[:top]
    return [{**link.model_dump(), "utilization": utilization(link)} for link in ranked]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _counts(counts: dict[str, int], limit: int = 8) -> str:
    items = [f"{k}: {v}" for k, v in counts.items()]
    more = f", +{len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _num(value: float) -> str:
    """A count that may be fractional (shared GPUs), without float noise."""
    return f"{round(value, 3):g}"


@dataclass(frozen=True)
class ReportTable:
    """One section of the report as text: `key` names it for renderers that place
    sections themselves (HTML); `text_columns` are the columns aligned left."""

    key: str
    title: str
    header: list[str]
    rows: list[list[str]]
    text_columns: frozenset[int] = frozenset({0})


def report_tables(report: Report) -> list[ReportTable]:
    """Every section with something to show, in reading order; shared by the terminal,
    Markdown and HTML renderers so that they show the same text."""
    s = report.solver
    gap = "-" if s["gap"] is None else f"{s['gap']:.2e}"
    bound = "-" if s["bound"] is None else f"{s['bound']:,.4f}"
    summary = [
        ["cost", f"{_money(report.cost_per_hour)}/h  ({_money(report.cost_per_month)}/month)"],
    ]
    if report.storage_cost_per_hour or report.energy_cost_per_hour:
        summary.append(
            [
                "  of which",
                f"nodes {_money(report.node_cost_per_hour)}/h, storage "
                f"{_money(report.storage_cost_per_hour)}/h, energy "
                f"{_money(report.energy_cost_per_hour)}/h",
            ]
        )
    summary += [
        ["idle cost on running nodes", f"{_money(report.idle_cost_per_hour)}/h"],
        ["nodes in use", f"{report.nodes_in_use} / {report.nodes_total}"],
        ["GPUs in use", f"{report.gpus_used:g} / {report.gpus_total}"],
        [
            "solver",
            f"{s['name']}: {s['status']}, objective {s['objective']:,.4f}, bound {bound}, "
            f"gap {gap}, {s['total_s']:.2f} s",
        ],
    ]
    summary += [
        [f"  {lv['name']}", f"{lv['value']:,.4f} ({lv['status']}, {lv['how']})"]
        for lv in s["levels"]
    ]
    if report.moves:
        summary.append(
            [
                "moves against current placement",
                f"{report.moves} ({report.moved_replicas} running replica(s) leave their "
                f"node, {_money(report.migration_cost_per_hour)}/h move cost)",
            ]
        )
    workloads = [
        [
            wc.workload,
            str(wc.priority),
            f"{wc.placed}/{wc.wanted}" if wc.wanted else f"{wc.placed} (by target)",
            str(wc.required),
            str(wc.gpus),
            _money(wc.cost_per_hour),
            _money(wc.cost_per_hour * HOURS_PER_MONTH),
        ]
        for wc in sorted(report.workloads, key=lambda wc: -wc.cost_per_hour)
    ]

    def util_rows(rows: list[Utilization]) -> list[list[str]]:
        return [
            [
                u.group,
                f"{u.nodes_in_use}/{u.nodes}",
                _money(u.cost_per_hour),
                f"{u.gpus_used:g}/{u.gpus_total:g}",
                _pct(u.gpu_pct),
                _pct(u.cpu_pct),
                _pct(u.ram_pct),
            ]
            for u in rows
        ]

    util_header = ["nodes in use", "$/h", "GPUs", "GPU", "CPU", "RAM"]
    tables = [
        ReportTable("summary", "Summary", ["", ""], summary, frozenset({0, 1})),
        ReportTable(
            "workloads",
            "Cost per workload",
            ["workload", "priority", "placed", "min", "GPUs", "$/h", "$/month"],
            workloads,
        ),
        ReportTable(
            "tenants",
            "Cost per tenant",
            ["tenant", "workloads", "replicas", "GPUs", "$/h", "$/month"],
            [
                [
                    t.tenant,
                    str(t.workloads),
                    str(t.replicas),
                    _num(t.gpus),
                    _money(t.cost_per_hour),
                    _money(t.cost_per_hour * HOURS_PER_MONTH),
                ]
                for t in report.cost_by_tenant
            ],
        ),
        ReportTable(
            "zone_costs",
            "Cost per zone",
            ["zone", "nodes in use", "nodes $/h", "used $/h", "idle $/h", "energy $/h"],
            [
                [
                    z.zone,
                    str(z.nodes_in_use),
                    _money(z.node_cost_per_hour),
                    _money(z.workload_cost_per_hour),
                    _money(z.idle_cost_per_hour),
                    _money(z.energy_cost_per_hour),
                ]
                for z in report.cost_by_zone
            ],
        ),
        ReportTable(
            "zones", "Utilization per zone", ["zone", *util_header], util_rows(report.zones)
        ),
        ReportTable(
            "racks", "Utilization per rack", ["zone/rack", *util_header], util_rows(report.racks)
        ),
    ]
    if report.fragmentation:
        tables.append(
            ReportTable(
                "fragmentation",
                "GPU fragmentation",
                [
                    "GPU type",
                    "GPUs used",
                    "idle, stranded",
                    "idle on empty nodes",
                    "stranded share",
                    "nodes partly used / empty",
                ],
                [
                    [
                        f.gpu_type,
                        f"{_num(f.gpus_used)}/{f.gpus}",
                        _num(f.idle_on_partly_used),
                        _num(f.idle_on_empty),
                        _pct(f.stranded_pct),
                        f"{f.nodes_partly_used} / {f.nodes_empty} of {f.nodes}",
                    ]
                    for f in report.fragmentation
                ],
            )
        )
    if report.storage:
        tables.append(
            ReportTable(
                "storage",
                "Storage",
                ["system", "tier", "datasets", "TB", "read Gbps", "$/h"],
                [
                    [
                        r["system"],
                        r["tier"],
                        str(r["datasets"]),
                        f"{r['used_tb']:g}/{r['capacity_tb']:g}",
                        f"{r['read_gbps']:g}/{r['read_capacity_gbps']:g}",
                        _money(r["cost_per_hour"]),
                    ]
                    for r in report.storage
                ],
                frozenset({0, 1}),
            )
        )
    if report.links:
        tables.append(
            ReportTable(
                "links",
                "Busiest links",
                ["link", "Gbps", "capacity", "use"],
                [
                    [
                        r["link"],
                        f"{r['gbps']:g}",
                        "unlimited" if r["capacity_gbps"] is None else f"{r['capacity_gbps']:g}",
                        _pct(100 * r["utilization"]) if r["capacity_gbps"] else "-",
                    ]
                    for r in report.links
                ],
            )
        )
    if report.power:
        tables.append(
            ReportTable(
                "power",
                "Power",
                ["scope", "kW", "cap kW", "use", "energy $/h"],
                [
                    [
                        f"{r['scope']} {r['id']}",
                        f"{r['kw']:,.1f}",
                        "-" if r["cap_kw"] is None else f"{r['cap_kw']:,.1f}",
                        _pct(100 * r["kw"] / r["cap_kw"]) if r["cap_kw"] else "-",
                        _money(r["energy_cost_per_hour"]) if "energy_cost_per_hour" in r else "-",
                    ]
                    for r in report.power
                ],
            )
        )
    if report.throughput:
        tables.append(
            ReportTable(
                "throughput",
                "Throughput targets",
                [
                    "workload",
                    "target",
                    "reached",
                    "after worst loss",
                    "met",
                    "by GPU type",
                    "by variant",
                ],
                [
                    [
                        t["workload"],
                        f"{t['target']:,g} {t['unit']}",
                        f"{t['achieved']:,g}",
                        "-" if t["after_worst_loss"] is None else f"{t['after_worst_loss']:,g}",
                        "yes" if t["met"] else "NO",
                        _counts(t["replicas_by_gpu_type"]),
                        _counts(t["replicas_by_variant"]),
                    ]
                    for t in report.throughput
                ],
                frozenset({0, 5, 6}),
            )
        )
    unmet = [t for t in report.throughput if not t["met"]]
    if unmet:
        tables.append(
            ReportTable(
                "unmet",
                "Targets not met",
                ["workload", "reason"],
                [[t["workload"], t["reason"] or "-"] for t in unmet],
                frozenset({0, 1}),
            )
        )
    if report.shares:
        tables.append(
            ReportTable(
                "shares",
                "GPU shares: target against placed",
                ["tenant or workload", "GPU type", "share", "cap (whole replicas)", "placed"],
                [
                    [
                        r["name"] if r["kind"] == "tenant" else f"workload {r['name']}",
                        r["gpu_type"],
                        _num(r["share"]),
                        _num(r["cap"]),
                        _num(r["placed"]) + ("" if r["within"] else " (OVER)"),
                    ]
                    for r in report.shares
                ],
                frozenset({0, 1}),
            )
        )
    if report.spread:
        tables.append(
            ReportTable(
                "spread",
                "Spread per failure domain",
                ["workload", "scope", "domains", "replicas per domain"],
                [
                    [r["workload"], r["scope"], str(r["domains"]), _counts(r["replicas"])]
                    for r in report.spread
                ],
                frozenset({0, 1, 3}),
            )
        )
    if report.exposed:
        tables.append(
            ReportTable(
                "exposed",
                "Exposed to a single loss",
                ["workload", "losing", "leaves", "min"],
                [
                    [
                        e["workload"],
                        f"{e['scope']} {e['domain']}",
                        str(e["remaining"]),
                        str(e["min"]),
                    ]
                    for e in report.exposed
                ],
                frozenset({0, 1}),
            )
        )
    if report.preempted:
        tables.append(
            ReportTable(
                "preempted",
                "Preempted",
                ["workload", "priority class", "replicas stopped"],
                [[p["workload"], p["priority_class"], str(p["stopped"])] for p in report.preempted],
                frozenset({0, 1}),
            )
        )
    if report.unplaced:
        tables.append(
            ReportTable(
                "unplaced",
                "Unplaced demand",
                ["workload", "replicas", "required", "reason"],
                [
                    [u["workload"], str(u["replicas"]), str(u["required"]), u["reason"]]
                    for u in report.unplaced
                ],
                frozenset({0, 3}),
            )
        )
    if report.move_list:
        tables.append(
            ReportTable(
                "moves",
                "Moves against the current placement",
                ["workload", "from node", "to node"],
                _move_rows(report.move_list),
                frozenset({0, 1, 2}),
            )
        )
    return tables


def _move_rows(moves: list[dict[str, str | None]]) -> list[list[str]]:
    """The first MOVES_SHOWN moves, then one row counting the rest; a start has no
    origin, a stop no destination."""
    rows = [
        [str(m["workload"]), m["from_node"] or "- (starts)", m["to_node"] or "- (stops)"]
        for m in moves[:MOVES_SHOWN]
    ]
    if len(moves) > MOVES_SHOWN:
        rows.append([f"... and {len(moves) - MOVES_SHOWN} more moves", "", ""])
    return rows


def render_markdown(report: Report) -> str:
    lines = [f"# Plan report: {report.name}", ""]
    for table in report_tables(report):
        lines += [f"## {table.title}", ""]
        if table.key == "summary":
            lines += [f"- **{k.strip()}**: {v}" for k, v in table.rows]
        else:
            lines.append("| " + " | ".join(table.header) + " |")
            lines.append("|" + "|".join("---" for _ in table.header) + "|")
            lines += [
                "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table.rows
            ]
        lines.append("")
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    return "\n".join(lines)


def render_terminal(report: Report, console: Any) -> None:
    from rich.table import Table

    for section in report_tables(report):
        table = Table(
            title=section.title, title_justify="left", show_header=section.key != "summary"
        )
        for k, column in enumerate(section.header):
            table.add_column(
                column, justify="left" if k in section.text_columns else "right", overflow="fold"
            )
        for row in section.rows:
            table.add_row(*row)
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
