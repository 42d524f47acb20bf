"""Slurm's resource strings: GRES ("gpu:a100:8(S:0-1),shard:64"), TRES ("cpu=32,mem=256G,
gres/gpu:a100=8") and memory sizes ("210304M", "256G"; Slurm's M, G, T are powers of 1024).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COUNT = re.compile(r"^(\d+)([KMGTP]?)$", re.I)
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)B?$", re.I)
_POWERS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
MIB_PER_UNIT = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}
NULL = ("", "(null)", "N/A", "none", "None")


class SlurmFormatError(ValueError):
    """A GRES, TRES or memory string Slurm would not write; the message says why."""


@dataclass(frozen=True)
class Gres:
    """One generic resource of a node or job: `name[:type]:count[(detail)]`."""

    name: str
    type: str | None
    count: int
    detail: str | None = None

    def __str__(self) -> str:
        typed = f"{self.name}:{self.type}" if self.type else self.name
        return f"{typed}:{self.count}"


def parse_gres(text: str) -> list[Gres]:
    """Every GRES in a node's `Gres=` (or a job's per-node GRES) string."""
    if text.strip() in NULL:
        return []
    out = []
    for item in _split_outside_parentheses(text.strip()):
        detail = None
        match = re.fullmatch(r"(.*?)\((.*)\)", item)
        if match:
            item, detail = match[1], match[2]
        parts = [p for p in item.split(":") if p != "no_consume"]
        if not parts or not parts[0]:
            raise SlurmFormatError(f"expected 'name[:type]:count' such as gpu:a100:8, got {text!r}")
        name = parts[0]
        if len(parts) == 1:
            out.append(Gres(name, None, 1, detail))
            continue
        count = _count(parts[-1])
        if count is None:
            if len(parts) == 2:  # "gpu:a100": a type with an implied count of 1
                out.append(Gres(name, parts[1], 1, detail))
                continue
            raise SlurmFormatError(
                f"expected a count at the end of {item!r} (e.g. gpu:a100:8), in {text!r}"
            )
        gres_type = ":".join(parts[1:-1]) or None
        out.append(Gres(name, gres_type, count, detail))
    return out


def _count(text: str) -> int | None:
    match = _COUNT.match(text)
    return int(match[1]) * _POWERS[match[2].upper()] if match else None


def _split_outside_parentheses(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_tres(text: str | None) -> dict[str, str]:
    """`cpu=32,mem=256G,gres/gpu=8` as a mapping (empty for nothing)."""
    if not text or text.strip() in NULL:
        return {}
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SlurmFormatError(f"expected 'name=value' items such as cpu=32, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def tres_gpus(tres: dict[str, str]) -> tuple[int, str | None]:
    """GPUs and their type in a TRES mapping: `gres/gpu=8` and/or `gres/gpu:a100=8`."""
    total = tres.get("gres/gpu")
    typed = {k.split(":", 1)[1]: v for k, v in tres.items() if k.startswith("gres/gpu:")}
    gpu_type = next(iter(typed)) if len(typed) == 1 else None
    if total is not None:
        count = _count(total)
    else:
        counts = [_count(v) for v in typed.values()]
        count = None if None in counts else sum(counts)  # type: ignore[arg-type]
    if count is None:
        raise SlurmFormatError(f"expected a whole number of GPUs, got {total or typed!r}")
    return count, gpu_type


def per_node_gres_gpus(text: str | None) -> tuple[int, str | None] | None:
    """GPUs per node in a job's `tres_per_node` ("gres/gpu:8", "gres:gpu:a100:8"), if any."""
    if not text or text.strip() in NULL:
        return None
    for item in _split_outside_parentheses(text):
        body = re.sub(r"^gres[/:]", "", item)
        if body == item and not item.startswith("gpu"):
            continue
        for gres in parse_gres(body):
            if gres.name == "gpu":
                return gres.count, gres.type
    return None


def memory_mib(text: str, default_unit: str = "M") -> float:
    """A Slurm memory size in MiB: '256G' -> 262144, '210304M' -> 210304, '500' -> 500."""
    match = _MEMORY.match(text.strip())
    if match is None:
        raise SlurmFormatError(f"expected a memory size such as 256G or 210304M, got {text!r}")
    unit = (match[2] or default_unit).upper()
    return float(match[1]) * MIB_PER_UNIT[unit]
