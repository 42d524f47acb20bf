"""The report's plots, drawn with matplotlib as inline SVG for the HTML report.

Each function takes a `Report` and returns one `<svg>` element as text, or None when the
plan has nothing of that kind to draw. Text stays text (`svg.fonttype: none`), so the
plots are small and searchable; the figures come from the object API (no pyplot), so
drawing sets no global backend and is safe beside other matplotlib users. The SVG is
trimmed to what a browser draws: no XML prologue, metadata or namespaces, and its ids
are prefixed per plot so that several plots share one page without clashing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from allocator.output.report import Report

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

BLUE, ORANGE, RED, GREY, GREEN = "#3b6fb6", "#e69f00", "#c0392b", "#b8c2cc", "#2a9d8f"
LIGHT = "#f1f3f5"
WIDTH_IN = 7.2  # inches; the page shows plots at most this wide (about 690 px)
BAR_IN = 0.26  # inches per bar of a horizontal bar chart
TOP_BARS = 15  # bars shown before the rest are summed into one "others" bar
LABELLED_COLUMNS = 16  # racks per zone up to which each heatmap cell is labelled
STYLE: dict[RcKeyType, object] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "allocator-report",  # the same plan draws byte-identical plots
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "Liberation Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#6c757d",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": "#495057",
    "ytick.color": "#495057",
    "legend.frameon": False,
    "legend.fontsize": 8,
}


# ---------------------------------------------------------------------------- plots


def utilization_heatmap(report: Report) -> str | None:
    """GPU use of every rack: one row per zone, its racks side by side."""
    grid = report.rack_grid
    if not grid.zones:
        return None
    names = np.array(grid.racks, dtype=object)
    pct = np.array(grid.gpu_pct, dtype=np.float64)  # None (no rack, no GPUs) becomes NaN
    rows, columns = pct.shape
    width = min(WIDTH_IN, 2.0 + 0.8 * columns)
    with _figure(width, 0.5 + 0.75 * rows) as (fig, ax):
        mesh = ax.pcolormesh(
            np.ma.masked_invalid(pct),
            cmap=colormaps["YlGnBu"].resampled(10),  # steps of 10%, easier to read
            vmin=0,
            vmax=100,
            edgecolors="white",
            linewidth=1.5,
        )
        ax.set_facecolor(LIGHT)
        ax.invert_yaxis()
        ax.set_yticks(np.arange(rows) + 0.5, [_place(z) for z in grid.zones])
        ax.set_xticks([])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        small = 7 if columns > 8 else 8
        for (r, c), name in np.ndenumerate(names):
            if not name or columns > LABELLED_COLUMNS:
                continue
            value = pct[r, c]
            label = f"{_place(name)}\n" + ("no GPUs" if np.isnan(value) else f"{value:.0f}%")
            dark = not np.isnan(value) and value > 55
            ax.text(
                c + 0.5,
                r + 0.5,
                label,
                ha="center",
                va="center",
                fontsize=small,
                color="white" if dark else "#212529",
            )
        colorbar = fig.colorbar(mesh, ax=ax, fraction=0.04, pad=0.02)
        colorbar.set_label("GPUs in use, %")
        colorbar.outline.set_visible(False)
        if colorbar.solids is not None:
            colorbar.solids.set_rasterized(False)  # vector, not an embedded image
        return _svg(fig, "heatmap", "GPU utilization per rack, one row per zone")


def workload_cost_bars(report: Report) -> str | None:
    """$/h attributed to each workload, the costliest first."""
    costs = {w.workload: w.cost_per_hour for w in report.workloads if w.cost_per_hour > 0}
    if not costs:
        return None
    labels, values = _top(costs, "workloads")
    return _money_bars(labels, values, "workloads", "Node cost attributed per workload")


def tenant_cost_bars(report: Report) -> str | None:
    costs = {t.tenant: t.cost_per_hour for t in report.cost_by_tenant if t.cost_per_hour > 0}
    if not costs:
        return None
    labels, values = _top(costs, "tenants")
    return _money_bars(labels, values, "tenants", "Node cost attributed per tenant")


def zone_cost_bars(report: Report) -> str | None:
    """Each zone's cost stacked: used by workloads, idle on running nodes, energy."""
    zones = report.cost_by_zone
    if not any(z.node_cost_per_hour or z.energy_cost_per_hour for z in zones):
        return None
    series = [
        ("used by workloads", [z.workload_cost_per_hour for z in zones], BLUE),
        ("idle on running nodes", [z.idle_cost_per_hour for z in zones], ORANGE),
        ("energy", [z.energy_cost_per_hour for z in zones], GREEN),
    ]
    totals = np.sum([values for _, values, _ in series], axis=0)
    return _stacked_bars(
        [_place(z.zone) for z in zones],
        series,
        "$/h",
        [f"${t:,.0f}/h" for t in totals],
        "zones",
        "Cost per zone",
    )


