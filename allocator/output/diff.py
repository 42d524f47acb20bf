"""What changes between two plan files: moves, workloads placed or dropped, cost.

Plan A stands for what runs now and plan B for what should run next, so the moves are
paired exactly as `moves_against` pairs them when `solve --current A` writes plan B: the
diff of A and such a plan B lists the moves B records, in the same order. With an
inventory, each side's cost and GPU use per zone and rack come from the cost report
(`build_report`), so the diff and `allocator report` never disagree.

Renderers (terminal, JSON, Markdown, HTML) only format the figures computed here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from allocator.domain.tables import Domain
from allocator.output.plan import Move, Objective, PlanFile, moves_against, row_key
from allocator.output.report import Utilization, build_report

TERMINAL_MOVES = 50  # moves the terminal lists; the other formats list every one
NONE = "none"  # where a start comes from and a stop goes to, in tables


@dataclass
class PlanSide:
    """One of the two plans, as the diff names it."""

    path: str
    inventory: str
    inventory_sha256: str | None
    solver: str
    placed: int
    unplaced: int
    unplaced_required: int


@dataclass
class WorkloadChange:
    """A workload that appears, vanishes or changes its number of placed replicas."""

    workload: str
    placed_a: int
    placed_b: int
    change: int
    status: Literal["added", "dropped", "changed"]


@dataclass
class FigureChange:
    """One figure in plan A, in plan B, and B - A."""

    name: str
    a: float
    b: float
    change: float


@dataclass
class PlaceChange:
    """Cost and GPU use of one zone (or rack) in each plan, and B - A."""

    group: str
    nodes: int
    gpus_total: float
    cost_per_hour_a: float
    cost_per_hour_b: float
    cost_change: float
    gpus_used_a: float
    gpus_used_b: float
    gpus_used_change: float
    gpu_pct_a: float | None
    gpu_pct_b: float | None


@dataclass
class PlanDiff:
    """Everything `allocator diff` shows; zones and racks only with an inventory."""

    a: PlanSide
    b: PlanSide
    moves: list[Move]
    workloads: list[WorkloadChange]
    unchanged_workloads: int
    unplaced_required: list[FigureChange]
    cost: list[FigureChange]
    inventory: str | None = None
    zones: list[PlaceChange] | None = None
    racks: list[PlaceChange] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def relocated(self) -> int:
        return sum(m.from_node is not None and m.to_node is not None for m in self.moves)

    @property
    def started(self) -> int:
        return sum(m.from_node is None for m in self.moves)

    @property
    def stopped(self) -> int:
        return sum(m.to_node is None for m in self.moves)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["moves"] = [m.model_dump() for m in self.moves]
        out["move_counts"] = {
            "total": len(self.moves),
            "relocated": self.relocated,
            "started": self.started,
            "stopped": self.stopped,
        }
        return out


def compare_plans(
    plan_a: PlanFile,
    plan_b: PlanFile,
    source_a: str = "plan A",
    source_b: str = "plan B",
    domain: Domain | None = None,
    inventory: str | None = None,
    inventory_sha256: str | None = None,
) -> PlanDiff:
    """The diff of two plans; with the domain of an inventory, their cost and GPU use per
    zone and rack too (a plan naming nodes or workloads the inventory lacks is an
    InputError located in its file)."""
    workloads = workload_changes(plan_a, plan_b)
    in_both = len(_named(plan_a) & _named(plan_b))
    diff = PlanDiff(
        a=_side(source_a, plan_a),
        b=_side(source_b, plan_b),
        moves=moves_between(plan_a, plan_b),
        workloads=workloads,
        unchanged_workloads=in_both - _count(workloads, "changed"),
        unplaced_required=unplaced_required_changes(plan_a, plan_b),
        cost=objective_changes(plan_a.objective, plan_b.objective),
        inventory=inventory,
        notes=_notes(plan_a, plan_b, source_a, source_b, inventory, inventory_sha256),
    )
    if domain is not None:
        report_a = build_report(domain, plan_a, source=source_a)
        report_b = build_report(domain, plan_b, source=source_b)
        diff.zones = place_changes(report_a.zones, report_b.zones)
        diff.racks = place_changes(report_a.racks, report_b.racks)
    return diff


def moves_between(plan_a: PlanFile, plan_b: PlanFile) -> list[Move]:
    """B's placements against A's, paired as `moves_against` pairs them. When A places
    nothing every replica of B is a start (a plan made from no placement records none)."""
    running: dict[str, list[str]] = {}
    for p in plan_a.placements:
        running.setdefault(row_key(p), []).append(p.node)
    if running:
        return moves_against(running, plan_b.placements)
    starts = sorted((row_key(p), p.node) for p in plan_b.placements)
    return [Move(workload=w, from_node=None, to_node=node) for w, node in starts]


def workload_changes(plan_a: PlanFile, plan_b: PlanFile) -> list[WorkloadChange]:
    """Workloads that appear in B, vanish from it, or run a different number of replicas.
    A workload is in a plan when the plan places or leaves unplaced any replica of it."""
    placed_a = Counter(p.workload for p in plan_a.placements)
    placed_b = Counter(p.workload for p in plan_b.placements)
    named_a, named_b = _named(plan_a), _named(plan_b)
    changes = []
    for workload in sorted(named_a | named_b):
        a, b = placed_a[workload], placed_b[workload]
        status = (
            "added" if workload not in named_a else "dropped" if workload not in named_b else None
        )
        if status is None and a == b:
            continue
        changes.append(WorkloadChange(workload, a, b, b - a, status or "changed"))
    return changes


def _named(plan: PlanFile) -> set[str]:
    return {p.workload for p in plan.placements} | {u.workload for u in plan.unplaced}


def unplaced_required_changes(plan_a: PlanFile, plan_b: PlanFile) -> list[FigureChange]:
    """Required replicas left unplaced, per workload whose number differs."""
    before = Counter(u.workload for u in plan_a.unplaced if u.required)
    after = Counter(u.workload for u in plan_b.unplaced if u.required)
    return [
        FigureChange(w, before[w], after[w], after[w] - before[w])
        for w in sorted(set(before) | set(after))
        if before[w] != after[w]
    ]


def objective_changes(a: Objective, b: Objective) -> list[FigureChange]:
    """Every numeric term of the plans' objectives (`plan.objective`), the unplaced
    priority of each class as `unplaced_by_class.<class>`."""
    rows = []
    terms = a.model_dump()
    for name, value_a in sorted(terms.items(), key=lambda item: item[0] != "cost_per_hour"):
        value_b = getattr(b, name)
        if isinstance(value_a, dict):
            for cls in dict.fromkeys([*value_a, *value_b]):
                x, y = value_a.get(cls, 0.0), value_b.get(cls, 0.0)
                rows.append(FigureChange(f"{name}.{cls}", x, y, _change(x, y)))
        elif isinstance(value_a, int | float):
            rows.append(FigureChange(name, value_a, value_b, _change(value_a, value_b)))
    return rows


def place_changes(rows_a: list[Utilization], rows_b: list[Utilization]) -> list[PlaceChange]:
    """Zone (or rack) figures of two reports of one inventory, side by side."""
    return [
        PlaceChange(
            group=ua.group,
            nodes=ua.nodes,
            gpus_total=ua.gpus_total,
            cost_per_hour_a=ua.cost_per_hour,
            cost_per_hour_b=ub.cost_per_hour,
            cost_change=_change(ua.cost_per_hour, ub.cost_per_hour),
            gpus_used_a=ua.gpus_used,
            gpus_used_b=ub.gpus_used,
            gpus_used_change=_change(ua.gpus_used, ub.gpus_used),
            gpu_pct_a=ua.gpu_pct,
            gpu_pct_b=ub.gpu_pct,
        )
        for ua, ub in zip(rows_a, rows_b, strict=True)
    ]


def _change(a: float, b: float) -> float:
    """B - A (to a billionth for amounts, so that sums of cents read as cents and no
    change as 0); counts stay whole."""
    if isinstance(a, int) and isinstance(b, int):
        return b - a
    return round(b - a, 9) + 0.0


def _side(source: str, plan: PlanFile) -> PlanSide:
    return PlanSide(
        path=source,
        inventory=plan.inventory.name,
        inventory_sha256=plan.inventory.sha256,
        solver=f"{plan.solver.name}: {plan.solver.status}",
        placed=len(plan.placements),
        unplaced=len(plan.unplaced),
        unplaced_required=sum(u.required for u in plan.unplaced),
    )


def _notes(
    plan_a: PlanFile,
    plan_b: PlanFile,
    source_a: str,
    source_b: str,
    inventory: str | None,
    inventory_sha256: str | None,
) -> list[str]:
    notes = []
    name_a, name_b = plan_a.inventory.name, plan_b.inventory.name
    if name_a != name_b:
        notes.append(f"the plans were made for different inventories ({name_a!r} and {name_b!r})")
    elif plan_a.inventory.sha256 != plan_b.inventory.sha256:
        notes.append(f"the plans were made for different versions of inventory {name_a!r}")
    if plan_a.objective.mode != plan_b.objective.mode:
        notes.append(
            f"the objectives differ in mode ({plan_a.objective.mode} and "
            f"{plan_b.objective.mode}): their terms are not weighed alike"
        )
    if inventory is None:
        notes.append("cost and GPU use per zone and rack need the inventory: --inventory INV")
    elif inventory_sha256 is not None:
        notes += [
            f"{source} was made for a different version of {inventory}"
            for source, plan in ((source_a, plan_a), (source_b, plan_b))
            if plan.inventory.sha256 and plan.inventory.sha256 != inventory_sha256
        ]
    return notes


# Rendering ------------------------------------------------------------------------------

Table = tuple[str, list[str], list[list[str]]]


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _signed(value: float, unit: str = "") -> str:
    """A change with its sign: +$3.50, -2, 0."""
    if value == 0:
        return f"{unit}0.00" if unit else "0"
    sign = "+" if value > 0 else "-"
    return f"{sign}{unit}{abs(value):,.2f}" if unit else f"{sign}{abs(value):,g}"


def _figure(name: str, value: float) -> str:
    return _money(value) if name.endswith("cost_per_hour") else f"{value:,g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def diff_tables(diff: PlanDiff, move_limit: int | None = None) -> list[Table]:
    """(title, header, rows) for each section, shared by every renderer except JSON; the
    move list is cut to `move_limit` rows with a last row counting the rest."""
    side_a, side_b = diff.a, diff.b
    total = next(c for c in diff.cost if c.name == "cost_per_hour")
    summary = [
        ["plan A", _side_words(side_a)],
        ["plan B", _side_words(side_b)],
        [
            "cost",
            f"{_money(total.a)}/h -> {_money(total.b)}/h ({_signed(total.change, '$')}/h)",
        ],
        [
            "moves",
            f"{len(diff.moves)}: {diff.relocated} to another node, {diff.started} "
            f"started, {diff.stopped} stopped",
        ],
        [
            "workloads",
            f"{_count(diff.workloads, 'added')} added, {_count(diff.workloads, 'dropped')} "
            f"dropped, {_count(diff.workloads, 'changed')} changed, "
            f"{diff.unchanged_workloads} unchanged",
        ],
        ["unplaced required", f"{side_a.unplaced_required} -> {side_b.unplaced_required}"],
    ]
    shown = diff.moves if move_limit is None else diff.moves[:move_limit]
    moves = [[m.workload, m.from_node or NONE, m.to_node or NONE] for m in shown]
    if len(shown) < len(diff.moves):
        rest = len(diff.moves) - len(shown)
        moves.append([f"... {rest} more moves (all of them with --format json/markdown/html)"])
    tables: list[Table] = [
        ("Summary", ["", ""], summary),
        ("Moves", ["workload", "from", "to"], moves),
        (
            "Workloads placed or dropped",
            ["workload", "A", "B", "change", "status"],
            [
                [w.workload, str(w.placed_a), str(w.placed_b), _signed(w.change), w.status]
                for w in diff.workloads
            ],
        ),
        (
            "Unplaced required replicas",
            ["workload", "A", "B", "change"],
            [[u.name, f"{u.a:g}", f"{u.b:g}", _signed(u.change)] for u in diff.unplaced_required],
        ),
        (
            "Cost",
            ["term", "A", "B", "change"],
            [
                [
                    c.name,
                    _figure(c.name, c.a),
                    _figure(c.name, c.b),
                    _signed(c.change, "$" if c.name.endswith("cost_per_hour") else ""),
                ]
                for c in diff.cost
            ],
        ),
    ]
    for title, key, rows in (("zone", "zone", diff.zones), ("rack", "zone/rack", diff.racks)):
        if rows is not None:
            tables.append((f"Cost and GPU use per {title}", [key, *PLACE_HEADER], _places(rows)))
    return tables


PLACE_HEADER = ["$/h A", "$/h B", "change", "GPUs A", "GPUs B", "change"]


def _places(rows: list[PlaceChange]) -> list[list[str]]:
    return [
        [
            r.group,
            _money(r.cost_per_hour_a),
            _money(r.cost_per_hour_b),
            _signed(r.cost_change, "$"),
            f"{r.gpus_used_a:g}/{r.gpus_total:g} {_pct(r.gpu_pct_a)}",
            f"{r.gpus_used_b:g}/{r.gpus_total:g} {_pct(r.gpu_pct_b)}",
            _signed(r.gpus_used_change),
        ]
        for r in rows
    ]


def _side_words(side: PlanSide) -> str:
    return (
        f"{side.path} ({side.inventory}; {side.solver}; {side.placed} placed, "
        f"{side.unplaced} unplaced)"
    )


def _count(changes: list[WorkloadChange], status: str) -> int:
    return sum(c.status == status for c in changes)


def render_markdown(diff: PlanDiff) -> str:
    lines = [f"# Plan diff: {diff.a.path} -> {diff.b.path}", ""]
    for title, header, rows in diff_tables(diff):
        lines += [f"## {title}", ""]
        if title == "Summary":
            lines += [f"- **{k}**: {v}" for k, v in rows]
        elif not rows:
            lines.append("none")
        else:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.append("")
    if diff.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in diff.notes], ""]
    return "\n".join(lines)


def render_html(diff: PlanDiff) -> str:
    """A self-contained page: inline CSS, no script, nothing fetched from elsewhere."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("allocator.output", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tables = diff_tables(diff)
    return environment.get_template("diff.html.j2").render(
        diff=diff, summary=tables[0][2], tables=tables[1:]
    )


def render_terminal(diff: PlanDiff, console: Any, move_limit: int = TERMINAL_MOVES) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text

    for title, header, rows in diff_tables(diff, move_limit):
        if not rows:
            console.print(Text(f"{title}: none"))
            continue
        summary = title == "Summary"
        table = RichTable(title=title, title_justify="left", show_header=not summary)
        for k, column in enumerate(header):
            left = summary or k == 0 or column in ("from", "to", "status")
            table.add_column(column, justify="left" if left else "right", overflow="fold")
        for row in rows:
            table.add_row(*map(Text, row))
        console.print(table)
    for note in diff.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
