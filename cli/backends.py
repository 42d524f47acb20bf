"""`allocator solvers`: which solver backends are installed, and the heuristic placers."""

from __future__ import annotations

from rich.table import Table

from allocator.heuristics.placers import PLACERS
from cli.common import FormatOption, ResultFormat, handles_errors, out, print_json
from solvers import registry
from solvers.base import package_version


@handles_errors
def solvers(fmt: FormatOption = ResultFormat.table) -> None:
    """Which solver backends are installed and working."""
    rows = []
    for name, cls in registry.backends().items():
        ok = cls().available()
        rows.append(
            {
                "name": name,
                "available": ok,
                "capabilities": sorted(cls.capabilities),
                "version": f"{cls.package} {package_version(cls.package)}" if ok else None,
                "install": None if ok else cls.install_hint,
            }
        )
    auto = registry.AutoSolver()
    rows.append(
        {
            "name": "auto",
            "available": auto.available(),
            "capabilities": [f"first of: {', '.join(auto.order)}"],
            "version": None,
            "install": None,
        }
    )
    for name, placer in PLACERS.items():
        rows.append(
            {
                "name": name,
                "available": True,
                "capabilities": [f"heuristic: {placer.summary}"],
                "version": "built in",
                "install": None,
            }
        )
    if fmt == ResultFormat.json:
        print_json(rows)
        return
    table = Table(title="Solver backends", title_justify="left")
    for column in ("name", "available", "capabilities", "version"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            "yes" if row["available"] else f"no ({row['install']})",
            ", ".join(row["capabilities"]),
            row["version"] or "-",
        )
    out.print(table)