def fragmentation_bars(report: Report) -> str | None:
    """GPUs of each type: in use, idle on partly used nodes, idle on empty nodes."""
    frag = report.fragmentation
    if not frag:
        return None
    series = [
        ("in use", [f.gpus_used for f in frag], BLUE),
        ("idle, stranded on partly used nodes", [f.idle_on_partly_used for f in frag], RED),
        ("idle on empty nodes", [f.idle_on_empty for f in frag], GREY),
    ]
    notes = [f"{f.idle_on_partly_used:g} stranded" if f.idle_on_partly_used else "" for f in frag]
    return _stacked_bars(
        [f.gpu_type for f in frag], series, "GPUs", notes, "fragmentation", "GPU fragmentation"
    )


def link_bars(report: Report) -> str | None:
    """Share of capacity used on the busiest links."""
    links = report.links
    if not links:
        return None
    use = [100 * r["utilization"] if r["capacity_gbps"] else 0.0 for r in links]
    notes = [
        f"{r['gbps']:,.0f} / {r['capacity_gbps']:,.0f} Gbps"
        if r["capacity_gbps"]
        else f"{r['gbps']:,.0f} Gbps, unlimited"
        for r in links
    ]
    return _percent_bars([r["link"] for r in links], use, notes, "links", "Busiest links")


def storage_bars(report: Report) -> str | None:
    """Capacity and read bandwidth used on each storage system."""
    systems = report.storage
    if not systems:
        return None
    space = [100 * s["used_tb"] / s["capacity_tb"] if s["capacity_tb"] else 0.0 for s in systems]
    reads = [
        100 * s["read_gbps"] / s["read_capacity_gbps"] if s["read_capacity_gbps"] else 0.0
        for s in systems
    ]
    labels = [s["system"] for s in systems]
    with _figure(WIDTH_IN, 0.7 + 2 * BAR_IN * len(labels)) as (fig, ax):
        y = np.arange(len(labels))
        ax.barh(y - 0.2, space, height=0.38, color=BLUE, label="capacity used")
        ax.barh(y + 0.2, reads, height=0.38, color=ORANGE, label="read bandwidth used")
        for k, s in enumerate(systems):
            ax.text(space[k] + 1, k - 0.2, f"{s['used_tb']:,.0f} TB", va="center", fontsize=7)
            ax.text(reads[k] + 1, k + 0.2, f"{s['read_gbps']:,.0f} Gbps", va="center", fontsize=7)
        _bar_axis(ax, labels)
        _percent_axis(ax)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
        return _svg(fig, "storage", "Storage capacity and read bandwidth used")


def power_bars(report: Report) -> str | None:
    """kW drawn per site and row, with each cap marked."""
    power = report.power
    if not power:
        return None
    labels = [f"{r['scope']} {r['id']}" for r in power]
    kw = np.array([r["kw"] for r in power])
    caps = np.array([np.nan if r["cap_kw"] is None else r["cap_kw"] for r in power])
    share = np.where(np.isnan(caps), 0.0, kw / np.where(np.isnan(caps), 1.0, caps))
    with _figure(WIDTH_IN, 0.8 + BAR_IN * len(labels)) as (fig, ax):
        y = np.arange(len(labels))
        ax.barh(y, kw, height=0.62, color=[_level(100 * s) for s in share])
        capped = ~np.isnan(caps)
        ax.scatter(caps[capped], y[capped], marker="|", s=260, color="#212529")
        for k in range(len(labels)):
            text = f"{kw[k]:,.0f} kW" + (f" of {caps[k]:,.0f}" if capped[k] else ", no cap")
            ax.text(np.nanmax([kw[k], caps[k]]) * 1.01, k, f" {text}", va="center", fontsize=7)
        _bar_axis(ax, labels)
        ax.set_xlim(0, float(np.nanmax(np.concatenate([kw, caps]))) * 1.3)
        ax.set_xlabel("kW")
        ax.grid(axis="x", color="#e9ecef")
        ax.set_axisbelow(True)
        return _svg(fig, "power", "Power drawn per site and row against its cap")


def unplaced_bars(report: Report) -> str | None:
    """Unplaced replicas per workload, required ones first in each bar."""
    rows = report.unplaced
    if not rows:
        return None
    series = [
        ("required", [u["required"] for u in rows], RED),
        ("optional", [u["replicas"] - u["required"] for u in rows], GREY),
    ]
    return _stacked_bars(
        [u["workload"] for u in rows],
        series,
        "replicas not placed",
        [str(u["replicas"]) for u in rows],
        "unplaced",
        "Unplaced replicas per workload",
    )


def move_bars(report: Report) -> str | None:
    """Per workload, replicas that move, start and stop against the current placement."""
    moves = report.move_list
    if not moves:
        return None
    workloads = np.array([m["workload"] for m in moves], dtype=str)
    came = np.array([m["from_node"] is not None for m in moves])
    goes = np.array([m["to_node"] is not None for m in moves])
    names, of_move = np.unique(workloads, return_inverse=True)
    kinds = {
        "moved": came & goes,
        "started": ~came & goes,
        "stopped": came & ~goes,
    }
    counts = {k: np.bincount(of_move, weights=v, minlength=len(names)) for k, v in kinds.items()}
    order = np.argsort(-np.bincount(of_move, minlength=len(names)), kind="stable")[:TOP_BARS]
    series = [
        (kind, counts[kind][order].tolist(), color)
        for kind, color in (("moved", BLUE), ("started", GREEN), ("stopped", RED))
    ]
    totals = np.sum([values for _, values, _ in series], axis=0)
    return _stacked_bars(
        [str(n) for n in names[order]],
        series,
        "replicas",
        [f"{t:g}" for t in totals],
        "moves",
        "Moves against the current placement",
    )


