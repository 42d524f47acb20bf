"""Mean, min and max over seeds: how every benchmark table summarizes repeated runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Mean, min and max of the values that exist (None values are left out)."""

    mean: float | None
    min: float | None
    max: float | None
    count: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Summary:
        present = [float(v) for v in values if v is not None]
        if not present:
            return cls(None, None, None, 0)
        return cls(sum(present) / len(present), min(present), max(present), len(present))
