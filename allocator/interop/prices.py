"""Node prices for imported fleets: neither Kubernetes nor Slurm knows what a node costs.

A prices file maps a name to dollars per hour, as YAML/JSON (`p4de.24xlarge: 40.97`) or
CSV (`name,usd_per_hour` rows; a first row that is not a price is a header). A name is
looked up as, in order: the node's own name, its instance type (the whole node's $/h),
then its GPU type (per GPU-hour, multiplied by the node's GPUs).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from allocator.interop.result import ImportWarning
from allocator.io.errors import InputError, InputProblem
from allocator.io.source import read_document, read_text


@dataclass(frozen=True)
class PriceList:
    """$/h by name; names compare without regard to case."""

    prices: dict[str, float] = field(default_factory=dict)
    source: str | None = None

    def _get(self, name: str | None) -> float | None:
        if not name:
            return None
        return self.prices.get(name.lower())

    def node_cost(
        self, node: str, instance_type: str | None, gpu_type: str | None, gpus: int
    ) -> tuple[float, str] | None:
        """The node's $/h and what it was found by, or None when nothing matches."""
        by_node = self._get(node)
        if by_node is not None:
            return by_node, f"node name {node!r}"
        by_instance = self._get(instance_type)
        if by_instance is not None:
            return by_instance, f"instance type {instance_type!r}"
        per_gpu = self._get(gpu_type)
        if per_gpu is not None and gpus > 0:
            return round(per_gpu * gpus, 6), f"GPU type {gpu_type!r} x {gpus}"
        return None


def unpriced_warning(nodes: list[str], prices: PriceList) -> ImportWarning:
    """One warning for every node the price list has no price for."""
    where = "the --prices file" if prices.source else "no --prices file was given"
    return ImportWarning(
        ", ".join(f"nodes/{n}" for n in nodes),
        "cost_per_hour",
        f"no price found ({where}; looked up by node name, instance type and GPU type): "
        "set to 0, so the plan cannot weigh what these nodes cost",
    )


def load_prices(path: str | Path | None) -> PriceList:
    """Read a prices file; no file gives an empty list (every node then costs 0)."""
    if path is None:
        return PriceList()
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return PriceList(_read_csv(path), str(path))
    doc = read_document(path)
    if not isinstance(doc.data, dict):
        raise InputError.single(
            doc.path,
            "expected a mapping of instance type, GPU type or node name to $/h, e.g. "
            "'p4de.24xlarge: 40.97'",
            line=1,
        )
    problems, prices = [], {}
    for name, value in doc.data.items():
        price = _price(value)
        if price is None:
            line = doc.position((name,))
            problems.append(
                InputProblem(
                    doc.path,
                    f"expected a price in $/h (a number >= 0), got {value!r}",
                    entry=str(name),
                    line=line[0] if line else None,
                )
            )
        else:
            prices[str(name).lower()] = price
    if problems:
        raise InputError(problems)
    return PriceList(prices, doc.path)


def _read_csv(path: Path) -> dict[str, float]:
    name = str(path)
    text = read_text(path, "a CSV price list")
    problems, prices = [], {}
    rows = [(i, row) for i, row in enumerate(csv.reader(io.StringIO(text)), 1) if any(row)]
    for k, (line, row) in enumerate(rows):
        cells = [c.strip() for c in row]
        if len(cells) < 2 or not cells[0]:
            problems.append(
                InputProblem(
                    name, f"expected 'name,usd_per_hour', got {','.join(row)!r}", line=line
                )
            )
            continue
        price = _price(cells[1])
        if price is None:
            if k == 0:
                continue  # a header row
            problems.append(
                InputProblem(
                    name,
                    f"expected a price in $/h (a number >= 0), got {cells[1]!r}",
                    entry=cells[0],
                    line=line,
                )
            )
            continue
        prices[cells[0].lower()] = price
    if problems:
        raise InputError(problems)
    return prices


def _price(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        price = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price >= 0 else None
