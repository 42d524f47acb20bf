"""What a long run is doing, on one process-wide board, for whoever watches.

The pipeline writes its stage (reduce, patterns, column generation round k, level n of m,
decode, check) and the solver backends the incumbent and best bound of the problem they
solve, as they move (`SolveOptions.progress`). Writing is cheap and safe from any thread
(backends report from their own); nothing reads the board unless a terminal shows it
(`cli/live.py`), so it costs nothing in batch runs or tests.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    task: str  # which of several runs (a benchmark's instance and solver), or ""
    stage: str
    level: str  # "level 2/3 unplaced_priority", or "" outside the levels
    elapsed_s: float
    limit_s: float | None
    incumbent: float | None
    bound: float | None

    @property
    def gap(self) -> float | None:
        if self.incumbent is None or self.bound is None:
            return None
        return abs(self.incumbent - self.bound) / max(1e-9, abs(self.incumbent))


class ProgressBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.start()

    def start(self, limit_s: float | None = None) -> None:
        """A new run: the clock starts now, against `limit_s`."""
        with self._lock:
            self._started = time.perf_counter()
            self._limit = limit_s
            self._task = ""
            self._stage = "starting"
            self._level = ""
            self._incumbent: float | None = None
            self._bound: float | None = None

    def task(self, text: str) -> None:
        """One run of several begins (a benchmark's instance, seed or solver)."""
        with self._lock:
            self._task = text
            self._stage = "starting"
            self._level = ""
            self._incumbent = self._bound = None

    def stage(self, text: str) -> None:
        with self._lock:
            self._stage = text

    def level(self, index: int, count: int, name: str) -> None:
        """Level `index` (0-based) of `count` begins: its figures start afresh."""
        with self._lock:
            self._level = f"level {index + 1}/{count} {name}"
            self._incumbent = self._bound = None

    def outside_levels(self) -> None:
        with self._lock:
            self._level = ""
            self._incumbent = self._bound = None

    def bounds(self, incumbent: float | None, bound: float | None) -> None:
        """The incumbent objective and the best bound, as a backend reports them (either
        may be None: not known yet, or not reported by this call)."""
        with self._lock:
            if incumbent is not None and math.isfinite(incumbent):
                self._incumbent = incumbent
            if bound is not None and math.isfinite(bound):
                self._bound = bound

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                task=self._task,
                stage=self._stage,
                level=self._level,
                elapsed_s=time.perf_counter() - self._started,
                limit_s=self._limit,
                incumbent=self._incumbent,
                bound=self._bound,
            )


PROGRESS = ProgressBoard()