# ---------------------------------------------------------------------------- drawing


@contextmanager
def _figure(width: float, height: float) -> Iterator[tuple[Figure, Axes]]:
    with rc_context(STYLE):
        fig = Figure(figsize=(width, height))
        yield fig, fig.add_subplot()


def _top(values: dict[str, float], what: str) -> tuple[list[str], list[float]]:
    """The TOP_BARS largest values, the rest summed into one bar."""
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    shown, rest = ranked[:TOP_BARS], ranked[TOP_BARS:]
    if rest:
        shown.append((f"{len(rest)} other {what}", sum(v for _, v in rest)))
    return [k for k, _ in shown], [v for _, v in shown]


def _money_bars(labels: list[str], values: list[float], name: str, title: str) -> str:
    with _figure(WIDTH_IN, 0.6 + BAR_IN * len(labels)) as (fig, ax):
        y = np.arange(len(labels))
        others = len(labels) > TOP_BARS
        colors = [GREY if others and k == TOP_BARS else BLUE for k in range(len(labels))]
        ax.barh(y, values, height=0.66, color=colors)
        top = max(values)
        for k, v in enumerate(values):
            ax.text(v + top * 0.01, k, f"${v:,.0f}/h", va="center", fontsize=7)
        _bar_axis(ax, labels)
        ax.set_xlim(0, top * 1.18)
        ax.set_xlabel("$/h")
        ax.grid(axis="x", color="#e9ecef")
        ax.set_axisbelow(True)
        return _svg(fig, name, title)


def _stacked_bars(
    labels: list[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    unit: str,
    notes: list[str],
    name: str,
    title: str,
) -> str:
    """Horizontal bars stacked from the series, a note after each bar."""
    with _figure(WIDTH_IN, 0.9 + BAR_IN * len(labels)) as (fig, ax):
        y = np.arange(len(labels))
        left = np.zeros(len(labels))
        for legend, values, color in series:
            ax.barh(y, values, left=left, height=0.62, color=color, label=legend)
            left += np.asarray(values, dtype=np.float64)
        top = float(left.max(initial=0)) or 1.0
        for k, note in enumerate(notes):
            if note:
                ax.text(left[k] + top * 0.01, k, note, va="center", fontsize=7)
        _bar_axis(ax, labels)
        ax.set_xlim(0, top * 1.22)
        ax.set_xlabel(unit)
        ax.grid(axis="x", color="#e9ecef")
        ax.set_axisbelow(True)
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(series))
        return _svg(fig, name, title)


def _percent_bars(
    labels: list[str], use: list[float], notes: list[str], name: str, title: str
) -> str:
    with _figure(WIDTH_IN, 0.6 + BAR_IN * len(labels)) as (fig, ax):
        y = np.arange(len(labels))
        ax.barh(y, use, height=0.62, color=[_level(u) for u in use])
        for k, note in enumerate(notes):
            ax.text(use[k] + 1, k, note, va="center", fontsize=7)
        _bar_axis(ax, labels)
        _percent_axis(ax)
        return _svg(fig, name, title)


def _bar_axis(ax: Axes, labels: list[str]) -> None:
    """Labels top to bottom in the given order, with room for at least three bars so
    that a single bar does not fill the plot."""
    ax.set_yticks(np.arange(len(labels)), labels)
    pad = max(0.0, (3 - len(labels)) / 2)
    ax.set_ylim(len(labels) - 0.5 + pad, -0.5 - pad)


def _percent_axis(ax: Axes) -> None:
    ax.set_xlim(0, 135)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.axvline(100, color="#212529", linewidth=0.8, linestyle="--")
    ax.set_xlabel("% of capacity")
    ax.grid(axis="x", color="#e9ecef")
    ax.set_axisbelow(True)


def _level(pct: float) -> str:
    """Bar colour by how close to its limit: blue, then orange from 80%, red from 95%."""
    return RED if pct >= 95 else ORANGE if pct >= 80 else BLUE


def _place(name: str) -> str:
    return "(none)" if name == "-" else name


def _svg(fig: Figure, name: str, title: str) -> str:
    """The figure as one inline <svg> element, ids prefixed with `name`."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.05, metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"<defs>\s*<style[^>]*>.*?</style>\s*</defs>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'<g id="[^"]*">', "<g>", text)  # group ids are never referenced
    text = text.replace(' id="', f' id="{name}-')
    text = text.replace("url(#", f"url(#{name}-").replace('href="#', f'href="#{name}-')
    text = re.sub(r"\s*\n\s*", "\n", text)
    return text.replace("<svg ", f'<svg class="plot" role="img" aria-label="{title}" ', 1)
