"""`allocator solvers`: which solver backends are installed and working."""

from __future__ import annotations

from rich.table import Table

from cli.common import handles_errors, out
from solvers import registry


@handles_errors
def solvers() -> None:
    """Which solver backends are installed and working."""
    table = Table(title="Solver backends", title_justify="left")
    for column in ("name", "available", "capabilities", "version"):
        table.add_column(column)
    for name, cls in registry.BACKENDS.items():
        backend = cls()
        ok = backend.available()
        table.add_row(
            name,
            "yes" if ok else f"no ({registry.INSTALL_HINT.get(name, '')})",
            ", ".join(sorted(cls.capabilities)),
            _version(name) if ok else "-",
        )
    table.add_row(
        "auto",
        "yes" if registry.AutoSolver().available() else "no",
        "first of: " + ", ".join(registry.EXACT),
        "-",
    )
    out.print(table)


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    package = {"highs": "highspy", "cbc": "pulp", "cpsat": "ortools"}.get(name)
    if package is None:
        return "built in"
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return "?"
