"""The report as one self-contained HTML page: every plot inline SVG, every style inline.

The page loads nothing and runs no script, so it opens offline, from a mail attachment or
an artifact store, and shows the same thing in every browser. Each plot section is a
figure followed by the table behind it (the text of `report_tables`, as the terminal and
Markdown reports show it); a plan without that kind of data gets a one-line note instead.
The tables no plot draws follow under "More detail".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from allocator.domain.units import HOURS_PER_MONTH
from allocator.output import plots
from allocator.output.report import Report, ReportTable, report_tables

TEMPLATE = "report.html.j2"
FOLDED_ROWS = 20  # a table longer than this starts folded (a <details> element)


@dataclass(frozen=True)
class PlotSpec:
    """A plot section: what it shows, how it is drawn and which table is behind it."""

    key: str
    title: str
    lead: str
    draw: Callable[[Report], str | None]
    table: str
    none: str


PLOT_SECTIONS = (
    PlotSpec(
        "utilization",
        "GPU utilization per rack and zone",
        "Share of each rack's GPUs in use; one row per zone, its racks side by side.",
        plots.utilization_heatmap,
        "racks",
        "No nodes to show.",
    ),
    PlotSpec(
        "workload-cost",
        "Cost by workload",
        "Node cost attributed to each workload by its share of the node's GPUs "
        "(of its CPU on CPU-only nodes).",
        plots.workload_cost_bars,
        "workloads",
        "None: no workload is placed.",
    ),
    PlotSpec(
        "tenant-cost",
        "Cost by tenant",
        "Attributed cost summed per tenant (the workload's tenant, else its tenant label); "
        "idle cost belongs to no tenant.",
        plots.tenant_cost_bars,
        "tenants",
        "None: no workload is placed.",
    ),
    PlotSpec(
        "zone-cost",
        "Cost by zone",
        "Running nodes' cost per zone, split into the workloads' share and idle capacity, "
        "plus the energy they draw.",
        plots.zone_cost_bars,
        "zone_costs",
        "None: no node runs.",
    ),
    PlotSpec(
        "fragmentation",
        "GPU fragmentation",
        "Idle GPUs stranded on partly used nodes fit only small replicas; idle GPUs on "
        "empty nodes fit any.",
        plots.fragmentation_bars,
        "fragmentation",
        "None: the fleet has no GPUs.",
    ),
    PlotSpec(
        "links",
        "Busiest network links",
        "Bandwidth reserved on the most used links, as a share of capacity (orange from "
        "80%, red from 95%).",
        plots.link_bars,
        "links",
        "None: the inventory has no network topology, or no traffic crosses it.",
    ),
    PlotSpec(
        "storage",
        "Storage systems",
        "Capacity and read bandwidth used on each storage system.",
        plots.storage_bars,
        "storage",
        "None: the inventory has no storage systems.",
    ),
    PlotSpec(
        "power",
        "Power per site and row",
        "IT power drawn in each site and row; the black tick marks its cap, and a bar "
        "turns orange from 80% of it and red from 95%.",
        plots.power_bars,
        "power",
        "None: the inventory states no power draw or caps.",
    ),
    PlotSpec(
        "unplaced",
        "Unplaced demand",
        "Replicas the plan does not place, and why.",
        plots.unplaced_bars,
        "unplaced",
        "None: every replica wanted is placed.",
    ),
    PlotSpec(
        "moves",
        "Moves against the current placement",
        "Replicas that move to another node, start or stop, per workload.",
        plots.move_bars,
        "moves",
        "None: nothing runs now, or every running replica stays where it is.",
    ),
)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    lead: str
    svg: Markup | None
    table: ReportTable | None
    none: str


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    detail: str


def render_html(report: Report) -> str:
    """The whole page as text."""
    tables = {table.key: table for table in report_tables(report)}
    sections = []
    for spec in PLOT_SECTIONS:
        svg = spec.draw(report)
        sections.append(
            Section(
                spec.key,
                spec.title,
                spec.lead,
                None if svg is None else Markup(svg),
                tables.get(spec.table),
                spec.none,
            )
        )
    shown = {"summary", *(spec.table for spec in PLOT_SECTIONS)}
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            report=report,
            headlines=_headlines(report),
            summary=tables["summary"],
            sections=sections,
            details=[table for table in tables.values() if table.key not in shown],
            folded_rows=FOLDED_ROWS,
        )
    )


def _headlines(report: Report) -> list[Headline]:
    gpu_pct = 100 * report.gpus_used / report.gpus_total if report.gpus_total else 0.0
    required = sum(u["required"] for u in report.unplaced)
    unplaced = sum(u["replicas"] for u in report.unplaced)
    return [
        Headline(
            "cost",
            f"${report.cost_per_hour:,.2f}/h",
            f"${report.cost_per_hour * HOURS_PER_MONTH:,.0f} per month",
        ),
        Headline(
            "GPUs in use",
            f"{report.gpus_used:g} / {report.gpus_total}",
            f"{gpu_pct:.1f}% of the fleet's GPUs",
        ),
        Headline("nodes in use", f"{report.nodes_in_use} / {report.nodes_total}", "nodes running"),
        Headline(
            "idle cost",
            f"${report.idle_cost_per_hour:,.2f}/h",
            "unused share of running nodes",
        ),
        Headline("unplaced replicas", str(unplaced), f"{required} of them required"),
        Headline(
            "moves",
            str(report.moves),
            f"{report.moved_replicas} running replica(s) leave their node",
        ),
    ]


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("allocator", "output/templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
