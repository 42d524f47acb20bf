"""One time budget for a whole solve: every stage asks it how much time is left, so that
column generation, each objective level and the final check share one limit. A stop the
user asks for (Ctrl-C, SIGTERM: `solvers.base.INTERRUPT`) ends it at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from allocator.io.interrupt import INTERRUPT


@dataclass(frozen=True)
class Deadline:
    """A moment on the `time.perf_counter` clock, or none (no limit)."""

    at: float | None = None

    @classmethod
    def after(cls, seconds: float | None, started: float | None = None) -> Deadline:
        """`seconds` from `started` (now, by default); no limit for None."""
        if seconds is None:
            return cls(None)
        return cls((time.perf_counter() if started is None else started) + seconds)

    def left(self, least: float = 0.0, most: float | None = None) -> float | None:
        """Seconds left, at least `least` (a solver needs some) and at most `most`; None
        when there is no limit (and no `most`)."""
        if INTERRUPT.is_set():
            return least
        if self.at is None:
            return most
        left = max(self.at - time.perf_counter(), least)
        return left if most is None else min(left, most)

    def passed(self) -> bool:
        return INTERRUPT.is_set() or (self.at is not None and time.perf_counter() >= self.at)

    def share(self, fraction: float) -> Deadline:
        """A deadline `fraction` of the way from now to this one."""
        if self.at is None:
            return self
        now = time.perf_counter()
        return Deadline(now + fraction * max(self.at - now, 0.0))
