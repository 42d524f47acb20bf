"""Live progress on a terminal: the progress board (`allocator.io.progress`) redrawn a few
times a second on stderr while a command runs, then cleared.

Nothing is drawn when stderr is not a terminal or the command is quiet, so logs, pipes
and tests see exactly the output they would without it; the raw solver log stays behind
`--verbose`, which turns this off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from allocator.io.progress import PROGRESS, Snapshot
from cli.common import err


@contextlib.contextmanager
def live_progress(title: str, limit_s: float | None, enabled: bool = True) -> Iterator[None]:
    PROGRESS.start(limit_s)
    if not enabled or not err.is_terminal:
        yield
        return
    with Live(_Display(title), console=err, refresh_per_second=8, transient=True):
        yield


class _Display:
    def __init__(self, title: str):
        self.title = title
        self.spinner = Spinner("dots")

    def __rich__(self) -> Table:
        line = Table.grid(padding=(0, 1))
        line.add_row(self.spinner, Text(describe(self.title, PROGRESS.snapshot())))
        return line


def describe(title: str, now: Snapshot) -> str:
    """One line: what runs, where it is, for how long against its limit, and the
    incumbent, bound and gap of the MIP being solved."""
    parts = [title]
    if now.task:
        parts.append(now.task)
    if now.level:
        parts.append(now.level)
    parts.append(now.stage)
    limit = f" / {now.limit_s:,.0f} s" if now.limit_s else ""
    parts.append(f"{now.elapsed_s:,.1f} s{limit}")
    if now.incumbent is not None:
        parts.append(f"incumbent {_figure(now.incumbent)}")
    if now.bound is not None:
        parts.append(f"bound {_figure(now.bound)}")
    if now.gap is not None:
        parts.append(f"gap {now.gap:.2%}")
    return " · ".join(parts)


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:,.4g}"
