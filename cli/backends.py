"""`allocator solvers`: which solver backends are installed, and the heuristic placers."""

from __future__ import annotations

from rich.table import Table

from allocator.heuristics.placers import PLACERS
from cli.common import handles_errors, out
from solvers import registry
from solvers.base import package_version


@handles_errors
def solvers() -> None:
    """Which solver backends are installed and working."""
    table = Table(title="Solver backends", title_justify="left")
    for column in ("name", "available", "capabilities", "version"):
        table.add_column(column)
    for name, cls in registry.backends().items():
        ok = cls().available()
        table.add_row(
            name,
            "yes" if ok else f"no ({cls.install_hint})",
            ", ".join(sorted(cls.capabilities)),
            f"{cls.package} {package_version(cls.package)}" if ok else "-",
        )
    auto = registry.AutoSolver()
    table.add_row(
        "auto", "yes" if auto.available() else "no", "first of: " + ", ".join(auto.order), "-"
    )
    for name, placer in PLACERS.items():
        table.add_row(name, "yes", f"heuristic: {placer.summary}", "built in")
    out.print(table)
